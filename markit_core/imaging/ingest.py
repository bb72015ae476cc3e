"""Ingest: uploaded files -> validated, de-identified, stored images -> ``Case`` rows.

Every file of a batch ends in exactly one outcome: a new case, a duplicate of
an existing case, or a refusal with a one-line reason. One bad file never stops
the batch. Each case is made in its own transaction together with its origin
record, its pseudonym pairs and its ledger entry; a failure rolls all of it
back and removes the file it stored, so there is never a row without a file or
a file written for a row that failed.

Duplicates are detected by a hash of the decoded pixels (with their shape,
type and photometric interpretation), not of the file: the same image
re-uploaded, exported again by the PACS with other header values, fetched over
DICOMweb in another transfer syntax (losslessly), or re-ingested after
de-identification has the same pixels but not the same bytes. The stored file
itself is named by the SHA-256 of its de-identified bytes (``Case.stored_path``).
The rows a stored image becomes are made in ``markit_core.imaging.case_record``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from markit_core.access import Action, require
from markit_core.config import Settings
from markit_core.errors import ImageError, InputFileError
from markit_core.imaging.case_record import add_case, pixel_digest
from markit_core.imaging.decode import decode_any, is_dicom
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.deid import DeidResult
from markit_core.imaging.dicom_prepare import prepare_dicom
from markit_core.imaging.ingest_report import (
    DUPLICATE,
    INGESTED,
    REFUSED,
    FileOutcome,
    IngestReport,
)
from markit_core.imaging.inputs import ArchiveAborted, Expansion, Item, load_entry, strip_name
from markit_core.imaging.limits import (
    check_raster_size,
    decoded_budget,
    file_limit,
)
from markit_core.imaging.raster import raster_suffix
from markit_core.imaging.raster_clean import clean_raster
from markit_core.imaging.recovery import ingest_lock, recover_store
from markit_core.imaging.store import ImageStore
from markit_core.imaging.trace import project_salt
from markit_core.models import Case, User

__all__ = [
    "FileOutcome",
    "IngestReport",
    "Item",
    "ProgressFn",
    "error_locations",
    "ingest",
]

log = logging.getLogger(__name__)

#: ``progress(done, total, current_name)``: called before each file and once at the end.
ProgressFn = Callable[[int, int, str], None]


def ingest(
    session: Session,
    settings: Settings,
    actor: User,
    project_id: int,
    items: Iterable[Item],
    progress: ProgressFn | None = None,
    *,
    source: str = "upload",
) -> IngestReport:
    """Ingest a batch of uploads into a project.

    Parameters
    ----------
    session : Session
        Database session; each case is committed on its own.
    settings : Settings
        Gives the store folder and the archive/upload limits.
    actor : User
        The uploader; needs ``Action.UPLOAD`` in the project.
    project_id : int
        Target project.
    items : Iterable[tuple[str, bytes | str | Path]]
        ``(display name, bytes or path)``: DICOM files, folders (recursed), zip
        archives, PNG/JPEG/TIFF/BMP files.
    progress : ProgressFn | None
        ``progress(done, total, name)``, called before each file and at the end.
    source : str
        Where the files came from, recorded in each case's origin
        (``upload``, ``dicomweb https://...``, ``dimse PACS@host:104``).

    Returns
    -------
    IngestReport
        One outcome per file.

    Raises
    ------
    PermissionDenied, NotFoundError
        The actor may not upload to the project (nothing is read).
    """
    require(session, actor, project_id, Action.UPLOAD)
    ctx = _Context(session, settings, actor, project_id, source)
    recover_store(session, ctx.store)  # what an interrupted ingest left behind
    report = IngestReport()
    max_bytes = int(settings.max_archive_mb) << 20
    with (
        ingest_lock(ctx.store),
        Expansion(
            items,
            max_archive_bytes=max_bytes,
            max_files=settings.max_upload_files,
            max_file_bytes=file_limit(ctx.budget),
        ) as expansion,
    ):
        total = len(expansion.entries)
        aborted: dict[int, str] = {}
        for done, entry in enumerate(expansion.entries):
            if progress is not None:
                progress(done, total, entry.name)
            if entry.archive is not None and id(entry.archive) in aborted:
                report.outcomes.append(FileOutcome(entry.name, REFUSED, aborted[id(entry.archive)]))
                continue
            try:
                data = load_entry(entry)
            except ArchiveAborted as e:
                aborted[id(entry.archive)] = str(e)
                report.outcomes.append(FileOutcome(entry.name, REFUSED, str(e)))
                continue
            except InputFileError as e:
                report.outcomes.append(FileOutcome(entry.name, REFUSED, str(e)))
                continue
            report.outcomes.append(ctx.ingest_bytes(entry.name, data, index=done))
    if progress is not None:
        progress(total, total, "")
    return report


class _Context:
    """Per-batch state: the project's salt and store, and the per-file pipeline."""

    def __init__(
        self, session: Session, settings: Settings, actor: User, project_id: int, source: str
    ) -> None:
        self.session, self.actor, self.project_id, self.source = session, actor, project_id, source
        self.store = ImageStore.from_settings(settings)
        self.salt = project_salt(session, actor, project_id)
        self.budget = decoded_budget(settings.max_decoded_mb)

    def ingest_bytes(self, name: str, data: bytes, *, index: int = 0) -> FileOutcome:
        """Run one file through the pipeline; never raises for a bad file.

        ``index`` is the file's position in the batch: the log names a failed
        file by it, never by its name (upload names often carry patient names)
        and never with the exception's message (which may quote the name or
        header values); the uploader sees the full reason in the report.
        """
        try:
            return self._ingest(name, data)
        except ImageError as e:
            return FileOutcome(name, REFUSED, _one_line(strip_name(str(e), name)))
        except Exception as e:  # noqa: BLE001 - one bad file must never stop the batch
            log.error(
                "ingest of file %d of the batch into project %d failed: %s (at %s)",
                index + 1,
                self.project_id,
                type(e).__name__,
                error_locations(e),
            )
            self.session.rollback()  # leave the session usable for the next file
            return FileOutcome(name, REFUSED, _one_line(f"internal error: {type(e).__name__}: {e}"))

    def _ingest(self, name: str, data: bytes) -> FileOutcome:
        if not data:
            raise ImageError(f"{name}: empty file")
        limit = file_limit(self.budget)
        if len(data) > limit:
            raise ImageError(
                f"{name}: file is {len(data) >> 20} MB, over the {limit >> 20} MB a file may "
                "have under MARKIT_MAX_DECODED_MB"
            )
        budget = self.budget
        suffix = raster_suffix(data)
        if suffix is not None and not is_dicom(data[:132]):
            check_raster_size(data, name, budget)  # headers only, before any decoding
            try:
                # drop EXIF, text chunks, tags; a turned photo becomes a turned PNG
                clean, suffix = clean_raster(data, suffix, name)
            except ImageError:
                decode_any(data, name, max_decoded_bytes=budget)  # names what is broken
                raise
            image = decode_any(clean, name, max_decoded_bytes=budget)  # what we store
            return self._commit(name, image, clean, suffix, kind="raster")
        deid, image = prepare_dicom(self.session, self.project_id, self.salt, budget, name, data)
        return self._commit(name, image, deid.data, ".dcm", kind="dicom", deid=deid)

    def _existing(self, content_hash: str) -> int | None:
        return self.session.exec(
            select(Case.id).where(
                Case.project_id == self.project_id, Case.content_hash == content_hash
            )
        ).first()

    def _commit(
        self,
        name: str,
        image: DecodedImage,
        stored: bytes,
        suffix: str,
        *,
        kind: str,
        deid: DeidResult | None = None,
    ) -> FileOutcome:
        content_hash = pixel_digest(image)
        existing = self._existing(content_hash)
        if existing is not None:
            return FileOutcome(
                name, DUPLICATE, f"already in the project as case {existing}", case_id=existing
            )
        for attempt in (1, 2):
            put = self.store.put(stored, suffix)
            try:
                case = add_case(
                    self.session,
                    self.actor,
                    self.project_id,
                    f"{self.source}: {name}",
                    image,
                    content_hash,
                    put.relpath,
                    suffix,
                    kind,
                    deid,
                )
                self.session.commit()
                break
            except IntegrityError:
                self.session.rollback()
                self._discard(put.relpath, put.created)
                existing = self._existing(content_hash)
                if existing is not None:  # a concurrent upload of the same image won
                    return FileOutcome(
                        name,
                        DUPLICATE,
                        f"already in the project as case {existing}",
                        case_id=existing,
                    )
                if attempt == 2:  # a concurrent writer recorded the same pseudonym pair
                    raise
            except BaseException:
                self.session.rollback()
                self._discard(put.relpath, put.created)
                raise
        warning = "; ".join(strip_name(w, name) for w in (deid.warnings if deid else []))
        return FileOutcome(name, INGESTED, case_id=case.id, warning=warning)

    def _discard(self, relpath: str, created: bool) -> None:
        """Remove a file this batch wrote for a row that failed, unless another case uses it."""
        if not created:
            return
        used = self.session.exec(select(Case.id).where(Case.stored_path == relpath)).first()
        if used is None:
            self.store.remove(relpath)


def error_locations(e: BaseException) -> str:
    """Where ``e`` was raised, innermost last, as ``file:line in function`` for a log.

    Only code locations: neither the message nor the source lines, which may
    quote a file name or header values.
    """
    frames = traceback.extract_tb(e.__traceback__)
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in reversed(frames))


def _one_line(text: str, limit: int = 500) -> str:
    """Collapse a message to one line (a report line per file, never a traceback)."""
    return " ".join(text.split())[:limit]
