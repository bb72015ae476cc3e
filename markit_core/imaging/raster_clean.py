"""Strip embedded metadata from PNG, JPEG, TIFF and BMP uploads without touching pixels.

Screenshots and exports of radiographs carry text that can identify a
patient: PNG text chunks, JPEG EXIF/XMP/comment segments, TIFF description
and artist tags. DICOM files go through the PS3.15 profile (``deid.py``);
ordinary images go through here before they are stored.

* PNG: ancillary text, time and EXIF chunks are dropped; image chunks
  (the ``iCCP`` colour profile included) are copied byte for byte.
* JPEG: APP1-APP13 and APP15 segments (EXIF, XMP, IPTC, vendor data) and
  comments are dropped, except APP2 segments holding an ICC colour profile;
  APP0 (JFIF) and APP14 (Adobe colour transform, needed to decode correctly)
  stay, and the entropy-coded scan is copied byte for byte.
* TIFF: rewritten by Pillow from the decoded frames with no tags beyond the
  image structure (lossless), orientation already applied.
* BMP carries no metadata and is kept as it is.

The EXIF Orientation tag goes with the rest of the EXIF data, but the decoder
(:func:`~markit_core.imaging.raster.decode_raster`) applies it, so dropping it
alone would turn a portrait photo of a film on its side. A PNG or JPEG whose
orientation is not 1 is therefore stored as a lossless PNG of the pixels
already turned the way the decoder shows the upload (its ICC profile kept when
the colours were not converted); :func:`clean_raster` says which suffix to
store the result under.
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import NamedTuple

import numpy as np
from PIL import ExifTags, Image, ImageOps, ImageSequence

from markit_core.errors import ImageError
from markit_core.imaging.raster import raster_arrays

__all__ = ["CleanRaster", "clean_raster"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
_JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF, Adobe
_JPEG_APP2 = 0xE2
_ICC_PREFIX = b"ICC_PROFILE\0"
_JPEG_COMMENT = 0xFE
_JPEG_SOS = 0xDA
_RGB_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA")
_TURNING = range(2, 9)  # EXIF orientations that flip or rotate (1 = as stored)


class CleanRaster(NamedTuple):
    """What to store for a raster upload: the cleaned bytes and their store suffix."""

    data: bytes
    suffix: str


def clean_raster(data: bytes, suffix: str, name: str) -> CleanRaster:
    """``data`` without identifying metadata, and the suffix to store it under.

    Parameters
    ----------
    data : bytes
        The uploaded file.
    suffix : str
        Its detected type (``.png``, ``.jpg``, ``.tif``, ``.bmp``).
    name : str
        Name for messages.

    Returns
    -------
    CleanRaster
        ``(data, suffix)``; the suffix is ``.png`` for a PNG or JPEG whose
        EXIF orientation had to be applied to the pixels (see the module
        docstring; ``.tif`` for a multi-picture JPEG), else ``suffix``. The
        result decodes to the same pixels as the upload.

    Raises
    ------
    ImageError
        The file is malformed.
    """
    if suffix in (".png", ".jpg"):
        clean = _clean_png(data, name) if suffix == ".png" else _clean_jpeg(data, name)
        # checked after the structure, whose errors are clearer; a multi-picture JPEG keeps
        # all its pictures, re-encoded losslessly without their metadata
        if _turned(data, name) or (suffix == ".jpg" and _pictures(data) > 1):
            return _oriented_png(data, name)
        return CleanRaster(clean, suffix)
    if suffix == ".tif":
        return CleanRaster(_clean_tiff(data, name), suffix)
    return CleanRaster(data, suffix)


def _pictures(data: bytes) -> int:
    """How many pictures Pillow finds in a JPEG (MPO files hold several)."""
    with Image.open(BytesIO(data)) as im:
        return int(getattr(im, "n_frames", 1))


def _turned(data: bytes, name: str) -> bool:
    """Whether the decoder would flip or rotate some page (EXIF/XMP orientation not 1)."""
    try:
        with Image.open(BytesIO(data)) as im:
            for index, page in enumerate(ImageSequence.Iterator(im)):
                if index >= 2048:
                    break
                if page.getexif().get(ExifTags.Base.Orientation, 1) in _TURNING:
                    return True
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ImageError(f"{name}: cannot read the image's orientation: {e}") from e
    return False


def _oriented_png(data: bytes, name: str) -> CleanRaster:
    """The decoded (already turned) pixels as a lossless PNG, or a TIFF for several pages."""
    arrays = raster_arrays(data, name=name)
    with Image.open(BytesIO(data)) as im:
        source_mode, icc = im.mode, im.info.get("icc_profile")
    pages = [Image.fromarray(np.ascontiguousarray(a)) for a in arrays]
    buf = BytesIO()
    if len(pages) == 1 and pages[0].mode in ("L", "I;16", "RGB"):
        # the profile describes the upload's colour space: keep it unless the decoder
        # changed that space (CMYK -> RGB, an RGB file of equal channels -> grey)
        same_space = (source_mode in _RGB_MODES) == (pages[0].mode == "RGB")
        extra = {"icc_profile": bytes(icc)} if icc and same_space else {}
        pages[0].save(buf, "PNG", **extra)
        return CleanRaster(buf.getvalue(), ".png")
    pages[0].save(buf, "TIFF", save_all=len(pages) > 1, append_images=pages[1:], tiffinfo={})
    return CleanRaster(buf.getvalue(), ".tif")


def _clean_png(data: bytes, name: str) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise ImageError(f"{name}: not a PNG file")
    out, pos = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
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
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        if marker == _JPEG_SOS:  # the scans are copied as they are, up to the end of the image
            # Inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker,
            # so the first FF D9 is the image's end. Whatever follows (a second picture with
            # its own EXIF, appended data) is dropped; multi-picture files never get here.
            eoi = data.find(b"\xff\xd9", pos)
            out.append(data[pos:] if eoi < 0 else data[pos : eoi + 2])
            return b"".join(out)
        is_app = 0xE1 <= marker <= 0xEF and marker not in _JPEG_KEEP_APP
        if marker == _JPEG_APP2 and segment[4 : 4 + len(_ICC_PREFIX)] == _ICC_PREFIX:
            is_app = False  # colour profile: needed to show the colours as uploaded
        if not (is_app or marker == _JPEG_COMMENT):
            out.append(segment)
        pos += 2 + length
    raise ImageError(f"{name}: JPEG has no image scan")


def _clean_tiff(data: bytes, name: str) -> bytes:
    try:
        with Image.open(BytesIO(data)) as im:
            # exif_transpose copies the frame with its orientation applied (Pillow >= 11
            # already applies it on load; the copy then is as it is)
            frames = [ImageOps.exif_transpose(frame) for frame in ImageSequence.Iterator(im)]
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad files
        raise ImageError(f"{name}: cannot read TIFF: {e}") from e
    buf = BytesIO()
    frames[0].save(buf, "TIFF", save_all=len(frames) > 1, append_images=frames[1:], tiffinfo={})
    return buf.getvalue()
