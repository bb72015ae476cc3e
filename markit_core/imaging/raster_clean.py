"""Strip embedded metadata from PNG, JPEG, TIFF and BMP uploads without touching pixels.

Screenshots and exports of radiographs carry text that can identify a
patient: PNG text chunks, JPEG EXIF/XMP/comment segments, TIFF description
and artist tags. DICOM files go through the PS3.15 profile (``deid.py``);
ordinary images go through here before they are stored.

* PNG: ancillary text, time and EXIF chunks are dropped; image chunks are
  copied byte for byte.
* JPEG: APP1-APP13 and APP15 segments (EXIF, XMP, IPTC, vendor data) and
  comments are dropped; APP0 (JFIF) and APP14 (Adobe colour transform, needed
  to decode correctly) stay, and the entropy-coded scan is copied byte for byte.
* TIFF: rewritten by Pillow from the decoded frames with no tags beyond the
  image structure (lossless).
* BMP carries no metadata and is kept as it is.
"""

from __future__ import annotations

import struct
from io import BytesIO

from PIL import Image, ImageSequence

from markit_core.errors import ImageError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
_JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF, Adobe
_JPEG_COMMENT = 0xFE
_JPEG_SOS = 0xDA


def clean_raster(data: bytes, suffix: str, name: str) -> bytes:
    """``data`` without identifying metadata; ``suffix`` is the detected type (".png", ...)."""
    if suffix == ".png":
        return _clean_png(data, name)
    if suffix == ".jpg":
        return _clean_jpeg(data, name)
    if suffix == ".tif":
        return _clean_tiff(data, name)
    return data


def _clean_png(data: bytes, name: str) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise ImageError(f"{name}: not a PNG file")
    out, pos = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ImageError(f"{name}: truncated PNG chunk {kind.decode('latin-1')!r}")
        if kind not in _PNG_DROP:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


def _clean_jpeg(data: bytes, name: str) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise ImageError(f"{name}: not a JPEG file")
    out, pos = [b"\xff\xd8"], 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ImageError(f"{name}: malformed JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos:pos + 2 + length]
        if marker == _JPEG_SOS:  # scan data and everything after it is kept as is
            out.append(data[pos:])
            return b"".join(out)
        is_app = 0xE1 <= marker <= 0xEF and marker not in _JPEG_KEEP_APP
        if not (is_app or marker == _JPEG_COMMENT):
            out.append(segment)
        pos += 2 + length
    raise ImageError(f"{name}: JPEG has no image scan")


def _clean_tiff(data: bytes, name: str) -> bytes:
    try:
        with Image.open(BytesIO(data)) as im:
            frames = [frame.copy() for frame in ImageSequence.Iterator(im)]
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ImageError(f"{name}: cannot read TIFF: {e}") from e
    buf = BytesIO()
    frames[0].save(buf, "TIFF", save_all=len(frames) > 1, append_images=frames[1:], tiffinfo={})
    return buf.getvalue()
