"""Decode ordinary raster images (PNG, JPEG, TIFF, BMP) with Pillow.

Public chest X-ray sets (NIH, Stanford CheXpert) ship as 8-bit PNG/JPEG, some
archives as 16-bit PNG or TIFF. Greyscale rasters become float32 frames like
DICOM so the same window/level applies; RGB files whose three channels are equal
(common for exported X-rays) are treated as greyscale for the same reason.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from markit_core.errors import ImageError
from markit_core.imaging.decoded import DecodedImage

__all__ = [
    "RASTER_MAGIC",
    "RASTER_SUFFIX",
    "decode_raster",
    "page_array",
    "raster_arrays",
    "raster_suffix",
]

#: Leading bytes of the raster formats MarkIt accepts (PNG, JPEG, TIFF LE/BE, BMP),
#: with the suffix a file of that format is stored under.
RASTER_SUFFIX: dict[bytes, str] = {
    b"\x89PNG\r\n\x1a\n": ".png",
    b"\xff\xd8\xff": ".jpg",
    b"II*\x00": ".tif",
    b"MM\x00*": ".tif",
    b"BM": ".bmp",
}
#: The leading bytes alone (for ``bytes.startswith``).
RASTER_MAGIC: tuple[bytes, ...] = tuple(RASTER_SUFFIX)
_FORMATS = frozenset({"PNG", "JPEG", "MPO", "TIFF", "BMP"})
_MAX_FRAMES = 2048


def decode_raster(source: str | Path | bytes, *, name: str | None = None) -> DecodedImage:
    """Decode a PNG/JPEG/TIFF/BMP file into a :class:`DecodedImage`.

    Parameters
    ----------
    source : str | Path | bytes
        Path or file bytes.
    name : str | None
        Name for messages; defaults to the file name.

    Returns
    -------
    DecodedImage
        8/16-bit and float greyscale as float32 frames (8-bit gets the identity
        window 128/256, deeper images fall back to the auto window); colour as
        uint8 RGB. Multi-page TIFFs become multi-frame images. EXIF orientation
        is applied so the image shows the way a photo viewer would show it.

    Raises
    ------
    ImageError
        Not a readable raster ("not an image"), an unsupported format, or a
        truncated/corrupt file.
    """
    if name is None:
        name = Path(source).name if isinstance(source, (str, Path)) else "<bytes>"
    stack = np.stack(raster_arrays(source, name=name))
    if stack.ndim == 4:
        return DecodedImage(
            name=name,
            frames=stack,
            photometric="RGB",
            source_kind="raster",
            source_photometric="RGB",
            bits_stored=8,
            value_range=(0.0, 255.0),
        )
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(stack.dtype)
    values = stack.astype(np.float32)
    window = (128.0, 256.0) if bits == 8 else (None, None)
    return DecodedImage(
        name=name,
        frames=values,
        photometric="MONOCHROME2",
        source_kind="raster",
        source_photometric="MONOCHROME2",
        window_center=window[0],
        window_width=window[1],
        bits_stored=bits,
        value_range=(float(values.min()), float(values.max())),
    )


def raster_arrays(source: str | Path | bytes, *, name: str) -> list[np.ndarray]:
    """The pages of a raster file as arrays, exactly as :func:`decode_raster` sees them.

    EXIF orientation is applied to each page (see :func:`page_array`); pages
    whose shape or type differs from the first one are left out.

    Raises
    ------
    ImageError
        As :func:`decode_raster`.
    """
    fp = BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        with Image.open(fp) as im:
            fmt = im.format or "?"
            if fmt not in _FORMATS:
                raise ImageError(
                    f"{name}: unsupported image format {fmt}; use DICOM, PNG, JPEG or TIFF"
                )
            arrays = [page_array(page) for page in _pages(im)]
    except ImageError:
        raise
    except UnidentifiedImageError as e:
        raise ImageError(f"{name}: not an image: not a DICOM or PNG/JPEG/TIFF file") from e
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: image too large to decode safely ({e})") from e
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(f"{name}: cannot decode {_fmt_hint(name)} image: {e}") from e
    first = arrays[0]
    return [a for a in arrays if a.shape == first.shape and a.dtype == first.dtype]


def raster_suffix(head: bytes) -> str | None:
    """The store suffix (``.png``, ``.jpg``, ``.tif``, ``.bmp``) of a raster file, or None."""
    return next((suffix for magic, suffix in RASTER_SUFFIX.items() if head.startswith(magic)), None)


def _pages(im: Image.Image) -> list[Image.Image]:
    pages = []
    for index, page in enumerate(ImageSequence.Iterator(im)):
        if index >= _MAX_FRAMES:
            break
        pages.append(page.copy())
    return pages


def page_array(page: Image.Image) -> np.ndarray:
    """One page, EXIF orientation applied, as 2-D greyscale (uint8/uint16/float32) or RGB.

    RGB is (H, W, 3) uint8; RGB pages whose channels are all equal come back
    as 2-D uint8 greyscale.
    """
    page = ImageOps.exif_transpose(page) or page
    mode = page.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(page).astype(np.uint16)
    if mode in ("I", "F"):
        arr = np.asarray(page)
        if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
            return arr.astype(np.uint16)
        return arr.astype(np.float32)
    if mode in ("1", "L", "LA", "La"):
        return np.asarray(page.convert("L"))
    rgb = np.asarray(page.convert("RGB"))
    if _is_grey(rgb):
        return np.ascontiguousarray(rgb[..., 0])
    return rgb


def _is_grey(rgb: np.ndarray) -> bool:
    sample = rgb[::7, ::7]
    if not (
        np.array_equal(sample[..., 0], sample[..., 1])
        and np.array_equal(sample[..., 0], sample[..., 2])
    ):
        return False
    red = rgb[..., 0]
    return bool(np.array_equal(red, rgb[..., 1]) and np.array_equal(red, rgb[..., 2]))


def _fmt_hint(name: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    return suffix.upper() if suffix else "raster"
