"""Reference studies in a registered DICOMweb archive instead of copying them.

A referenced case is a ``Case`` like any other (pseudonymised UIDs, size, the
pixel hash that detects duplicates, its origin and ledger entry) whose image
stays in the archive: ``Case.stored_path`` is an ``archive/...`` reference and
a ``CaseArchiveRef`` row keeps the archive and the original UIDs, server-side.
Referencing retrieves each instance once, through the same checks and
de-identification as an import (so the UID pairs are recorded and a view
later reproduces exactly these pixels), keeps it in the local archive cache
for the first view, and stores nothing in the image store.

As with an import, a study is retrieved completely before any of it becomes a
case, and each case is committed with its reference and ledger entries or not
at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.config import Settings
from markit_core.db import require_id
from markit_core.errors import ImageError, NotFoundError, SourceError, ValidationError
from markit_core.imaging.archive_cache import ArchiveCache
from markit_core.imaging.archive_images import reference_path
from markit_core.imaging.case_record import add_case, pixel_digest
from markit_core.imaging.deid import Identity
from markit_core.imaging.dicom_prepare import prepare_dicom
from markit_core.imaging.ingest import ProgressFn
from markit_core.imaging.ingest_report import (
    DUPLICATE,
    INGESTED,
    REFUSED,
    FileOutcome,
    IngestReport,
)
from markit_core.imaging.inputs import strip_name
from markit_core.imaging.limits import decoded_budget
from markit_core.imaging.remote_archives import archive_source
from markit_core.imaging.remote_import import ImportReport, StudyOutcome
from markit_core.imaging.sources.base import dataset_bytes
from markit_core.imaging.trace import project_salt
from markit_core.models import Case, CaseArchiveRef, RemoteArchive, User

__all__ = ["ReferenceReport", "ReferencedFiles", "reference_studies"]


class ReferencedFiles(IngestReport):
    """One outcome per retrieved instance; ``ingested`` ones are now referenced cases."""

    def summary(self) -> str:
        """``N files: a referenced, b already present, c refused``."""
        return super().summary().replace(" ingested", " referenced", 1)


@dataclass
class ReferenceReport(ImportReport):
    """Per-study outcomes plus one outcome per instance."""

    files: IngestReport = field(default_factory=ReferencedFiles)


@dataclass
class _Run:
    """Per-call state: who, where, the project's salt and limits."""

    session: Session
    actor: User
    project_id: int
    archive: RemoteArchive
    description: str
    salt: str
    budget: int
    cache: ArchiveCache


def _archive(session: Session, archive: int | str) -> RemoteArchive:
    from markit_core.imaging.remote_archives import archive_id

    key = archive if isinstance(archive, int) else archive_id(session, archive)
    row = session.get(RemoteArchive, key)
    if row is None:
        raise NotFoundError(f"no registered archive {archive!r}")
    if row.kind != "dicomweb":
        raise ValidationError(
            f"archive {row.name!r} is a {row.kind} archive: only DICOMweb archives (WADO-RS) "
            "can keep images for MarkIt to fetch on view; import from it instead"
        )
    return row


def reference_studies(
    session: Session,
    settings: Settings,
    actor: User,
    project_id: int,
    archive: int | str,
    study_uids: Sequence[str],
    progress: ProgressFn | None = None,
) -> ReferenceReport:
    """Add the instances of studies in a registered DICOMweb archive as referenced cases.

    Parameters
    ----------
    session, settings, actor, project_id
        As for an import (the actor needs ``Action.UPLOAD`` in the project).
    archive : int | str
        A registered DICOMweb archive, by id or name (never an ad-hoc address).
    study_uids : Sequence[str]
        Studies to reference, as known to the archive.
    progress : ProgressFn | None
        ``progress(studies_done, n_studies, text)``.

    Returns
    -------
    ReferenceReport
        Which studies were retrieved, and per instance: referenced (a new case),
        already in the project, or refused with the reason.

    Raises
    ------
    PermissionDenied, NotFoundError
        The actor may not upload to the project, or no such archive.
    ValidationError
        The archive is not a DICOMweb archive.
    """
    require(session, actor, project_id, Action.UPLOAD)
    row = _archive(session, archive)
    source = archive_source(session, require_id(row), settings.archive_timeout_seconds)
    run = _Run(
        session,
        actor,
        project_id,
        row,
        source.description,
        project_salt(session, actor, project_id),
        decoded_budget(settings.max_decoded_mb),
        ArchiveCache.from_settings(settings),
    )
    report = ReferenceReport()
    uids = list(dict.fromkeys(u.strip() for u in study_uids if u and u.strip()))
    for done, uid in enumerate(uids):
        if progress is not None:
            progress(done, len(uids), f"retrieving study {uid}")
        try:
            datasets = list(source.retrieve_study(uid))  # all of it before any case
        except SourceError as e:
            report.studies.append(StudyOutcome(uid, False, str(e)))
            continue
        if not datasets:
            report.studies.append(StudyOutcome(uid, False, "the archive returned no instances"))
            continue
        report.studies.append(StudyOutcome(uid, True, n_instances=len(datasets)))
        for ds in datasets:
            report.files.outcomes.append(_reference_one(run, uid, ds))
        del datasets
    if progress is not None:
        progress(len(uids), len(uids), "")
    return report


def _existing(run: _Run, content_hash: str) -> int | None:
    return run.session.exec(
        select(Case.id).where(Case.project_id == run.project_id, Case.content_hash == content_hash)
    ).first()


def _duplicate(name: str, case_id: int) -> FileOutcome:
    return FileOutcome(
        name, DUPLICATE, f"already in the project as case {case_id}", case_id=case_id
    )


def _reference_one(run: _Run, study_uid: str, ds: Dataset) -> FileOutcome:
    """One retrieved instance -> a referenced case (committed), a duplicate or a refusal."""
    original = Identity.of(ds)
    name = f"{study_uid}/{original.series_uid}/{original.sop_uid}.dcm"
    try:
        deid, image = prepare_dicom(
            run.session, run.project_id, run.salt, run.budget, name, dataset_bytes(ds)
        )
        path = reference_path(run.project_id, require_id(run.archive), deid.pseudonym.sop_uid)
    except (ImageError, SourceError) as e:
        return FileOutcome(name, REFUSED, " ".join(strip_name(str(e), name).split())[:500])
    content_hash = pixel_digest(image)
    existing = _existing(run, content_hash)
    if existing is not None:
        return _duplicate(name, existing)
    try:
        case = add_case(
            run.session,
            run.actor,
            run.project_id,
            f"{run.description}: {name}",
            image,
            content_hash,
            path,
            ".dcm",
            "dicom",
            deid,
            action="case.reference",
        )
        ref = CaseArchiveRef(
            case_id=require_id(case),
            project_id=run.project_id,
            archive_id=require_id(run.archive),
            stored_path=path,
            study_uid=original.study_uid[:255],
            series_uid=original.series_uid[:255],
            sop_uid=original.sop_uid[:255],
        )
        run.session.add(ref)
        run.session.flush()
        ledger.append(
            run.session,
            actor=run.actor,
            project_id=run.project_id,
            action="case.archive_ref",
            record=ref,
        )
        run.session.commit()
    except IntegrityError:
        run.session.rollback()
        existing = _existing(run, content_hash)
        if existing is None:
            raise
        return _duplicate(name, existing)  # a concurrent reference or upload won
    except BaseException:
        run.session.rollback()
        raise
    run.cache.put(path, deid.data)  # the first view needs no second fetch
    warning = "; ".join(strip_name(w, name) for w in deid.warnings)
    return FileOutcome(name, INGESTED, case_id=case.id, warning=warning)
