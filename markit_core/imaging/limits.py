"""Hostile-input limits: refuse what cannot be decoded safely before decoding anything.

Two cheap checks run before any expensive work:

* **Does it look like an image at all?** A file without the DICOM preamble is
  parsed as a meta-less dataset only when its first bytes are a plausible
  first element (an even group such as 0008, a valid explicit VR or an
  implicit length that fits the file): pydicom's forced parse of a file of
  zeros takes about half a second per megabyte.
* **Does the decoded image fit the budget?** frames x rows x columns x
  samples x bytes per sample, read from the DICOM header or the raster
  headers (every page of a multi-page TIFF, without decoding one), is
  compared with one budget, ``MARKIT_MAX_DECODED_MB``. A 1.4 MB TIFF of
  300 blank pages, a PNG declaring 30000 x 30000 pixels or a DICOM header
  claiming 100 000 frames is refused in milliseconds.

The same budget caps the bytes a single uploaded file or archive member may
have (an uncompressed image cannot be bigger than its decoded pixels plus its
header), so a zip member that inflates to a gigabyte of zeros is refused from
its declared size, or from its first bytes, before it is read.
"""

from __future__ import annotations

import math
import struct
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from markit_core.errors import ImageError

__all__ = [
    "DEFAULT_MAX_DECODED_MB",
    "HEADER_ALLOWANCE",
    "SNIFF_BYTES",
    "check_dicom_size",
    "check_raster_size",
    "decoded_budget",
    "file_limit",
    "looks_like_dataset",
    "looks_like_image",
]

#: Default of ``MARKIT_MAX_DECODED_MB``.
DEFAULT_MAX_DECODED_MB = 1024
#: Bytes of a file beyond its pixels that a real image may carry (header, overlays, icons).
HEADER_ALLOWANCE = 64 << 20
#: Bytes needed to tell what a file is.
SNIFF_BYTES = 256
_RASTER_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    b"UL UN UR US UT UV".split()
)
_MAX_PAGES = 2048  # as raster.py: pages past this are never decoded
# Pillow modes -> bytes per pixel of the array MarkIt builds from them
_MODE_BYTES = {"1": 1, "L": 1, "P": 3, "LA": 1, "La": 1, "I;16": 2, "I;16L": 2, "I;16B": 2}
_MODE_BYTES |= {"I;16N": 2, "I": 4, "F": 4, "RGB": 3, "RGBA": 3, "RGBX": 3, "CMYK": 3}
_MODE_BYTES |= {"YCbCr": 3, "LAB": 3, "HSV": 3, "PA": 3, "RGBa": 3}


def decoded_budget(max_decoded_mb: float | None = None) -> int:
    """The decoded-size budget in bytes (``MARKIT_MAX_DECODED_MB``, default 1024 MB)."""
    mb = DEFAULT_MAX_DECODED_MB if max_decoded_mb is None else max_decoded_mb
    if not math.isfinite(mb) or mb <= 0:
        raise ValueError(f"decoded-size budget must be a positive number of MB, got {mb!r}")
    return int(mb * (1 << 20))


def file_limit(budget: int) -> int:
    """Largest file (or archive member) accepted under a decoded budget of ``budget`` bytes."""
    return budget + HEADER_ALLOWANCE


def _mb(n: float) -> str:
    return f"{n / (1 << 20):,.0f} MB" if n >= 10 << 20 else f"{n / (1 << 20):.1f} MB"


def _too_large(name: str, what: str, total: int, budget: int) -> ImageError:
    return ImageError(
        f"{name}: image too large to decode safely: {what} = {_mb(total)} decoded, over the "
        f"limit of {_mb(budget)} (MARKIT_MAX_DECODED_MB); nothing was decoded"
    )


# -- what a file is -------------------------------------------------------------------------


def looks_like_dataset(head: bytes, size: int) -> bool:
    """Whether ``head`` can start a DICOM dataset stored without the 128-byte preamble.

    The first element of a real dataset has an even group from 0002 to 7FE0 (or a
    private odd group), and either a valid explicit VR or an implicit length that
    fits the file; a file of zeros, text or random bytes almost never does. Both
    byte orders are tried.
    """
    if len(head) < 8:
        return False
    for order in "<>":
        group, _elem = struct.unpack(order + "HH", head[:4])
        if group in (0x0000, 0xFFFF, 0xFFFE) or group > 0x7FE0 or group in (1, 3, 5, 7):
            continue
        if head[4:6] in _VRS:
            return True
        (length,) = struct.unpack(order + "I", head[4:8])
        if length == 0xFFFFFFFF or 0 < length <= size - 8:
            return True
    return False


def looks_like_image(head: bytes, size: int) -> bool:
    """Whether a file's first bytes are DICOM (preamble or plausible start), a raster or a zip."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return head.startswith(_RASTER_MAGIC + _ZIP_MAGIC) or looks_like_dataset(head, size)


# -- decoded size -----------------------------------------------------------------------


def _int(ds: Any, keyword: str, default: int, name: str) -> int:
    value = ds.get(keyword)
    if value in (None, ""):
        return default
    try:
        number = int(str(value).strip() or default)
    except (TypeError, ValueError) as e:
        raise ImageError(f"{name}: broken DICOM header: {keyword} {value!r} is not a number") from e
    if number < 0:
        raise ImageError(f"{name}: broken DICOM header: {keyword} {number} is negative")
    return number


def check_dicom_size(ds: Any, name: str, budget: int) -> None:
    """Refuse a dataset whose decoded pixels would exceed ``budget`` bytes (header only).

    Palette colour counts three samples (it is expanded to RGB).

    Raises
    ------
    ImageError
        The header's frames x rows x columns x samples x bytes exceeds the budget.
    """
    frames = max(_int(ds, "NumberOfFrames", 1, name), 1)
    rows, cols = _int(ds, "Rows", 0, name), _int(ds, "Columns", 0, name)
    samples = max(_int(ds, "SamplesPerPixel", 1, name), 1)
    bits = max(_int(ds, "BitsAllocated", 8, name), 1)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR":
        samples = 3
    per_sample = max(1, -(-bits // 8))
    total = frames * rows * cols * samples * per_sample
    if total > budget:
        what = f"{frames} frame(s) of {rows} x {cols} x {samples} samples at {bits} bits"
        raise _too_large(name, what, total, budget)


def _raster_total(im: Image.Image, budget: int) -> tuple[int, str]:
    """Decoded bytes of every page, from headers only (stops counting past the budget)."""
    if im.format != "TIFF":  # APNG/MPO frames share the canvas size; seeking would decode
        pages = min(int(getattr(im, "n_frames", 1) or 1), _MAX_PAGES)
        w, h = im.size
        total = pages * w * h * _MODE_BYTES.get(im.mode, 4)
        return total, f"{pages} page(s) of {w} x {h} {im.mode}"
    total, pages = 0, 0
    while pages < _MAX_PAGES and total <= budget:
        try:
            im.seek(pages)  # a TIFF seek reads the page's directory, not its pixels
        except EOFError:
            break
        w, h = im.size
        total += w * h * _MODE_BYTES.get(im.mode, 4)
        pages += 1
    return total, f"{pages}{'+' if total > budget else ''} TIFF page(s)"


def check_raster_size(source: str | Path | bytes, name: str, budget: int) -> None:
    """Refuse a PNG/JPEG/TIFF/BMP whose pages would decode to more than ``budget`` bytes.

    Reads headers only (Pillow opens lazily; a TIFF page's directory is read
    without its strips). Unreadable files pass through: the decoder names their
    problem.
    """
    fp = BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        with Image.open(fp) as im:
            total, what = _raster_total(im, budget)
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: image too large to decode safely ({e})") from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error):
        return
    if total > budget:
        raise _too_large(name, what, total, budget)
