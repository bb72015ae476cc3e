"""Safe reading of zip uploads, without ever extracting to disk.

A zip is a list of names and byte streams chosen by whoever made it. The
classic attacks are path traversal (``../../etc/cron.d/x``, ``/etc/passwd``,
``C:\\Windows\\...``), symbolic links pointing out of the extraction folder, and
decompression bombs (a few kilobytes that inflate to gigabytes, sometimes via
many central-directory entries sharing one compressed body). MarkIt never
extracts: members are read into memory one at a time, so no member name ever
becomes a path. Names are still checked, because an archive that contains
traversal names or links was made to attack someone and is refused as a
whole, with the reason. Sizes are checked twice: the central directory's
declared total before anything is read, and the bytes actually produced while
streaming, in case the directory lies.

Per-member problems that do not make the archive malicious (an encrypted or
corrupt member, an unsupported compression method, a nested archive) are
reported per member; the caller carries on with the rest.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from markit_core.errors import InputFileError

__all__ = ["ArchiveMember", "MemberError", "SafeZip", "is_os_metadata", "is_zip"]

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20
#: Files some archivers and operating systems add that are never images; skipped with a note.
_JUNK_PARTS = ("__MACOSX",)
_JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


class MemberError(Exception):
    """One member cannot be read; the rest of the archive is fine."""


def is_os_metadata(filename: str) -> bool:
    """Whether a file name (no folder) is operating-system metadata, never an image.

    ``.DS_Store``, ``Thumbs.db``, ``desktop.ini`` and macOS ``._*`` resource forks.
    """
    return filename in _JUNK_NAMES or filename.startswith("._")


def is_zip(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts like a zip archive."""
    return head[:4] in ZIP_MAGIC


@dataclass(frozen=True)
class ArchiveMember:
    """A regular-file member that passed the name checks.

    Attributes
    ----------
    name : str
        The member's path inside the archive, ``/``-separated.
    size : int
        Declared uncompressed size in bytes.
    """

    name: str
    size: int
    _info: zipfile.ZipInfo = field(repr=False, compare=False)


def _unsafe_reason(raw_name: str) -> str | None:
    """Why a member name is an attack, or None when it is a plain relative path."""
    name = raw_name.replace("\\", "/")
    if "\0" in name:
        return "contains a NUL byte"
    if name.startswith("/") or name.startswith("//"):
        return "is an absolute path"
    if _DRIVE_RE.match(name):
        return "starts with a drive letter"
    if any(part == ".." for part in PurePosixPath(name).parts) or ".." in name.split("/"):
        return "climbs out of the archive with '..'"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = (info.external_attr >> 16) & 0xFFFF
    return info.create_system == 3 and stat.S_ISLNK(mode)


class SafeZip:
    """A zip archive opened for checked, in-memory reading.

    Parameters
    ----------
    source : bytes | Path | str | BinaryIO
        The archive's bytes, a path to it, or an open binary file.
    name : str
        Display name used in every message.
    max_bytes : int
        Limit on the total uncompressed size of all members.
    max_members : int
        Limit on the number of entries (an archive of a million empty files is
        a denial of service too).

    Raises
    ------
    InputFileError
        The whole archive is refused: not a zip, corrupt directory, a member
        with an unsafe name or a symbolic link, too many members, or a declared
        total size over ``max_bytes``. The message names the archive and why.
    """

    def __init__(
        self,
        source: bytes | Path | str | BinaryIO,
        name: str,
        *,
        max_bytes: int,
        max_members: int = 100_000,
    ) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.members: list[ArchiveMember] = []
        self.skipped: list[tuple[str, str]] = []
        self._produced = 0
        fp: BinaryIO | str = (
            BytesIO(source)
            if isinstance(source, (bytes, bytearray))
            else str(source)
            if isinstance(source, (str, Path))
            else source
        )
        try:
            self._zip = zipfile.ZipFile(fp)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise InputFileError(f"{name}: not a readable zip archive ({e})") from e
        try:
            self._scan(max_members)
        except BaseException:
            self._zip.close()
            raise

    def _scan(self, max_members: int) -> None:
        infos = self._zip.infolist()
        if len(infos) > max_members:
            raise InputFileError(
                f"{self.name}: archive refused: {len(infos)} entries, more than "
                f"the limit of {max_members}"
            )
        total = 0
        for info in infos:
            reason = _unsafe_reason(info.filename)
            if reason is not None:
                raise InputFileError(
                    f"{self.name}: archive refused: member {info.filename!r} "
                    f"{reason}; nothing was extracted"
                )
            if _is_symlink(info):
                raise InputFileError(
                    f"{self.name}: archive refused: member {info.filename!r} "
                    "is a symbolic link; nothing was extracted"
                )
            total += max(info.file_size, 0)
        if total > self.max_bytes:
            raise InputFileError(
                f"{self.name}: archive refused: it unpacks to {_mb(total)}, more than the "
                f"limit of {_mb(self.max_bytes)} (MARKIT_MAX_ARCHIVE_MB); nothing was extracted"
            )
        for info in infos:
            if info.is_dir():
                continue
            clean = info.filename.replace("\\", "/")
            while clean.startswith("./"):
                clean = clean[2:]
            parts = PurePosixPath(clean).parts
            if any(p in _JUNK_PARTS for p in parts) or is_os_metadata(parts[-1]):
                self.skipped.append((clean, "operating-system metadata file, skipped"))
                continue
            self.members.append(ArchiveMember(clean, info.file_size, info))

    def read(self, member: ArchiveMember) -> bytes:
        """The member's bytes, enforcing the declared and the archive-wide limits.

        Raises
        ------
        MemberError
            Encrypted, corrupt (bad CRC, truncated) or unsupported member.
        InputFileError
            The member produced more bytes than the central directory declared
            or than the archive limit allows: the archive lied and is refused.
        """
        info = member._info
        if info.flag_bits & 0x1:
            raise MemberError("encrypted archive member; upload it unencrypted")
        budget = min(info.file_size, self.max_bytes - self._produced)
        out = bytearray()
        try:
            with self._zip.open(info) as stream:
                while True:
                    chunk = stream.read(_CHUNK)
                    if not chunk:
                        break
                    out += chunk
                    if len(out) > budget:
                        raise InputFileError(
                            f"{self.name}: archive refused: member {member.name!r} unpacks to "
                            f"more than its declared size or the archive limit of "
                            f"{_mb(self.max_bytes)}"
                        )
        except InputFileError:
            raise
        except NotImplementedError as e:
            raise MemberError(f"unsupported compression ({e})") from e
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
            raise MemberError(f"corrupt archive member ({e})") from e
        self._produced += len(out)
        return bytes(out)

    def head(self, member: ArchiveMember, n: int) -> bytes:
        """The member's first ``n`` bytes (at most), without inflating the rest.

        Raises
        ------
        MemberError
            Encrypted, corrupt or unsupported member.
        """
        if member._info.flag_bits & 0x1:
            raise MemberError("encrypted archive member; upload it unencrypted")
        try:
            with self._zip.open(member._info) as stream:
                return stream.read(n)
        except NotImplementedError as e:
            raise MemberError(f"unsupported compression ({e})") from e
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as e:
            raise MemberError(f"corrupt archive member ({e})") from e

    def close(self) -> None:
        """Close the underlying zip file."""
        self._zip.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"
