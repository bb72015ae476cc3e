"""Content-addressed image store.

Every stored image is named by the SHA-256 of its (de-identified) bytes and
sharded by the first two hex digits (``ab/cdef...``), the layout git and most
object stores use, so no folder grows past a few thousand entries and a file's
name proves its content. Files are written to a temporary file inside the
store and renamed into place, so a reader never sees half a file and a crash
leaves at most a ``.tmp-*`` file behind, which :mod:`.recovery` removes on the
next start or ingest (a writer holds a lock on its temporary file, so a live
one is never mistaken for a leftover). Paths are only ever built from a hash,
never from a user-supplied name, so nothing is written outside the store.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from markit_core.config import Settings
from markit_core.errors import ImageError, NotFoundError

try:  # POSIX: a writer locks its temporary file, so crash recovery can tell it is alive
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_SUFFIX_RE = re.compile(r"^\.[a-z0-9]{1,8}$")
_REL_RE = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{62}(\.[a-z0-9]{1,8})?$")


@dataclass(frozen=True)
class StoredFile:
    """Outcome of :meth:`ImageStore.put`.

    Attributes
    ----------
    digest : str
        SHA-256 hex digest of the bytes.
    relpath : str
        Path relative to the store root (what ``Case.stored_path`` keeps).
    created : bool
        True when this call wrote the file; False when identical bytes were
        already stored. Only a caller that created a file may remove it again
        when its database transaction fails.
    """

    digest: str
    relpath: str
    created: bool


def sha256_hex(data: bytes) -> str:
    """SHA-256 hex digest of ``data``: a stored file's name, and the decoded-image cache key."""
    return hashlib.sha256(data).hexdigest()


class ImageStore:
    """A folder of immutable files named by their SHA-256.

    Parameters
    ----------
    root : Path
        The store folder (``settings.store_dir``); created on first write.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageStore:
        """The store under ``settings.store_dir``."""
        return cls(settings.store_dir)

    # -- paths -------------------------------------------------------------------

    def relpath_for(self, digest: str, suffix: str = "") -> str:
        """``ab/cdef...<suffix>`` for a digest; refuses anything that is not a SHA-256.

        The suffix (``.dcm``, ``.png``) only helps humans browsing the store; it
        is validated so it can never carry a path separator.
        """
        if not _HASH_RE.fullmatch(digest or ""):
            raise ImageError(f"not a SHA-256 digest: {digest!r}")
        if suffix and not _SUFFIX_RE.fullmatch(suffix):
            raise ImageError(f"invalid store suffix {suffix!r}")
        return f"{digest[:2]}/{digest[2:]}{suffix}"

    def path_of(self, relpath: str) -> Path:
        """Absolute path for a stored ``relpath``; refuses paths that leave the store."""
        if not _REL_RE.fullmatch(relpath or ""):
            raise ImageError(f"not a store path: {relpath!r}")
        parts = relpath.split("/")
        return self.root / parts[0] / parts[1]

    # -- writing -----------------------------------------------------------------

    def put(self, data: bytes, suffix: str = "") -> StoredFile:
        """Store ``data`` under its hash (idempotent) and return where it is.

        The bytes go to a temporary file in the shard folder, are flushed to
        disk, and are renamed into place atomically, so concurrent writers of the
        same content simply both succeed.
        """
        digest = sha256_hex(data)
        rel = self.relpath_for(digest, suffix)
        target = self.path_of(rel)
        if target.exists():
            return StoredFile(digest, rel, created=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if target.exists():  # another writer won the race with identical bytes
                os.unlink(tmp_name)
                return StoredFile(digest, rel, created=False)
            os.replace(tmp_name, target)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return StoredFile(digest, rel, created=True)

    def remove(self, relpath: str) -> None:
        """Delete a stored file (used only to undo a write whose case row failed)."""
        self.path_of(relpath).unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------

    def exists(self, relpath: str) -> bool:
        """Whether ``relpath`` is in the store."""
        return self.path_of(relpath).is_file()

    def read(self, relpath: str, *, verify: bool = False) -> bytes:
        """The bytes stored at ``relpath``.

        Parameters
        ----------
        relpath : str
            As returned by :meth:`put` (``Case.stored_path``).
        verify : bool
            Re-hash the bytes and raise ``ImageError`` if they no longer match
            the name (a file changed on disk behind MarkIt's back).
        """
        path = self.path_of(relpath)
        try:
            data = path.read_bytes()
        except FileNotFoundError as e:
            raise NotFoundError(f"image {relpath} is missing from the store") from e
        if verify:
            expected = relpath.replace("/", "")[:64]
            if sha256_hex(data) != expected:
                raise ImageError(f"image {relpath} was altered on disk (hash mismatch)")
        return data

    def read_by_hash(self, digest: str) -> bytes:
        """The bytes whose SHA-256 is ``digest``, whatever suffix they were stored with."""
        rel = self.relpath_for(digest)
        shard = self.root / rel.split("/")[0]
        for candidate in sorted(shard.glob(digest[2:] + "*")) if shard.is_dir() else []:
            if candidate.name == digest[2:] or candidate.name.startswith(digest[2:] + "."):
                return self.read(f"{digest[:2]}/{candidate.name}")
        raise NotFoundError(f"no stored image with hash {digest}")
