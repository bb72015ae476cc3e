"""Clean up what a crashed ingest left in the image store.

:meth:`ImageStore.put` writes a ``.tmp-*`` file and renames it into place, and
ingest commits the case row just after; a process killed in between leaves a
temporary file or a stored file no case points to. :func:`recover_store` runs
when the database is opened (every app start and CLI command) and at the
start of every ingest, and removes both.

It must never remove what a live ingest in another process is about to
commit. Every ingest therefore holds a shared lock on ``store.lock`` (beside
the store folder, so the store holds nothing but images)
for its whole batch; recovery takes that lock exclusively without waiting:
when it gets it, no ingest runs anywhere and every leftover goes. When some
ingest is running, only leftovers older than a grace period (far longer than
the moment between writing a file and committing its row) are removed, and
a temporary file whose writer still holds its lock is never touched. Where
``fcntl`` is missing (Windows) only the grace periods apply.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlmodel import Session, select

from markit_core.imaging.store import ImageStore
from markit_core.models import Case

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["Recovery", "ingest_lock", "recover_store"]

log = logging.getLogger(__name__)

LOCK_NAME = "store.lock"
#: Leftovers younger than this are kept while another ingest is running.
TMP_GRACE_S = 10 * 60.0
ORPHAN_GRACE_S = 30 * 60.0
_SHARD_RE = re.compile(r"^[0-9a-f]{2}$")
_STORED_RE = re.compile(r"^[0-9a-f]{62}(\.[a-z0-9]{1,8})?$")


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover_store` removed, and whether it could check everything."""

    temporary_files: int = 0
    orphan_files: int = 0
    exclusive: bool = False


def _lock_file(root: Path) -> IO[bytes]:
    root.mkdir(parents=True, exist_ok=True)
    return open(root.parent / LOCK_NAME, "a+b")  # noqa: SIM115 - closed by the callers


@contextlib.contextmanager
def ingest_lock(store: ImageStore) -> Iterator[None]:
    """Hold the shared ingest lock for a batch (recovery then keeps recent files)."""
    if fcntl is None:
        yield
        return
    fh = _lock_file(store.root)
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        yield
    finally:
        fh.close()  # releases the lock


def _writer_alive(path: Path) -> bool:
    """Whether a live ``put`` still holds the temporary file's lock."""
    if fcntl is None:
        return False
    try:
        with open(path, "rb") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False
    except FileNotFoundError:
        return True  # renamed into place meanwhile: not ours to touch


def _older_than(path: Path, seconds: float, now: float) -> bool:
    try:
        return now - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def recover_store(session: Session, store: ImageStore) -> Recovery:
    """Remove ``.tmp-*`` files and stored files without a case row (see module docstring).

    Parameters
    ----------
    session : Session
        Used to read every ``Case.stored_path`` (of all projects).
    store : ImageStore
        The store to clean.

    Returns
    -------
    Recovery
        Counts of removed files; ``exclusive`` is True when no ingest was running,
        so nothing was kept for being recent.
    """
    root = store.root
    if not root.is_dir():
        return Recovery()
    fh = _lock_file(root) if fcntl is not None else None
    exclusive = False
    try:
        if fh is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                exclusive = True
            except BlockingIOError:
                exclusive = False
        referenced = set(session.exec(select(Case.stored_path)).all())
        tmp, orphans = _sweep(root, referenced, exclusive, time.time())
    finally:
        if fh is not None:
            fh.close()
    if tmp or orphans:
        log.warning(
            "image store recovery: removed %d temporary and %d unreferenced files "
            "left by an interrupted ingest",
            tmp,
            orphans,
        )
    return Recovery(tmp, orphans, exclusive)


def _sweep(root: Path, referenced: set[str], exclusive: bool, now: float) -> tuple[int, int]:
    tmp = orphans = 0
    for shard in sorted(root.iterdir()):
        if not (shard.is_dir() and _SHARD_RE.fullmatch(shard.name)):
            continue
        for path in sorted(shard.iterdir()):
            name = path.name
            if name.startswith(".tmp-"):
                if (exclusive or _older_than(path, TMP_GRACE_S, now)) and not _writer_alive(path):
                    tmp += _unlink(path)
            elif (
                _STORED_RE.fullmatch(name)
                and f"{shard.name}/{name}" not in referenced
                and (exclusive or _older_than(path, ORPHAN_GRACE_S, now))
            ):
                orphans += _unlink(path)
        if exclusive:  # nobody is writing: an emptied shard folder can go too
            with contextlib.suppress(OSError):
                shard.rmdir()  # only succeeds when the shard is empty
    return tmp, orphans
