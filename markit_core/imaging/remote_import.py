"""Search a remote archive and import studies through the normal ingest path.

Retrieved instances are encoded as files and handed to :func:`ingest`, so
de-identification, validation, duplicate detection and the ledger are exactly
those of an upload. A study is retrieved completely before any of it is
ingested: a server that fails half-way (down, timeout, refused sub-operations)
leaves nothing of that study behind, and the import of the next study goes on.
Ingested cases are each complete (file, row, origin, ledger entry) or absent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session

from markit_core.access import Action, require, require_admin
from markit_core.config import Settings
from markit_core.errors import SourceError
from markit_core.imaging.ingest import IngestReport, ProgressFn, error_locations, ingest
from markit_core.imaging.sources.base import ImageSource, StudySummary, dataset_bytes
from markit_core.models import User

__all__ = ["ImportReport", "StudyOutcome", "import_studies", "resolve_source", "search_studies"]

log = logging.getLogger(__name__)

#: Said after every retrieval failure: the study is all or nothing.
_NOTHING_KEPT = "nothing of this study was imported"


@dataclass(frozen=True)
class StudyOutcome:
    """What happened to one requested study.

    Attributes
    ----------
    study_uid : str
        The study as known to the remote archive.
    ok : bool
        Retrieved (its files then have their own outcomes in ``ImportReport.files``).
    reason : str
        Why it could not be retrieved, when not ``ok``.
    n_instances : int
        Instances retrieved.
    """

    study_uid: str
    ok: bool
    reason: str = ""
    n_instances: int = 0


@dataclass
class ImportReport:
    """Per-study outcomes plus the per-file ingest report of everything retrieved."""

    studies: list[StudyOutcome] = field(default_factory=list)
    files: IngestReport = field(default_factory=IngestReport)

    @property
    def failed_studies(self) -> list[StudyOutcome]:
        """Studies that could not be retrieved."""
        return [s for s in self.studies if not s.ok]

    def summary(self) -> str:
        """One line for a terminal or a status box."""
        ok = len(self.studies) - len(self.failed_studies)
        return (
            f"{len(self.studies)} studies: {ok} retrieved, {len(self.failed_studies)} failed; "
            + self.files.summary()
        )


def resolve_source(session: Session, actor: User, source: ImageSource | int) -> ImageSource:
    """The source to use: a registered archive (by id) for anyone, an ad-hoc source for admins.

    Data owners import only from archives a site administrator registered
    (:mod:`markit_core.imaging.remote_archives`), so they cannot make the
    server contact an address of their choosing.
    """
    if isinstance(source, int):
        from markit_core.imaging.remote_archives import archive_source

        return archive_source(session, source)
    require_admin(actor, "import from an address that is not a registered archive")
    return source


def search_studies(
    session: Session,
    actor: User,
    project_id: int,
    source: ImageSource | int,
    limit: int | None = 100,
    **filters: str,
) -> list[StudySummary]:
    """Search a remote archive on behalf of a project's data owner.

    Results show the hospital's identifiers, so only users who may upload to
    the project (data owners, owners) may search.

    Raises
    ------
    PermissionDenied, NotFoundError
        The actor may not upload to the project, or is not a site
        administrator and ``source`` is not a registered archive's id.
    SourceError
        The archive failed (down, slow, credentials, not DICOM).
    ValidationError
        A filter is not a DICOM keyword.
    """
    require(session, actor, project_id, Action.UPLOAD)
    found = resolve_source(session, actor, source).search_for_studies(
        limit=limit, offset=None, **filters
    )
    return [StudySummary.from_json(item) for item in found]


def import_studies(
    session: Session,
    settings: Settings,
    actor: User,
    project_id: int,
    source: ImageSource | int,
    study_uids: Sequence[str],
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Retrieve studies from ``source`` and ingest them into a project.

    Parameters
    ----------
    session, settings, actor, project_id
        As for :func:`~markit_core.imaging.ingest.ingest` (needs ``Action.UPLOAD``).
    source : ImageSource | int
        The id of a registered archive, or (site administrators only) any
        DICOMweb, DIMSE or local-folder source.
    study_uids : Sequence[str]
        Studies to import (e.g. picked from :func:`search_studies`).
    progress : ProgressFn | None
        ``progress(studies_done, n_studies, text)``; ``text`` names the study
        being retrieved, then each file being ingested.

    Returns
    -------
    ImportReport
        Which studies were retrieved, and the outcome of every retrieved file.
    """
    require(session, actor, project_id, Action.UPLOAD)
    source = resolve_source(session, actor, source)
    report = ImportReport()
    uids = list(dict.fromkeys(u.strip() for u in study_uids if u and u.strip()))
    total = len(uids)
    for done, uid in enumerate(uids):
        if progress is not None:
            progress(done, total, f"retrieving study {uid}")
        try:
            items = [(_item_name(uid, ds), dataset_bytes(ds)) for ds in source.retrieve_study(uid)]
        except SourceError as e:
            report.studies.append(StudyOutcome(uid, False, f"{e}; {_NOTHING_KEPT}"))
            continue
        except Exception as e:  # noqa: BLE001 - a library bug in one study must not stop the rest
            # the study UID is the hospital's identifier and the message may quote it:
            # log only the study's position in the request, the type and the frames
            log.error(
                "retrieving study %d of %d failed: %s (at %s)",
                done + 1,
                total,
                type(e).__name__,
                error_locations(e),
            )
            report.studies.append(
                StudyOutcome(uid, False, f"{type(e).__name__}: {e}; {_NOTHING_KEPT}")
            )
            continue
        if not items:
            report.studies.append(StudyOutcome(uid, False, "the archive returned no instances"))
            continue
        report.studies.append(StudyOutcome(uid, True, n_instances=len(items)))

        def file_progress(_i: int, _n: int, name: str, d: int = done) -> None:
            if progress is not None and name:
                progress(d, total, f"ingesting {name}")

        report.files.extend(
            ingest(
                session,
                settings,
                actor,
                project_id,
                items,
                file_progress,
                source=source.description,
            )
        )
        del items
    if progress is not None:
        progress(total, total, "")
    return report


def _item_name(study_uid: str, ds: object) -> str:
    series = str(getattr(ds, "SeriesInstanceUID", "") or "")
    sop = str(getattr(ds, "SOPInstanceUID", "") or "")
    return f"{study_uid}/{series}/{sop}.dcm"
