"""Exports parsed back equal the database; the audit bundle verifies, and each tampering fails."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from sqlmodel import select

from markit_core.audit.keys import create_signing_key, public_key_pem
from markit_core.audit.verify import verify_bundle
from markit_core.errors import NotFoundError, PermissionDenied
from markit_core.export.bundle_export import export_bundle
from markit_core.export.tables import READING_COLUMNS, REGION_COLUMNS
from markit_core.models import Annotation, AnnotationValue, LabelDef, LedgerEntry, Roi, User
from tests.export.helpers import PASSPHRASE, export_project


@pytest.fixture
def project(session, settings, make_user, make_project, admin):
    return export_project(session, settings, make_user, make_project, admin)


@pytest.fixture
def bundle(session, project, tmp_path):
    out = tmp_path / "bundle"
    calls = []
    result = export_bundle(
        session,
        project.manager,
        project.project_id,
        out,
        passphrase=PASSPHRASE,
        formats=["csv", "coco", "consensus"],
        progress=lambda *a: calls.append(a),
    )
    assert calls and calls[-1][0] == calls[-1][1]
    return result


def _current(session, project_id):
    """(annotation id, label id) -> (value row, annotation row, username) of current readings."""
    latest: dict[tuple[int, int], Annotation] = {}
    for a in session.exec(select(Annotation).where(Annotation.project_id == project_id)):
        key = (a.case_id, a.annotator_id)
        if key not in latest or a.version > latest[key].version:
            latest[key] = a
    out = {}
    for a in latest.values():
        if a.deleted:
            continue
        user = session.get(User, a.annotator_id)
        for v in session.exec(select(AnnotationValue).where(AnnotationValue.annotation_id == a.id)):
            if v.value is not None:
                out[(a.id, v.label_id)] = (v, a, user.username)
    return out


def _rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_readings_csv_round_trips_to_the_database(session, project, bundle):
    rows = _rows(bundle.directory / "annotations.csv")
    assert tuple(rows[0]) == READING_COLUMNS
    current = _current(session, project.project_id)
    assert len(rows) == len(current) == 3 * 4 * 2
    for row in rows:
        v, a, username = current[(int(row["annotation_id"]), int(row["label_id"]))]
        label = session.get(LabelDef, v.label_id)
        assert row["case_id"] == str(a.case_id) and row["reader"] == username
        assert row["label"] == label.name and row["version"] == str(a.version)
        assert row["answer"] == ("true" if v.value else "false")
        assert int(row["confidence"]) == v.confidence
        assert (float(row["label_seconds"]) if row["label_seconds"] else None) == v.seconds
        assert float(row["case_seconds"]) == a.total_seconds
        assert float(row["active_seconds"]) == a.active_seconds
        assert float(row["idle_seconds"]) == a.idle_seconds
        assert row["submitted_at"] == a.submitted_at.isoformat()
        assert row["source"] == "human" and row["ai_suggestion_visible"] == "false"
    edited = [
        r for r in rows if r["reader"] == "ann_b" and r["case_id"] == str(project.example.cases[2])
    ]
    assert {r["version"] for r in edited} == {"2"}
    first_case = [r for r in rows if r["case_id"] == str(project.example.cases[0])]
    assert {r["case_name"] for r in first_case} == {"'=HYPERLINK(1).png"}  # neutralised


def test_regions_csv_round_trips(session, project, bundle):
    rows = _rows(bundle.directory / "regions.csv")
    assert tuple(rows[0]) == REGION_COLUMNS
    rois = {r.id: r for r in session.exec(select(Roi))}
    assert {int(r["region_id"]) for r in rows} == set(rois)
    for row in rows:
        roi = rois[int(row["region_id"])]
        assert row["shape"] == roi.shape and int(row["label_id"]) == roi.label_id
        assert json.loads(row["points"]) == roi.points
        assert int(row["annotation_id"]) == roi.annotation_id


def test_coco_round_trips_with_pycocotools(session, project, bundle):
    from pycocotools.coco import COCO

    coco = COCO(str(bundle.directory / "coco.json"))
    labels = session.exec(
        select(LabelDef)
        .where(LabelDef.project_id == project.project_id)
        .order_by(LabelDef.order, LabelDef.name, LabelDef.id)
    ).all()
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [lb.name for lb in labels]
    assert coco.getCatIds() == list(range(1, len(labels) + 1))
    assert sorted(coco.getImgIds()) == sorted(project.example.cases)
    img = coco.loadImgs(project.example.cases[1])[0]
    assert (img["width"], img["height"], img["file_name"]) == (120, 100, "img_1.png")
    rois = {r.id: r for r in session.exec(select(Roi))}
    anns = coco.loadAnns(coco.getAnnIds())
    assert {a["id"] for a in anns} == set(rois)
    cat_of = {lb.id: n for n, lb in enumerate(labels, start=1)}
    for a in anns:
        roi = rois[a["id"]]
        assert a["category_id"] == cat_of[roi.label_id] and a["iscrowd"] == 0
        owner = session.get(Annotation, roi.annotation_id)
        assert a["image_id"] == owner.case_id
        if roi.shape == "rect":
            (x0, y0), (x1, y1) = roi.points
            assert a["bbox"] == [x0, y0, x1 - x0, y1 - y0] and a["area"] == (x1 - x0) * (y1 - y0)
            assert a["segmentation"] == [[x0, y0, x1, y0, x1, y1, x0, y1]]
        else:
            assert a["segmentation"] == [[c for p in roi.points for c in p]]
            xs = [p[0] for p in roi.points]
            assert a["bbox"][0] == min(xs) and a["bbox"][2] == max(xs) - min(xs)
    triangle = next(a for a in anns if rois[a["id"]].shape == "polygon")
    assert triangle["area"] == pytest.approx(
        abs(5 * 8 - 40 * 5 + 40 * 30.75 - 22.5 * 8 + 22.5 * 5 - 5 * 30.75) / 2
    )
    assert coco.annToMask(triangle).sum() > 0
    assert not (bundle.directory / "coco_ai_results.json").exists()


def test_consensus_csv(session, project, bundle):
    from markit_core.review.answers import load_answers

    rows = _rows(bundle.directory / "consensus.csv")
    answers = load_answers(session, project.project_id)
    cons = answers.consensus("majority")
    assert len(rows) == len(answers.labels) * len(answers.case_ids)
    for row in rows:
        k = answers.labels.index(row["label"])
        j = list(answers.case_ids).index(int(row["case_id"]))
        assert row["answer"] == ("true" if cons[k, j] == 1 else "false")
        votes = answers.values[k, :, j]
        assert int(row["readers"]) == (votes != -1).sum() == 3
        if answers.adjudicated[k, j] != -1:
            assert row["method"] == "adjudicated" and float(row["posterior_present"]) == 1.0
        else:
            assert row["method"] == "majority"
            assert float(row["posterior_present"]) == pytest.approx((votes == 1).sum() / 3)
        agree = (votes == cons[k, j]).sum() / 3
        assert float(row["agreement"]) == pytest.approx(agree)
    adjudicated = [r for r in rows if r["method"] == "adjudicated"]
    assert len(adjudicated) == 1 and adjudicated[0]["answer"] == "true"


def test_export_is_permission_checked_and_logged(session, project, bundle, tmp_path):
    entry = session.exec(select(LedgerEntry).where(LedgerEntry.seq == bundle.export_seq)).one()
    assert entry.action == "export.bundle" and entry.actor == "mgr"
    annotator = project.example.annotators["ann_a"]
    with pytest.raises(PermissionDenied):
        export_bundle(session, annotator, project.project_id, tmp_path / "x", passphrase=PASSPHRASE)
    with pytest.raises(PermissionDenied, match="passphrase"):
        export_bundle(
            session, project.manager, project.project_id, tmp_path / "y", passphrase="wrong one!"
        )
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    assert not (tmp_path / "y.partial").exists()


def test_only_the_owner_creates_the_key(session, project):
    with pytest.raises(PermissionDenied):
        create_signing_key(
            session, project.manager, project.project_id, "manager passphrase", replace=True
        )


# --- verify-bundle -----------------------------------------------------------------------


def _verify(session, project, folder, pem=None):
    pem = pem or public_key_pem(session, project.example.owner, project.project_id)
    return verify_bundle(folder, pem)


def test_clean_bundle_passes(session, project, bundle):
    report = _verify(session, project, bundle.directory)
    assert report.ok, report.problems
    assert report.entries == bundle.entries >= 12 + 1 and report.rows > 24
    assert report.head.tree_size >= bundle.export_seq


def _rewrite_csv(path, change):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    rows = change(rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def _edit_jsonl(path, n, change):
    lines = path.read_text(encoding="utf-8").splitlines()
    item = json.loads(lines[n])
    change(item)
    lines[n] = json.dumps(item)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cell(rows):
    col = rows[0].index("answer")
    rows[3][col] = "false" if rows[3][col] == "true" else "true"
    return rows


def _added(rows):
    extra = list(rows[1])
    extra[rows[0].index("annotation_id")] = "99999"
    return [*rows, extra]


def _swap_proofs(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    a, b = json.loads(lines[0]), json.loads(lines[1])
    a["path"], b["path"] = b["path"], a["path"]
    lines[0], lines[1] = json.dumps(a), json.dumps(b)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _edit_manifest(path):
    m = json.loads(path.read_text())
    m["actor"]["username"] = "someone else"
    path.write_text(json.dumps(m))


def _edit_signature(path):
    h = json.loads(path.read_text())
    sig = bytearray(__import__("base64").b64decode(h["signature"]))
    sig[5] ^= 1
    h["signature"] = __import__("base64").b64encode(bytes(sig)).decode()
    path.write_text(json.dumps(h))


TAMPERINGS = {
    "csv cell": (lambda d: _rewrite_csv(d / "annotations.csv", _cell), "column 'answer'"),
    "deleted row": (
        lambda d: _rewrite_csv(d / "annotations.csv", lambda r: r[:5] + r[6:]),
        "is missing",
    ),
    "added row": (lambda d: _rewrite_csv(d / "annotations.csv", _added), "annotation 99999"),
    "edited ledger entry": (
        lambda d: _edit_jsonl(
            d / "ledger" / "entries.jsonl", 2, lambda e: e.update(actor="mallory")
        ),
        "altered",
    ),
    "recomputed ledger entry": (
        lambda d: _edit_jsonl(
            d / "ledger" / "entries.jsonl",
            2,
            lambda e: e.update(
                actor="mallory",
                entry_hash=__import__("markit_core.ledger", fromlist=["x"]).entry_hash(
                    {**e, "actor": "mallory"}
                ),
            ),
        ),
        "inclusion proof",
    ),
    "swapped proof": (lambda d: _swap_proofs(d / "ledger" / "proofs.jsonl"), "inclusion proof"),
    "manifest": (lambda d: _edit_manifest(d / "manifest.json"), "manifest"),
    "signature": (lambda d: _edit_signature(d / "ledger" / "head.json"), "signature"),
    "region points": (
        lambda d: _rewrite_csv(
            d / "regions.csv",
            lambda r: [r[0], [*r[1][:6], "[[1.0,2.0],[3.0,4.0]]", *r[1][7:]], *r[2:]],
        ),
        "column 'points'",
    ),
    "ledgered record": (
        lambda d: _edit_jsonl(
            d / "ledger" / "records.jsonl", 0, lambda r: r["row"].update(version=7)
        ),
        "does not match the digest",
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_each_tampering_fails_naming_the_thing(session, project, bundle, tmp_path, name):
    tamper, expected = TAMPERINGS[name]
    copy = tmp_path / f"tampered-{name.replace(' ', '-')}"
    shutil.copytree(bundle.directory, copy)
    tamper(copy)
    report = _verify(session, project, copy)
    assert not report.ok
    assert any(expected in p for p in report.problems), report.problems
    if name in ("csv cell", "deleted row", "added row"):
        assert (
            "annotations.csv: SHA-256 does not match the manifest (file changed)" in report.problems
        )


def test_head_from_a_different_key_fails(
    session, project, bundle, make_user, make_project, tmp_path
):
    other_owner = make_user("other_pi")
    other = make_project("Other project", other_owner)
    create_signing_key(session, other_owner, other.id, "another passphrase")
    report = verify_bundle(bundle.directory, public_key_pem(session, other_owner, other.id))
    assert not report.ok and "signed by a different key" in report.problems[0]


def test_project_without_key_cannot_export(session, make_user, make_project, tmp_path):
    owner = make_user("lonely")
    info = make_project("Keyless", owner)
    with pytest.raises(NotFoundError, match="no signing key"):
        export_bundle(session, owner, info.id, tmp_path / "b", passphrase=PASSPHRASE)
