"""A size-limited folder of instances fetched from archives for referenced cases.

A case left in the archive (``markit_core.imaging.archive_images``) has no file
in the image store; its de-identified instance is fetched on first view and
kept here, so the next view, the review pages, AI and exports read it locally.
The folder is bounded by total bytes (``MARKIT_ARCHIVE_CACHE_MB``) and evicts
the least recently used files first; everything in it can be fetched again, so
deleting the folder loses nothing.

Several app processes may share the folder: files are written to a temporary
name and renamed into place, "recently used" is the file's modification time
(set explicitly on each read, so the order does not depend on the file system's
timestamp granularity), and a file another process already evicted is simply
missing, never half-read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from markit_core.config import Settings

__all__ = ["ArchiveCache", "CacheUsage"]

_SUFFIX = ".dcm"


@dataclass(frozen=True)
class CacheUsage:
    """What the cache holds: number of files and their total size in bytes."""

    files: int
    bytes: int


class ArchiveCache:
    """Least-recently-used files on disk, bounded by their total size.

    Parameters
    ----------
    root : Path
        The cache folder (``settings.archive_cache_dir``); created on first write.
    max_bytes : int
        Upper bound on the total size of the files kept. A file larger than the
        bound is not kept at all (the caller still has its bytes).
    """

    _clock_lock = threading.Lock()
    _last_ns = 0

    def __init__(self, root: Path, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveCache:
        """The cache under ``settings.archive_cache_dir``, sized by ``archive_cache_mb``."""
        return cls(settings.archive_cache_dir, int(settings.archive_cache_mb) << 20)

    def path_for(self, key: str) -> Path:
        """Where ``key`` is kept: named by its SHA-256, so no key can leave the folder."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / digest[:2] / (digest[2:] + _SUFFIX)

    def get(self, key: str) -> bytes | None:
        """The bytes kept for ``key`` (marking them recently used), or None."""
        path = self.path_for(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        self._touch(path)
        return data

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.path_for(key).is_file()

    def put(self, key: str, data: bytes) -> bool:
        """Keep ``data`` for ``key`` and evict the oldest files past the bound.

        Returns False (and keeps nothing) when ``data`` alone exceeds the bound.
        """
        if len(data) > self.max_bytes:
            return False
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._touch(path)
        self.evict(keep=path)
        return True

    def evict(self, keep: Path | None = None) -> int:
        """Remove least recently used files until the total fits; returns how many went."""
        with self._lock:
            entries = self._entries()
            total = sum(size for _, size, _ in entries)
            removed = 0
            for path, size, _ in sorted(entries, key=lambda e: (e[2], e[0].name)):
                if total <= self.max_bytes:
                    break
                if path == keep:
                    continue
                path.unlink(missing_ok=True)
                total -= size
                removed += 1
            return removed

    def usage(self) -> CacheUsage:
        """Files held and their total size."""
        entries = self._entries()
        return CacheUsage(len(entries), sum(size for _, size, _ in entries))

    def clear(self) -> int:
        """Remove every cached file (they are fetched again when needed); returns how many."""
        with self._lock:
            entries = self._entries()
            for path, _, _ in entries:
                path.unlink(missing_ok=True)
            return len(entries)

    def _entries(self) -> list[tuple[Path, int, int]]:
        """``(path, size, last use in ns)`` of every complete file (temporary ones skipped)."""
        out: list[tuple[Path, int, int]] = []
        if not self.root.is_dir():
            return out
        for shard in os.scandir(self.root):
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard.path):
                if entry.name.startswith(".tmp-") or not entry.name.endswith(_SUFFIX):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:  # evicted by another process meanwhile
                    continue
                out.append((Path(entry.path), st.st_size, st.st_mtime_ns))
        return out

    @classmethod
    def _touch(cls, path: Path) -> None:
        """Set the file's last-use time to now, strictly after every earlier touch here."""
        with cls._clock_lock:
            now = max(time.time_ns(), cls._last_ns + 1)
            cls._last_ns = now
        with contextlib.suppress(FileNotFoundError):  # evicted by another process meanwhile
            os.utime(path, ns=(now, now))
