"""Fetch the images of a reader's next cases from the archive before they are opened.

The annotate page calls :func:`prefetch_archive_images` after the current case
is shown, with the next cases of the reader's queue. Those left in an archive
and not yet cached are fetched one by one in a background thread, so moving on
finds them in the local cache. The thread is bounded in time: it stops after
``MARKIT_ARCHIVE_PREFETCH_SECONDS`` (each request has the archive timeout), and
at the first archive failure (an archive that is down would otherwise cost one
timeout per case). A failed prefetch only loses time: the view of that case
fetches again and reports the failure to the reader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from sqlmodel import Session, col, select

from markit_core.config import Settings
from markit_core.errors import MarkitError, SourceError
from markit_core.imaging.archive_cache import ArchiveCache
from markit_core.imaging.archive_images import ARCHIVE_PREFIX, fetch_archive_image
from markit_core.models import Case

__all__ = ["prefetch_archive_images"]

log = logging.getLogger(__name__)

_queued_guard = threading.Lock()
_queued: set[str] = set()  # archive paths a prefetch thread will still fetch


def _wanted(
    session: Session, settings: Settings, project_id: int, case_ids: Sequence[int]
) -> list[str]:
    """Archive paths of those cases (in the given order) that are neither cached nor queued."""
    if not case_ids:
        return []
    rows = session.exec(
        select(Case.id, Case.stored_path).where(
            col(Case.project_id) == project_id,
            col(Case.id).in_(list(case_ids)),
            col(Case.stored_path).startswith(ARCHIVE_PREFIX),
        )
    ).all()
    path_of = {int(cid or 0): path for cid, path in rows}
    cache = ArchiveCache.from_settings(settings)
    ordered = [path_of[c] for c in dict.fromkeys(case_ids) if c in path_of]
    return [p for p in ordered if p not in cache]


def prefetch_archive_images(
    session: Session, settings: Settings, project_id: int, case_ids: Sequence[int]
) -> threading.Thread | None:
    """Start fetching the archive images of ``case_ids`` in a background thread.

    Parameters
    ----------
    session : Session
        Reads the cases' stored paths (the thread opens its own sessions).
    settings : Settings
        Gives the cache, the archive timeout and ``archive_prefetch_seconds``.
    project_id : int
        Only cases of this project are fetched.
    case_ids : Sequence[int]
        The reader's next cases, nearest first (at most ``archive_prefetch_cases`` are used).

    Returns
    -------
    threading.Thread | None
        The started thread (daemon), or None when nothing needs fetching.
    """
    limit = max(0, int(settings.archive_prefetch_cases))
    paths = _wanted(session, settings, project_id, list(case_ids)[:limit])
    with _queued_guard:
        paths = [p for p in paths if p not in _queued]
        _queued.update(paths)
    if not paths:
        return None
    deadline = time.monotonic() + float(settings.archive_prefetch_seconds)
    thread = threading.Thread(
        target=_run, args=(settings, paths, deadline), name="markit-archive-prefetch", daemon=True
    )
    thread.start()
    return thread


def _run(settings: Settings, paths: list[str], deadline: float) -> None:
    try:
        for n, path in enumerate(paths):
            if time.monotonic() > deadline:
                log.info("archive prefetch stopped at its time limit (%d of %d)", n, len(paths))
                return
            try:
                fetch_archive_image(settings, path)
            except SourceError:
                log.info("archive prefetch stopped: the archive failed (%d of %d)", n, len(paths))
                return
            except MarkitError as e:  # this image is refused; its own view says why
                log.info("archive prefetch skipped an image: %s", type(e).__name__)
            except Exception as e:  # noqa: BLE001 - a background thread must not die loudly
                log.error("archive prefetch failed: %s", type(e).__name__)
                return
            finally:
                with _queued_guard:
                    _queued.discard(path)
    finally:
        with _queued_guard:
            _queued.difference_update(paths)
