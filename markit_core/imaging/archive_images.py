"""The images of cases left in a registered DICOMweb archive, fetched when needed.

A referenced case (``markit_core.imaging.reference``) has ``Case.stored_path``
``archive/<project>/<archive>/<pseudonymised SOP Instance UID>`` instead of a
store path, and a ``CaseArchiveRef`` row with the instance's original UIDs.
:func:`case_image_bytes` is what every reader of a case's file calls (the
viewer through :mod:`.stored`, AI, exports): a store path is read from the
store, an archive reference from the local cache (:mod:`.archive_cache`) or,
on a miss, fetched with WADO-RS and put through exactly the steps an import
takes (:func:`~markit_core.imaging.dicom_prepare.prepare_dicom`: the limits,
the project's salt and recorded UID pairs, the decoder). The fetched pixels
must hash to the case's ``content_hash``, so a changed archive copy is refused
rather than shown as the case that was read.

Errors never show the archive's original UIDs (readers must not see them):
they are replaced by the case's pseudonyms before a message leaves this module.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlmodel import Session, select

from markit_core.config import Settings
from markit_core.db import make_engine
from markit_core.db import session as new_session
from markit_core.errors import ImageError, MarkitError, NotFoundError, SourceError
from markit_core.imaging.archive_cache import ArchiveCache
from markit_core.imaging.case_record import pixel_digest
from markit_core.imaging.decode import decode_any
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.dicom_prepare import prepare_dicom
from markit_core.imaging.limits import decoded_budget
from markit_core.imaging.remote_archives import archive_source
from markit_core.imaging.sources.base import dataset_bytes
from markit_core.imaging.store import ImageStore
from markit_core.imaging.trace import project_salt
from markit_core.models import Case, CaseArchiveRef, RemoteArchive

__all__ = [
    "ARCHIVE_PREFIX",
    "archive_image",
    "case_image_bytes",
    "fetch_archive_image",
    "image_ready",
    "is_archive_path",
    "reference_path",
]

ARCHIVE_PREFIX = "archive/"
_PATH_RE = re.compile(r"^archive/\d{1,12}/\d{1,12}/[0-9.]{1,64}$")

#: Striped locks: one fetch per instance at a time (a view waits for a running prefetch).
_LOCKS = tuple(threading.Lock() for _ in range(64))


def is_archive_path(stored_path: str) -> bool:
    """Whether ``Case.stored_path`` is an archive reference rather than a store path."""
    return stored_path.startswith(ARCHIVE_PREFIX)


def reference_path(project_id: int, archive_id: int, pseudo_sop_uid: str) -> str:
    """The ``Case.stored_path`` of a referenced instance (names only pseudonyms and ids)."""
    path = f"{ARCHIVE_PREFIX}{int(project_id)}/{int(archive_id)}/{pseudo_sop_uid}"
    if not _PATH_RE.fullmatch(path):
        raise ImageError(f"not a usable pseudonymised SOP Instance UID: {pseudo_sop_uid!r}")
    return path


@dataclass(frozen=True)
class _Target:
    """What fetching one referenced instance needs, read in one short session."""

    stored_path: str
    case_id: int
    project_id: int
    archive_id: int
    archive_name: str
    case_name: str
    content_hash: str
    originals: tuple[str, str, str]  # study, series, SOP Instance UID in the archive
    pseudonyms: tuple[str, str, str]

    def hide(self, text: str) -> str:
        """``text`` with each original UID replaced by the case's pseudonym."""
        for original, pseudonym in zip(self.originals, self.pseudonyms, strict=True):
            if original:
                text = text.replace(original, pseudonym or "(hidden UID)")
        return text

    def failed(self, reason: str) -> SourceError:
        return SourceError(
            f"cannot show case {self.case_id} ({self.case_name}): its image is left in the "
            f"archive {self.archive_name!r}, and fetching it failed: {self.hide(reason)}. "
            "Readings and drafts are not affected; try again when the archive is reachable."
        )


@contextmanager
def _db(settings: Settings) -> Iterator[Session]:
    """A short-lived session of its own: image loaders are called without one."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with new_session(engine) as s:
            yield s
    finally:
        engine.dispose()


def _target(session: Session, stored_path: str) -> _Target:
    ref = session.exec(
        select(CaseArchiveRef).where(CaseArchiveRef.stored_path == stored_path)
    ).first()
    case = session.get(Case, ref.case_id) if ref is not None else None
    if ref is None or case is None:
        raise NotFoundError(f"no archive reference {stored_path!r}")
    archive = session.get(RemoteArchive, ref.archive_id)
    return _Target(
        stored_path,
        int(ref.case_id),
        int(ref.project_id),
        int(ref.archive_id),
        archive.name if archive is not None else f"#{ref.archive_id} (removed)",
        case.original_name,
        case.content_hash,
        (ref.study_uid, ref.series_uid, ref.sop_uid),
        (case.study_uid, case.series_uid, case.sop_uid),
    )


def _retrieve(session: Session, settings: Settings, target: _Target) -> bytes:
    try:
        source = archive_source(session, target.archive_id, settings.archive_timeout_seconds)
        session.rollback()  # hold no database connection during the request
        ds = source.retrieve_instance(*target.originals)
        return dataset_bytes(ds)
    except MarkitError as e:
        raise target.failed(str(e)) from e


def _fetch(settings: Settings, stored_path: str) -> tuple[bytes, DecodedImage]:
    """WADO-RS the instance, prepare it as an import would, check its pixels, cache it."""
    with _db(settings) as s:
        target = _target(s, stored_path)
        data = _retrieve(s, settings, target)
        salt = project_salt(s, None, target.project_id)
        budget = decoded_budget(settings.max_decoded_mb)
        try:
            deid, image = prepare_dicom(s, target.project_id, salt, budget, target.case_name, data)
        except ImageError as e:
            raise ImageError(target.hide(str(e))) from e
    if pixel_digest(image) != target.content_hash:
        raise ImageError(
            f"case {target.case_id} ({target.case_name}): the archive {target.archive_name!r} "
            "now returns other pixels for this instance than when it was referenced; "
            "it is not shown (reference the study again if the change is intended)"
        )
    ArchiveCache.from_settings(settings).put(stored_path, deid.data)
    return deid.data, image


def _key_lock(key: str) -> threading.Lock:
    return _LOCKS[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(_LOCKS)]


def fetch_archive_image(settings: Settings, stored_path: str) -> tuple[bytes, DecodedImage | None]:
    """The de-identified file of a referenced case, and its pixels when they were just decoded.

    From the cache when there; else fetched (once, however many threads ask at a time).

    Raises
    ------
    SourceError
        The archive failed (down, slow, refused); the message names the case and
        the archive by name, never an original UID.
    ImageError
        The fetched instance fails the import checks or has other pixels than
        when it was referenced.
    NotFoundError
        ``stored_path`` is not an archive reference of any case.
    """
    cache = ArchiveCache.from_settings(settings)
    with _key_lock(stored_path):
        cached = cache.get(stored_path)
        if cached is not None:
            return cached, None
        return _fetch(settings, stored_path)


def archive_image(settings: Settings, stored_path: str) -> DecodedImage:
    """The decoded pixels of a referenced case (see :func:`fetch_archive_image`)."""
    data, image = fetch_archive_image(settings, stored_path)
    if image is not None:
        return image
    budget = decoded_budget(settings.max_decoded_mb)
    return decode_any(data, name=stored_path, max_decoded_bytes=budget)


def case_image_bytes(settings: Settings, stored_path: str) -> bytes:
    """The (de-identified) file of a case: from the image store, or its archive reference.

    Parameters
    ----------
    settings : Settings
        Gives the store, the archive cache and the database.
    stored_path : str
        ``Case.stored_path``.
    """
    if is_archive_path(stored_path):
        return fetch_archive_image(settings, stored_path)[0]
    return ImageStore.from_settings(settings).read(stored_path)


def image_ready(settings: Settings, stored_path: str) -> bool:
    """Whether a case's image can be read without contacting an archive."""
    return not is_archive_path(stored_path) or stored_path in ArchiveCache.from_settings(settings)
