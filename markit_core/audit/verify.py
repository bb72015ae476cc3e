"""``ledger verify-bundle``: check an export's audit bundle with nothing but the public key.

The checks chain from the signature down to each CSV cell:

1. the head is signed by the given public key (key id, then signature);
2. every ledger entry in the bundle hashes to its stored hash, and its inclusion
   proof leads from its RFC 6962 leaf to the signed root;
3. the manifest hashes to the ``content_sha256`` of the export record, whose
   digest is in the export's (proven) ledger entry;
4. every file has the SHA-256 the manifest lists, and no file is unlisted;
5. every record hashes to the digest its (proven) entry logged;
6. every row of ``annotations.csv`` and ``regions.csv`` equals the ledgered
   record it names, and no ledgered reading or region is missing from them.

Every problem found is reported, each naming the thing that is wrong.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markit_core import ledger
from markit_core.audit.bundle import LEDGER_DIR, file_sha256, manifest_digest
from markit_core.audit.heads import HeadError, SignedHead, check_head
from markit_core.audit.keys import load_public_key
from markit_core.audit.merkle import ProofError, verify_inclusion
from markit_core.export.tables import bool_cell, points_cell

__all__ = ["BundleReport", "verify_bundle"]

_OWN = {"manifest.json", "public_key.pem"}


@dataclass
class BundleReport:
    problems: list[str] = field(default_factory=list)
    files: int = 0
    entries: int = 0
    records: int = 0
    rows: int = 0
    head: SignedHead | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _jsonl(path: Path, report: BundleReport) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                try:
                    yield n, json.loads(line)
                except ValueError:
                    report.problems.append(f"{path.name} line {n}: not JSON")
    except OSError as e:
        report.problems.append(f"{path.name}: cannot be read ({e.strerror})")


def verify_bundle(folder: Path, public_key_pem: str | bytes) -> BundleReport:
    """Verify the bundle in ``folder`` against the signer's public key (no database needed)."""
    folder = Path(folder)
    report = BundleReport()
    public = load_public_key(public_key_pem)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        head_data = json.loads((folder / LEDGER_DIR / "head.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        report.problems.append(f"bundle: manifest.json or ledger/head.json unreadable ({e})")
        return report
    try:
        head = report.head = SignedHead.from_dict(head_data, "head")
        check_head(head, public, "head")
    except HeadError as e:
        report.problems.append(str(e))
        return report
    entries = _check_entries(folder, head, report)
    _check_manifest(manifest, entries, report)
    _check_files(folder, manifest, report)
    records = _check_records(folder, entries, report)
    if (folder / "annotations.csv").exists():
        _check_readings(folder / "annotations.csv", records, report)
    if (folder / "regions.csv").exists():
        _check_regions(folder / "regions.csv", records, report)
    return report


def _check_entries(folder: Path, head: SignedHead, report: BundleReport) -> dict[int, dict]:
    """Entries whose hash holds and whose inclusion proof leads to the signed root."""
    proofs = {p.get("seq"): p for _, p in _jsonl(folder / LEDGER_DIR / "proofs.jsonl", report)}
    root = bytes.fromhex(head.root_hash)
    good: dict[int, dict] = {}
    for _, e in _jsonl(folder / LEDGER_DIR / "entries.jsonl", report):
        report.entries += 1
        seq = int(e.get("seq") or 0)
        try:
            content = ledger.entry_bytes(e)
        except (KeyError, TypeError):
            report.problems.append(f"ledger entry {seq}: malformed")
            continue
        if ledger.entry_hash(e) != e.get("entry_hash"):
            report.problems.append(
                f"ledger entry {seq}: altered (its hash does not match its content)"
            )
            continue
        proof = proofs.get(seq)
        if proof is None:
            report.problems.append(f"ledger entry {seq}: no inclusion proof in the bundle")
            continue
        try:
            path = [bytes.fromhex(h) for h in proof["path"]]
            if int(proof["tree_size"]) != head.tree_size:
                raise ProofError(
                    f"proof is for size {proof['tree_size']}, head is {head.tree_size}"
                )
            from markit_core.audit.merkle import leaf_hash

            verify_inclusion(seq - 1, head.tree_size, leaf_hash(content), path, root)
        except (ProofError, KeyError, TypeError, ValueError) as e2:
            report.problems.append(
                f"ledger entry {seq}: inclusion proof does not lead to the signed root ({e2})"
            )
            continue
        good[seq] = e
    return good


def _check_manifest(manifest: dict, entries: dict[int, dict], report: BundleReport) -> None:
    record = manifest.get("export_record") or {}
    core = {k: manifest.get(k) for k in ("format", "project", "actor", "parameters", "files")}
    if manifest_digest(core) != record.get("content_sha256"):
        report.problems.append(
            "manifest: its content does not match the export record the ledger logged"
        )
    entry = entries.get(int(manifest.get("export_entry") or -1))
    if entry is None:
        report.problems.append(
            f"manifest: the export's ledger entry {manifest.get('export_entry')} is not proven"
        )
    elif ledger.digest_row("export_record", record) != entry["record_digest"] or (
        entry["record_type"] != "export_record" or entry["record_id"] != str(record.get("id"))
    ):
        report.problems.append(
            f"manifest: its export record does not match ledger entry {entry['seq']}"
        )


def _check_files(folder: Path, manifest: dict, report: BundleReport) -> None:
    listed = {f.get("path"): f for f in manifest.get("files") or []}
    for rel, info in listed.items():
        path = folder / str(rel)
        if not path.is_file():
            report.problems.append(f"{rel}: listed in the manifest but missing")
            continue
        report.files += 1
        if file_sha256(path) != info.get("sha256"):
            report.problems.append(f"{rel}: SHA-256 does not match the manifest (file changed)")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if (
            path.is_file()
            and rel not in listed
            and rel not in _OWN
            and not rel.startswith(LEDGER_DIR + "/")
        ):
            report.problems.append(f"{rel}: not listed in the manifest")


def _check_records(folder: Path, entries: dict[int, dict], report: BundleReport) -> dict:
    """(record type, id) -> record, for records matching their proven entry's digest."""
    records: dict[tuple[str, int], dict] = {}
    for _, r in _jsonl(folder / LEDGER_DIR / "records.jsonl", report):
        report.records += 1
        rtype, rid, seq = r.get("record_type"), r.get("record_id"), int(r.get("seq") or 0)
        entry = entries.get(seq)
        what = f"record {rtype} {rid}"
        if entry is None:
            report.problems.append(f"{what}: its ledger entry {seq} is not proven")
            continue
        kids = r.get("children") or None
        try:
            digest = ledger.digest_row(str(rtype), r.get("row") or {}, kids)
        except (TypeError, AttributeError):
            digest = ""
        if (
            entry["record_type"] != rtype
            or entry["record_id"] != str(rid)
            or (digest != entry["record_digest"])
        ):
            report.problems.append(f"{what}: does not match the digest in ledger entry {seq}")
            continue
        records[(str(rtype), int(rid or 0))] = r
    return records


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as f:
        yield from enumerate(csv.DictReader(f), start=2)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _expected_reading(record: dict, label_id: int) -> dict[str, str] | None:
    row = record["row"]
    value = next(
        (v for v in record["children"].get("annotation_value", []) if v["label_id"] == label_id),
        None,
    )
    if value is None:
        return None
    return {
        "case_id": _cell(row["case_id"]),
        "version": _cell(row["version"]),
        "answer": bool_cell(value["value"]),
        "confidence": _cell(value["confidence"]),
        "label_seconds": _cell(value["seconds"]),
        "case_seconds": _cell(row["total_seconds"]),
        "active_seconds": _cell(row["active_seconds"]),
        "idle_seconds": _cell(row["idle_seconds"]),
        "submitted_at": _cell(row["submitted_at"]),
    }


def _check_readings(path: Path, records: dict, report: BundleReport) -> None:
    seen: set[tuple[int, int]] = set()
    name = path.name
    for n, row in _rows(path):
        report.rows += 1
        try:
            aid, lid = int(row["annotation_id"]), int(row["label_id"])
        except (KeyError, TypeError, ValueError):
            report.problems.append(f"{name} row {n}: no valid annotation_id / label_id")
            continue
        record = records.get(("annotation", aid))
        expected = _expected_reading(record, lid) if record else None
        if expected is None:
            report.problems.append(
                f"{name} row {n}: annotation {aid} label {lid} is not a ledgered reading "
                "in the bundle"
            )
            continue
        seen.add((aid, lid))
        for column, want in expected.items():
            if row.get(column) != want:
                report.problems.append(
                    f"{name} row {n} column {column!r}: {row.get(column)!r}, "
                    f"the ledgered annotation {aid} says {want!r}"
                )
    for (rtype, aid), record in sorted(records.items()):
        if rtype != "annotation":
            continue
        for v in record["children"].get("annotation_value", []):
            if v["value"] is not None and (aid, v["label_id"]) not in seen:
                report.problems.append(
                    f"{name}: the reading of annotation {aid}, label {v['label_id']} is missing"
                )


def _check_regions(path: Path, records: dict, report: BundleReport) -> None:
    rois = {
        roi["id"]: (aid, roi)
        for (rtype, aid), record in records.items()
        if rtype == "annotation"
        for roi in record["children"].get("roi", [])
    }
    seen: set[int] = set()
    for n, row in _rows(path):
        report.rows += 1
        try:
            rid = int(row["region_id"])
        except (KeyError, TypeError, ValueError):
            report.problems.append(f"{path.name} row {n}: no valid region_id")
            continue
        if rid not in rois:
            report.problems.append(
                f"{path.name} row {n}: region {rid} is not a ledgered region in the bundle"
            )
            continue
        seen.add(rid)
        aid, roi = rois[rid]
        expected = {
            "annotation_id": str(aid),
            "label_id": str(roi["label_id"]),
            "shape": roi["shape"],
            "frame": str(roi["frame"]),
            "points": points_cell(roi["points"]),
        }
        for column, want in expected.items():
            if row.get(column) != want:
                report.problems.append(
                    f"{path.name} row {n} column {column!r}: {row.get(column)!r}, "
                    f"the ledgered region {rid} says {want!r}"
                )
    for rid in sorted(set(rois) - seen):
        report.problems.append(f"{path.name}: region {rid} is missing")
