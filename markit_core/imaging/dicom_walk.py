"""A fast structural walk over a DICOM file's elements, run before pydicom parses it.

pydicom reads a run of zero bytes as a long series of empty ``(0000,0000)``
elements, about half a second (or more) per megabyte, so a header followed
by 200 MB of zeros holds a worker for minutes. Real datasets list their
elements in ascending tag order (PS3.5 section 7.1), so this walk reads only
each element's tag and length, skips its value, and refuses the file at the
first element that is out of order, in a forbidden group, or nested too
deeply. A genuine header has a few hundred elements; the walk is capped at
:data:`MAX_ELEMENTS`. A file cut short simply ends the walk: the decoder
reports truncation with its own, clearer message.
"""

from __future__ import annotations

import struct

from markit_core.errors import ImageError

__all__ = ["MAX_ELEMENTS", "check_structure"]

MAX_ELEMENTS = 500_000
_MAX_DEPTH = 32
_LONG_VRS = frozenset(
    (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV")
)
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_IMPLICIT = "1.2.840.10008.1.2"
_BIG = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")


class _Refused(Exception):
    pass


class _Walker:
    def __init__(self, data: bytes, implicit: bool, little: bool) -> None:
        self.data, self.implicit = data, implicit
        self.o = "<" if little else ">"
        self.count = 0

    def _tag(self, pos: int) -> int:
        group, elem = struct.unpack_from(self.o + "HH", self.data, pos)
        return (group << 16) | elem

    def dataset(self, pos: int, end: int, depth: int, meta: bool = False) -> int:
        """Walk elements from ``pos`` to ``end`` (or an item delimiter); return the end."""
        prev = -1
        while pos + 8 <= end:
            tag = self._tag(pos)
            if meta and tag >> 16 != 0x0002:
                return pos  # the file meta group ends here
            if tag == _ITEM_END and depth > 0:
                return pos + 8
            group = tag >> 16
            if tag <= prev or group in (0x0000, 0xFFFF):
                raise _Refused(
                    f"element ({group:04X},{tag & 0xFFFF:04X}) at byte {pos} breaks the "
                    "ascending tag order of a DICOM dataset (zero-filled or corrupt data)"
                )
            prev = tag
            self.count += 1
            if self.count > MAX_ELEMENTS:
                raise _Refused(f"more than {MAX_ELEMENTS} elements")
            pos, length, vr = self._header(pos, meta)
            if length == 0xFFFFFFFF:
                pos = self.sequence(pos, end, depth + 1)
            elif vr == b"SQ" or (vr is None and _is_sequence(tag)):
                self.sequence(pos, min(pos + length, end), depth + 1)
                pos += length
            else:
                pos += length
        return end

    def _header(self, pos: int, meta: bool) -> tuple[int, int, bytes | None]:
        data = self.data
        if self.implicit and not meta:
            (length,) = struct.unpack_from(self.o + "I", data, pos + 4)
            return pos + 8, length, None
        o = "<" if meta else self.o
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                return len(data), 0, vr
            (length,) = struct.unpack_from(o + "I", data, pos + 8)
            return pos + 12, length, vr
        (length,) = struct.unpack_from(o + "H", data, pos + 6)
        return pos + 8, length, vr

    def sequence(self, pos: int, end: int, depth: int) -> int:
        """Walk items until the sequence delimiter (or ``end``); return the end."""
        if depth > _MAX_DEPTH:
            raise _Refused(f"sequences nested more than {_MAX_DEPTH} deep")
        while pos + 8 <= end:
            tag = self._tag(pos)
            (length,) = struct.unpack_from(self.o + "I", self.data, pos + 4)
            pos += 8
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM:
                raise _Refused(f"byte {pos - 8}: expected a sequence item, found tag {tag:08X}")
            self.count += 1
            if self.count > MAX_ELEMENTS:
                raise _Refused(f"more than {MAX_ELEMENTS} elements")
            if length == 0xFFFFFFFF:
                pos = self.dataset(pos, end, depth)
            else:
                pos += length  # a defined-length item or a pixel-data fragment
        return end


def _is_sequence(tag: int) -> bool:
    from pydicom.datadict import dictionary_VR

    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def _meta_syntax(data: bytes, start: int) -> tuple[str, int]:
    """Transfer syntax named in the file meta group and where the dataset begins."""
    walker = _Walker(data, implicit=False, little=True)
    end = walker.dataset(start, len(data), 0, meta=True)
    syntax, pos = "", start
    while pos + 8 <= end:
        group, elem = struct.unpack_from("<HH", data, pos)
        pos, length, _vr = walker._header(pos, meta=True)
        if (group, elem) == (0x0002, 0x0010):
            syntax = data[pos : pos + length].decode("ascii", "replace").strip("\0 ")
        pos += length
    return syntax, end


def _guess(data: bytes, pos: int) -> tuple[bool, bool]:
    """(implicit, little endian) of a dataset without a transfer syntax, from its first element."""
    vr = data[pos + 4 : pos + 6]
    implicit = not (len(vr) == 2 and vr.isalpha() and vr.isupper())
    le, be = struct.unpack_from("<H", data, pos)[0], struct.unpack_from(">H", data, pos)[0]
    return implicit, le <= be or implicit


def check_structure(data: bytes, name: str) -> None:
    """Refuse bytes that cannot be a DICOM dataset, before a (slow) pydicom parse.

    Raises
    ------
    ImageError
        An element out of ascending order or in a forbidden group (a run of
        zeros, random bytes), too many elements or sequences nested too deeply.
    """
    try:
        if len(data) >= 132 and data[128:132] == b"DICM":
            syntax, start = _meta_syntax(data, 132)
            if syntax in _DEFLATED:
                return  # compressed dataset: pydicom inflates it (sizes are checked after)
            if syntax:
                implicit, little = syntax == _IMPLICIT, syntax != _BIG
            else:  # no transfer syntax: guess from the first element, as pydicom does
                implicit, little = _guess(data, start)
        else:
            start = 0
            implicit, little = _guess(data, 0)
        _Walker(data, implicit, little).dataset(start, len(data), 0)
    except _Refused as e:
        raise ImageError(f"{name}: not an image: not a valid DICOM file ({e})") from None
    except struct.error:
        return  # cut short: the decoder reports the truncation
