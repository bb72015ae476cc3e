"""STOW-RS the DICOM SRs of an export bundle to a DICOMweb archive, logged in the ledger.

Only SRs whose study is a (pseudonymised) study of the project are sent; the
ledger entry's export record holds the SHA-256 of the sent SOP instance UIDs
and the archive's address (credentials never: the source strips them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from sqlmodel import Session, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.db import require_id, rolls_back
from markit_core.errors import ValidationError
from markit_core.imaging.sources.dicomweb import DicomWebSource
from markit_core.models import Case, ExportRecord, User

__all__ = ["StowResult", "stow_srs"]


@dataclass(frozen=True)
class StowResult:
    url: str
    sop_uids: list[str]
    study_uids: list[str]


@rolls_back
def stow_srs(
    session: Session, actor: User, project_id: int, bundle: Path, source: DicomWebSource
) -> StowResult:
    """Send every ``sr/*.dcm`` of ``bundle`` to ``source`` with STOW-RS."""
    require(session, actor, project_id, Action.EXPORT)
    files = sorted((Path(bundle) / "sr").glob("*.dcm"))
    if not files:
        raise ValidationError(f"{bundle} holds no DICOM SR (export with the sr format first)")
    studies = set(session.exec(select(Case.study_uid).where(Case.project_id == project_id)).all())
    datasets: list[Dataset] = []
    for path in files:
        ds = pydicom.dcmread(path)
        if ds.StudyInstanceUID not in studies:
            raise ValidationError(f"{path.name}: its study is not a study of this project")
        datasets.append(ds)
    source.store_instances(datasets)
    uids = [str(ds.SOPInstanceUID) for ds in datasets]
    record = ExportRecord(
        project_id=project_id,
        user_id=require_id(actor),
        format="stow-rs",
        rows=len(uids),
        content_sha256=hashlib.sha256((source.url + "\n" + "\n".join(uids)).encode()).hexdigest(),
    )
    session.add(record)
    ledger.append(session, actor=actor, project_id=project_id, action="export.stow", record=record)
    session.commit()
    return StowResult(source.url, uids, sorted({str(ds.StudyInstanceUID) for ds in datasets}))
