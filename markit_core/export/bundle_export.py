"""One export: the chosen files plus their audit bundle, permission-checked and ledgered.

:func:`export_bundle` writes into ``<out>.partial`` and renames it to ``out`` only
when everything (files, ledger entry, signed head, proofs) is done, so a failed
export leaves no half-written bundle behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.audit.bundle import (
    BUNDLE_FORMAT,
    covering_entries,
    file_sha256,
    manifest_digest,
    write_ledger_files,
)
from markit_core.audit.heads import SignedHead, sign_tree_head
from markit_core.audit.keys import active_key, unlock_private_key
from markit_core.audit.tree import ledger_tree
from markit_core.db import require_id, rolls_back
from markit_core.errors import ValidationError
from markit_core.export.coco import write_coco
from markit_core.export.consensus import write_consensus_csv
from markit_core.export.tables import (
    Progress,
    RegionsCsv,
    Written,
    _noop,
    write_readings_csv,
    write_regions_csv,
)
from markit_core.models import ExportRecord, User, utcnow

__all__ = ["FORMATS", "ExportResult", "export_bundle", "write_region_files"]

FORMATS = ("csv", "coco", "consensus", "sr")


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    files: list[dict[str, Any]]
    head: SignedHead
    export_seq: int
    entries: int


def _formats(formats: Iterable[str]) -> list[str]:
    chosen = [f.strip().lower() for f in formats if f.strip()]
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise ValidationError(
            f"unknown export format {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(FORMATS)}"
        )
    return [f for f in FORMATS if f in chosen]


def _write_files(
    session: Session,
    project_id: int,
    work: Path,
    formats: list[str],
    truth: str,
    progress: Progress,
    settings: Any,
) -> tuple[list[Written], set[int]]:
    written: list[Written] = []
    adjudications: set[int] = set()
    if "csv" in formats:
        written.append(write_readings_csv(session, project_id, work / "annotations.csv", progress))
    written.extend(write_region_files(session, project_id, work, formats, progress))
    if "consensus" in formats:
        cons, adjudications = write_consensus_csv(
            session, project_id, work / "consensus.csv", truth, progress
        )
        written.append(cons)
    if "sr" in formats:
        from markit_core.export.sr import write_srs

        written.extend(write_srs(session, settings, project_id, work / "sr", progress))
    return written, adjudications


def write_region_files(
    session: Session, project_id: int, work: Path, formats: list[str], progress: Progress
) -> list[Written]:
    """regions.csv and the COCO files; with both formats, from one pass over the regions."""
    if "coco" not in formats:
        if "csv" not in formats:
            return []
        return [write_regions_csv(session, project_id, work / "regions.csv", progress)]
    with ExitStack() as stack:
        table = None
        if "csv" in formats:
            path = work / "regions.csv"
            stream = stack.enter_context(open(path, "w", encoding="utf-8", newline=""))
            table = RegionsCsv(stream, path)
        coco, ai = write_coco(
            session,
            project_id,
            work / "coco.json",
            work / "coco_ai_results.json",
            progress,
            regions_csv=table,
        )
    return [w for w in (table.written if table else None, coco, ai) if w is not None]


@rolls_back
def export_bundle(
    session: Session,
    actor: User,
    project_id: int,
    out: Path,
    *,
    passphrase: str,
    formats: Iterable[str] = ("csv", "coco", "consensus"),
    truth: str = "majority",
    settings: Any = None,
    progress: Progress = _noop,
) -> ExportResult:
    """Export a project's data with an audit bundle into the new folder ``out``.

    Parameters
    ----------
    passphrase : str
        Unlocks the project's signing key (checked before anything is written).
    formats : iterable of str
        Any of ``csv`` (readings and regions), ``coco``, ``consensus``, ``sr``.
    truth : str
        Truth rule of the consensus export: ``majority`` or ``dawid_skene``.
    settings : Settings
        Needed for ``sr`` (the image store holding the source images).
    progress : callable(done, total, what)
        Called as the export advances.
    """
    project = require(session, actor, project_id, Action.EXPORT)
    chosen = _formats(formats)
    if "sr" in chosen and settings is None:
        raise ValidationError("the DICOM SR export needs the settings (image store)")
    key = active_key(session, project_id)
    assert key is not None
    unlock_private_key(key, passphrase)  # fail before writing anything
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValidationError(f"export folder {out} exists and is not empty")
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        written, adjudications = _write_files(
            session, project_id, work, chosen, truth, progress, settings
        )
        result = _seal(
            session, actor, project, work, written, adjudications, chosen, truth, passphrase
        )
        if out.exists():
            out.rmdir()
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ExportResult(out, result[0], result[1], result[2], result[3])


def _seal(
    session: Session,
    actor: User,
    project: Any,
    work: Path,
    written: list[Written],
    adjudications: set[int],
    formats: list[str],
    truth: str,
    passphrase: str,
) -> tuple[list[dict[str, Any]], SignedHead, int, int]:
    """Log the export, sign the head and write the ledger files and the manifest."""
    files: list[dict[str, Any]] = [
        {
            "path": w.path.relative_to(work).as_posix(),
            "sha256": file_sha256(w.path),
            "bytes": w.path.stat().st_size,
            "rows": w.rows,
        }
        for w in written
    ]
    core = {
        "format": BUNDLE_FORMAT,
        "project": {"id": project.id, "name": project.name},
        "actor": {"id": actor.id, "username": actor.username},
        "parameters": {
            "formats": formats,
            "truth": truth,
            "created_at": utcnow().isoformat(timespec="microseconds"),
        },
        "files": files,
    }
    record = ExportRecord(
        project_id=project.id,
        user_id=require_id(actor),
        format="bundle",
        rows=sum(int(f["rows"]) for f in files),
        content_sha256=manifest_digest(core),
    )
    session.add(record)
    seq = ledger.append(
        session, actor=actor, project_id=project.id, action="export.bundle", record=record
    )
    session.commit()
    annotation_ids: set[int] = set().union(*(w.annotation_ids for w in written))
    ai_label_ids: set[int] = set().union(*(w.ai_label_ids for w in written))
    covered = {
        "annotation": covering_entries(session, project.id, "annotation", annotation_ids),
        "adjudication": covering_entries(session, project.id, "adjudication", adjudications),
        "ai_label": covering_entries(session, project.id, "ai_label", ai_label_ids),
    }
    tree = ledger_tree(session)
    head = sign_tree_head(session, actor, project.id, passphrase, tree)
    entries = write_ledger_files(session, work, head, tree, covered, [seq])
    key = active_key(session, project.id)
    assert key is not None
    (work / "public_key.pem").write_text(key.public_key, encoding="utf-8")
    table = ExportRecord.__table__  # type: ignore[attr-defined]
    stored = dict(session.execute(select(table).where(table.c.id == record.id)).mappings().one())
    manifest = {**core, "export_record": stored, "export_entry": seq}
    (work / "manifest.json").write_text(ledger.canonical_json(manifest) + "\n", encoding="utf-8")
    return files, head, seq, entries
