"""Images left in a real Orthanc: reference, view, annotate, export; then the archive goes down.

The module gets its own Orthanc (the ``orthanc`` fixture is module-scoped), so the
last test may stop it. Between the steps the local archive cache and the decoded-image
cache are emptied, so every step fetches from the archive again (WADO-RS).
"""

from __future__ import annotations

import csv
import io
import json
import time

import numpy as np
import pydicom
import pytest
import requests
from sqlmodel import select

from markit_core import ledger
from markit_core.accounts import get_user
from markit_core.annotation.drafts import Draft, DraftAnswer, load_draft, save_draft
from markit_core.annotation.navigation import upcoming
from markit_core.annotation.queue import build_queue
from markit_core.annotation.submit import Answer, RegionInput, submit
from markit_core.annotation.timing import Timing
from markit_core.audit.keys import create_signing_key
from markit_core.errors import ConflictError, ImageError, SourceError
from markit_core.export.bundle_export import export_bundle
from markit_core.export.csv_export import export_annotations_csv
from markit_core.imaging.archive_cache import ArchiveCache
from markit_core.imaging.archive_images import case_image_bytes
from markit_core.imaging.archive_prefetch import prefetch_archive_images
from markit_core.imaging.cache import default_cache
from markit_core.imaging.decode import decode_any
from markit_core.imaging.reference import reference_studies
from markit_core.imaging.remote_archives import remove_archive
from markit_core.imaging.remote_import import import_studies
from markit_core.imaging.stored import decoded_case_image
from markit_core.inference.base import InputSpec, Normalisation
from markit_core.inference.preprocess import preprocess, preprocess_case
from markit_core.labels import add_labels, list_labels
from markit_core.models import Case, CaseArchiveRef, ExportRecord, LedgerEntry, UidMap
from markit_core.review.views import case_picture
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD as USER_PASSWORD
from tests.integration.test_orthanc import (  # noqa: F401 - orthanc is a fixture
    PASSWORD,
    USER,
    Orthanc,
    _register,
    orthanc,
)

pytestmark = pytest.mark.integration

SPEC = InputSpec(size=(64, 64), channels=1, normalisation=Normalisation.UNIT)


def _study(data: bytes) -> str:
    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).StudyInstanceUID)


def _root(session):
    return get_user(session, "root")


def _empty_caches(settings) -> None:
    """Forget every fetched image: the next read must go to the archive."""
    ArchiveCache.from_settings(settings).clear()
    default_cache().clear()


def _reference_all(session, settings, imaging, server: Orthanc) -> tuple[int, dict[str, Case]]:
    archive = _register(
        session,
        name="Hospital PACS",
        kind="dicomweb",
        url=server.url,
        auth="basic",
        username=USER,
        secret=PASSWORD,
    )
    uids = sorted({_study(d) for d in server.originals.values()})
    report = reference_studies(
        session, settings, imaging.dataowner, imaging.project_id, archive, uids
    )
    assert not report.failed_studies and not report.files.refused, report.files.outcomes
    assert len(report.files.ingested) == len(server.originals), report.summary()
    assert "referenced" in report.summary()
    refs = session.exec(select(CaseArchiveRef)).all()
    by_original = {r.sop_uid: session.get(Case, r.case_id) for r in refs}
    assert set(by_original) == set(server.originals)
    return archive, by_original


def _labels(session, imaging) -> dict[str, int]:
    add_labels(session, imaging.owner, imaging.project_id, [("nodule", "Lung")])
    add_labels(session, imaging.owner, imaging.project_id, [("outline", "ROI")], kind="roi")
    return {lb.name: lb.id for lb in list_labels(session, imaging.owner, imaging.project_id)}


def _annotate_page(settings, monkeypatch, *, server_viewer: bool = True):
    """The annotate page as the project's annotator (``server_viewer``: the sliders viewer)."""
    point_app_at(settings, monkeypatch)
    at = open_page(log_in(fresh_app(60), "annotator", USER_PASSWORD), "annotate")
    assert not at.exception, at.exception
    if server_viewer:
        at.sidebar.toggle(key="view_client").set_value(False).run()
        assert not at.exception, at.exception
    return at


def _shown_case(at) -> int:
    text = at.progress[0].proto.text
    return int(text.split("(#", 1)[1].split(",", 1)[0])


def _wait_cached(settings, paths: list[str], seconds: float = 60) -> bool:
    cache = ArchiveCache.from_settings(settings)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(p in cache for p in paths):
            return True
        time.sleep(0.2)
    return False


def _check_annotate_page(session, settings, imaging, cases, monkeypatch) -> None:
    """The page shows a referenced case and prefetches the reader's next ones."""
    _empty_caches(settings)
    at = _annotate_page(settings, monkeypatch)
    assert not at.error, [e.value for e in at.error]
    shown = session.get(Case, _shown_case(at))
    caption = next(c.value for c in at.caption if c.value.startswith("Window"))
    assert caption.endswith(f"{shown.cols}×{shown.rows} px")
    queue = build_queue(session, imaging.annotator, imaging.project_id)
    ahead = upcoming(queue, shown.id, settings.archive_prefetch_cases)
    assert ahead and shown.id not in ahead
    paths = [session.get(Case, cid).stored_path for cid in ahead]
    assert _wait_cached(settings, paths), "the next cases were not prefetched"


def _check_views(settings, cases: dict[str, Case], server: Orthanc) -> None:
    """Each referenced case shows exactly the archive's pixels, de-identified on the way."""
    for original_sop, case in cases.items():
        expected = decode_any(server.originals[original_sop], "original").frames
        got = decoded_case_image(settings, case.stored_path).frames
        assert got.shape == expected.shape and np.array_equal(got, expected), original_sop
        data = case_image_bytes(settings, case.stored_path)
        assert original_sop.encode() not in data and b"Quixote" not in data
        fetched = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        assert str(fetched.SOPInstanceUID) == case.sop_uid != original_sop
        assert str(fetched.StudyInstanceUID) == case.study_uid


def test_reference_view_annotate_export(
    session,
    settings,
    imaging,
    orthanc: Orthanc,  # noqa: F811 - the fixture
    tmp_path,
    monkeypatch,
):
    archive, cases = _reference_all(session, settings, imaging, orthanc)
    store = settings.store_dir
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))  # nothing copied
    actions = [e.action for e in session.exec(select(LedgerEntry)).all()]
    assert actions.count("case.reference") == actions.count("case.archive_ref") == len(cases)
    assert ledger.verify(session, _root(session)).ok

    _empty_caches(settings)
    _check_views(settings, cases, orthanc)  # fetched, de-identified, validated, cached
    assert ArchiveCache.from_settings(settings).usage().files == len(cases)

    # an import of the same studies into the project finds them already there: the import
    # path makes the same pixels (duplicate key) out of the same instances
    uids = sorted({_study(d) for d in orthanc.originals.values()})
    again = import_studies(session, settings, imaging.dataowner, imaging.project_id, archive, uids)
    assert len(again.files.duplicates) == len(cases) and not again.files.ingested
    assert {o.case_id for o in again.files.duplicates} == {c.id for c in cases.values()}
    pairs = {
        (m.original, m.pseudonym)
        for m in session.exec(select(UidMap).where(UidMap.kind == "uid")).all()
    }
    assert {(sop, c.sop_uid) for sop, c in cases.items()} <= pairs

    _check_annotate_page(session, settings, imaging, cases, monkeypatch)
    mr = next(c for sop, c in cases.items() if c.modality == "MR")
    labels = _labels(session, imaging)
    _empty_caches(settings)
    thread = prefetch_archive_images(session, settings, imaging.project_id, [mr.id])
    assert thread is not None
    thread.join(timeout=60)
    assert not thread.is_alive() and mr.stored_path in ArchiveCache.from_settings(settings)
    submit(
        session,
        imaging.annotator,
        imaging.project_id,
        mr.id,
        answers={labels["nodule"]: Answer(True, 80)},
        regions=(RegionInput(labels["outline"], "rect", [(2, 3), (20, 30)]),),
        timing=Timing(3.0, 3.0, 0.0, {}),
        token="ref-1",
    )

    _empty_caches(settings)  # review and AI read the pixels through the same loader
    picture = case_picture(session, settings, imaging.owner, imaging.project_id, mr.id, size=64)
    assert picture is not None
    expected = preprocess(decode_any(_original_of(orthanc, cases, mr), "original"), SPEC)
    _empty_caches(settings)
    assert np.array_equal(preprocess_case(settings, mr.stored_path, SPEC), expected)

    _empty_caches(settings)
    _check_exports(session, settings, imaging, mr, labels, tmp_path)
    assert ledger.verify(session, _root(session)).ok
    with pytest.raises(ConflictError, match="referenced case"):
        remove_archive(session, _root(session), archive)
    _check_changed_archive_copy_is_refused(session, settings, cases, orthanc)


def _check_changed_archive_copy_is_refused(session, settings, cases, server: Orthanc) -> None:
    """The archive replaces an instance by one with other pixels: the view refuses it."""
    sop, case = next((sop, c) for sop, c in cases.items() if b"Quixote" in server.originals[sop])
    ds = pydicom.dcmread(io.BytesIO(server.originals[sop]))
    pixels = ds.pixel_array.copy()
    pixels[0, 0] = pixels[0, 0] + 1 if pixels[0, 0] < pixels.max() else pixels[0, 0] - 1
    ds.PixelData = pixels.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    base = f"http://127.0.0.1:{server.http_port}"
    found = requests.post(f"{base}/tools/lookup", data=sop, auth=(USER, PASSWORD), timeout=10)
    (instance,) = [r["ID"] for r in found.json() if r["Type"] == "Instance"]
    assert requests.delete(f"{base}/instances/{instance}", auth=(USER, PASSWORD), timeout=10).ok
    stored = requests.post(
        f"{base}/instances", data=buf.getvalue(), auth=(USER, PASSWORD), timeout=10
    )
    assert stored.ok and stored.json()["Status"] == "Success", stored.text
    server.originals[sop] = buf.getvalue()  # later tests reference the new copy
    _empty_caches(settings)
    with pytest.raises(ImageError, match="now returns other pixels"):
        decoded_case_image(settings, case.stored_path)
    assert case.stored_path not in ArchiveCache.from_settings(settings)


def _original_of(server: Orthanc, cases: dict[str, Case], case: Case) -> bytes:
    return server.originals[next(sop for sop, c in cases.items() if c.id == case.id)]


def _check_exports(session, settings, imaging, mr: Case, labels, tmp_path) -> None:
    rows = list(
        csv.DictReader(
            io.StringIO(export_annotations_csv(session, imaging.owner, imaging.project_id))
        )
    )
    assert [r["case_id"] for r in rows if r.get("case_id")] and str(mr.id) in {
        r["case_id"] for r in rows
    }
    create_signing_key(session, imaging.owner, imaging.project_id, "archive passphrase")
    result = export_bundle(
        session,
        imaging.owner,
        imaging.project_id,
        tmp_path / "bundle",
        passphrase="archive passphrase",
        formats=["csv", "coco", "sr"],
        settings=settings,
    )
    coco = json.loads((result.directory / "coco.json").read_text())
    image = next(i for i in coco["images"] if i["id"] == mr.id)
    assert (image["width"], image["height"]) == (mr.cols, mr.rows)
    decoded = decoded_case_image(settings, mr.stored_path)
    assert (decoded.cols, decoded.rows) == (mr.cols, mr.rows)
    sr = pydicom.dcmread(result.directory / "sr" / f"case_{mr.id}.dcm")
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert str(evidence.StudyInstanceUID) == mr.study_uid
    referenced = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert str(referenced.ReferencedSOPInstanceUID) == mr.sop_uid
    ref = session.exec(select(CaseArchiveRef).where(CaseArchiveRef.case_id == mr.id)).one()
    sr_bytes = (result.directory / "sr" / f"case_{mr.id}.dcm").read_bytes()
    assert ref.sop_uid.encode() not in sr_bytes and ref.study_uid.encode() not in sr_bytes


def test_upload_page_references_instead_of_importing(
    session,
    settings,
    imaging,
    orthanc: Orthanc,  # noqa: F811 - the fixture
    monkeypatch,
):
    """The data owner's DICOMweb tab with "Leave the images in the archive" on (AppTest)."""
    point_app_at(settings, monkeypatch)
    _register(
        session,
        name="Hospital PACS",
        kind="dicomweb",
        url=orthanc.url,
        auth="basic",
        username=USER,
        secret=PASSWORD,
    )
    at = open_page(log_in(fresh_app(120), "dataowner", USER_PASSWORD), "upload")
    at.text_input(key="dw_modality").input("CT")
    at.button(key="dw_search").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    at.session_state["dw_results"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.toggle(key="dw_reference").set_value(True).run()
    assert at.button(key="dw_import").label == "Reference 1 selected studies"
    at.button(key="dw_import").click().run()
    assert not at.exception, at.exception
    assert "1 referenced" in at.success[0].value
    (case,) = session.exec(select(Case).where(Case.project_id == imaging.project_id)).all()
    assert case.modality == "CT" and case.stored_path.startswith("archive/")
    ref = session.exec(select(CaseArchiveRef)).one()
    assert ref.case_id == case.id and ref.sop_uid in orthanc.originals
    assert not settings.store_dir.exists() or not any(settings.store_dir.rglob("*.dcm"))


def test_archive_down_gives_a_clear_message_and_keeps_annotations(
    session,
    settings,
    imaging,
    orthanc: Orthanc,  # noqa: F811 - the fixture
    monkeypatch,
    tmp_path,
):
    """Runs last in the module: it stops this module's Orthanc."""
    _archive, cases = _reference_all(session, settings, imaging, orthanc)
    mr = next(c for c in cases.values() if c.modality == "MR")
    ct = next(c for c in cases.values() if c.modality == "CT")
    labels = _labels(session, imaging)
    first = submit(
        session,
        imaging.annotator,
        imaging.project_id,
        mr.id,
        answers={labels["nodule"]: Answer(True, 60)},
        timing=Timing(2.0, 2.0, 0.0, {}),
        token="down-1",
    )
    draft = Draft(imaging.annotator.id, imaging.project_id, ct.id)
    draft.answers = {labels["nodule"]: DraftAnswer(False, 40)}
    save_draft(session, imaging.annotator, imaging.project_id, ct.id, draft)

    assert orthanc.proc is not None
    orthanc.proc.terminate()
    orthanc.proc.wait(timeout=15)
    _empty_caches(settings)
    ref = session.exec(select(CaseArchiveRef).where(CaseArchiveRef.case_id == ct.id)).one()
    with pytest.raises(SourceError) as caught:
        decoded_case_image(settings, ct.stored_path)
    message = str(caught.value)
    assert f"case {ct.id}" in message and "Hospital PACS" in message
    assert "cannot connect" in message and "Readings and drafts are not affected" in message
    for uid in (ref.study_uid, ref.series_uid, ref.sop_uid):  # readers never see originals
        assert uid not in message
    thread = prefetch_archive_images(session, settings, imaging.project_id, [ct.id, mr.id])
    assert thread is not None
    thread.join(timeout=30)
    assert not thread.is_alive()  # stopped at the first failure, bounded in time
    # the page says what is wrong (and keeps the navigation), nothing else breaks
    at = _annotate_page(settings, monkeypatch, server_viewer=False)
    assert any("cannot show case" in e.value and "Hospital PACS" in e.value for e in at.error)
    # ... and the labels stay: the reader can still answer and submit without the image
    assert at.button(key="submit_next") is not None and not at.exception

    kept = load_draft(session, imaging.annotator, imaging.project_id, ct.id)
    assert kept is not None and kept.answers[labels["nodule"]].value is False
    second = submit(  # submitting needs no pixels
        session,
        imaging.annotator,
        imaging.project_id,
        ct.id,
        answers={labels["nodule"]: Answer(False, 40)},
        timing=Timing(2.0, 2.0, 0.0, {}),
        token="down-2",
    )
    assert first.annotation_id and second.annotation_id
    csv_text = export_annotations_csv(session, imaging.owner, imaging.project_id)
    assert str(ct.id) in csv_text and str(mr.id) in csv_text
    create_signing_key(session, imaging.owner, imaging.project_id, "archive passphrase")
    with pytest.raises(SourceError, match="cannot show case"):  # the SR needs the headers
        export_bundle(
            session,
            imaging.owner,
            imaging.project_id,
            tmp_path / "sr-down",
            passphrase="archive passphrase",
            formats=["sr"],
            settings=settings,
        )
    assert (
        not (tmp_path / "sr-down").exists()
        and not session.exec(select(ExportRecord).where(ExportRecord.format == "bundle")).all()
    )
    assert ledger.verify(session, _root(session)).ok
