"""Turn upload items (files, folders, zip archives, raw bytes) into a flat list of files.

The list is built before anything is ingested so the progress bar knows the
total, and every file it will ever mention is in it: each entry either loads
its bytes later or already carries the reason it is refused (an unreadable
file, a whole archive refused, a member past the upload limit). Bytes are
loaded lazily, one file at a time, so a folder of thousands of images is
never held in memory at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from markit_core.errors import InputFileError
from markit_core.imaging.archive import MemberError, SafeZip, is_os_metadata, is_zip
from markit_core.imaging.limits import SNIFF_BYTES, looks_like_image

#: One upload item: a display name and the file's bytes or a path (file or folder).
Item = tuple[str, "bytes | str | Path"]


_NOT_IMAGE = "not an image: not a DICOM or PNG/JPEG/TIFF file"


class ArchiveAborted(Exception):
    """An archive turned out to lie about its size mid-way; stop reading it."""


@dataclass
class Entry:
    """One file to ingest.

    Attributes
    ----------
    name : str
        Display name (``upload.zip/dir/a.dcm`` for archive members).
    load : Callable[[], bytes] | None
        Returns the bytes; raises ``InputFileError``/``OSError``/``MemberError``
        with a reason. None when the entry is refused up front.
    refused : str
        The reason, when the entry is refused before loading.
    archive : SafeZip | None
        The archive the entry comes from (so a lying archive can be abandoned).
    """

    name: str
    load: Callable[[], bytes] | None = None
    refused: str = ""
    archive: SafeZip | None = None


class Expansion:
    """The flat entry list for a batch, owning the archives it opened.

    Parameters
    ----------
    items : Iterable[Item]
        Upload items.
    max_archive_bytes : int
        Limit per archive (total uncompressed) and per loose file.
    max_files : int
        Entries past this count are refused with the reason.
    max_file_bytes : int | None
        Limit per file and per archive member (see ``limits.file_limit``); a
        file or member whose first bytes are not an image is refused before it
        is read in full.
    """

    def __init__(
        self,
        items: Iterable[Item],
        *,
        max_archive_bytes: int,
        max_files: int,
        max_file_bytes: int | None = None,
    ) -> None:
        self.entries: list[Entry] = []
        self._archives: list[SafeZip] = []
        self._max_bytes = max_archive_bytes
        self._max_file = min(max_archive_bytes, max_file_bytes or max_archive_bytes)
        for name, source in items:
            self._add_item(str(name), source)
        for entry in self.entries[max_files:]:
            entry.load, entry.refused = (
                None,
                (
                    f"over the limit of {max_files} files per upload "
                    "(MARKIT_MAX_UPLOAD_FILES); upload it separately"
                ),
            )

    def close(self) -> None:
        """Close every archive opened for this batch."""
        for archive in self._archives:
            archive.close()
        self._archives.clear()

    def __enter__(self) -> Expansion:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- items -------------------------------------------------------------------

    def _add_item(self, name: str, source: bytes | str | Path) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if is_zip(data[:4]):
                self._add_archive(name, data)
            else:
                self.entries.append(Entry(name, load=_returns(data)))
            return
        path = Path(source)
        if path.is_dir():
            self._add_folder(name, path)
        elif path.is_file():
            self._add_file(name, path)
        elif not path.exists():
            self.entries.append(Entry(name, refused="no such file or folder"))
        else:
            self.entries.append(Entry(name, refused="not a regular file"))

    def _add_folder(self, name: str, root: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            here = Path(dirpath)
            for d in list(dirnames):
                if (here / d).is_symlink():
                    rel = (here / d).relative_to(root).as_posix()
                    self.entries.append(
                        Entry(f"{name}/{rel}", refused="symbolic link to a folder, not followed")
                    )
            for fname in sorted(filenames):
                path = here / fname
                display = f"{name}/{path.relative_to(root).as_posix()}"
                if is_os_metadata(fname):
                    self.entries.append(
                        Entry(display, refused="operating-system metadata file, skipped")
                    )
                    continue
                self._add_file(display, path)

    def _add_file(self, name: str, path: Path) -> None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(SNIFF_BYTES)
            size = path.stat().st_size
        except OSError as e:
            self.entries.append(Entry(name, refused=f"cannot read file: {e.strerror or e}"))
            return
        if is_zip(head):
            self._add_archive(name, path)
        elif size > self._max_file:
            self.entries.append(
                Entry(
                    name,
                    refused=f"file is {size >> 20} MB, over the {self._max_file >> 20} MB limit "
                    "(MARKIT_MAX_DECODED_MB)",
                )
            )
        elif size and not looks_like_image(head, size):
            self.entries.append(Entry(name, refused=_NOT_IMAGE))
        else:
            self.entries.append(Entry(name, load=path.read_bytes))

    def _add_archive(self, name: str, source: bytes | Path) -> None:
        try:
            archive = SafeZip(source, name, max_bytes=self._max_bytes)
        except InputFileError as e:
            self.entries.append(Entry(name, refused=strip_name(str(e), name)))
            return
        self._archives.append(archive)
        for member_name, reason in archive.skipped:
            self.entries.append(Entry(f"{name}/{member_name}", refused=reason))
        for member in archive.members:
            display = f"{name}/{member.name}"

            def load(m=member, a=archive) -> bytes:
                if m.size > self._max_file:
                    raise MemberError(
                        f"unpacks to {m.size >> 20} MB, over the {self._max_file >> 20} MB a "
                        "file may have (MARKIT_MAX_DECODED_MB)"
                    )
                head = a.head(m, SNIFF_BYTES)  # a bomb of zeros is refused from its start
                if is_zip(head[:4]):
                    raise MemberError("nested archive: upload the inner zip on its own")
                if head and not looks_like_image(head, m.size):
                    raise MemberError(_NOT_IMAGE)
                return a.read(m)

            self.entries.append(Entry(display, load=load, archive=archive))


def load_entry(entry: Entry) -> bytes:
    """Load an entry's bytes; every failure becomes ``InputFileError`` or ``ArchiveAborted``."""
    if entry.load is None:
        raise InputFileError(entry.refused or "refused")
    try:
        return entry.load()
    except InputFileError as e:
        if entry.archive is not None:  # the archive lied about its size: abandon it
            raise ArchiveAborted(strip_name(str(e), entry.archive.name)) from e
        raise
    except MemberError as e:
        raise InputFileError(str(e)) from e
    except OSError as e:
        raise InputFileError(f"cannot read file: {e.strerror or e}") from e


def strip_name(message: str, name: str) -> str:
    """``message`` without a leading ``"<name>: "`` (report lines already name the file)."""
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _returns(data: bytes) -> Callable[[], bytes]:
    """A loader for bytes that are already in memory."""
    return lambda: data
