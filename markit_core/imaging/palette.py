"""Palette colour and deep RGB to 8-bit RGB, scaled by the declared bit depth.

Two things must come from the header, never from the pixels present:

* a palette's entry depth is the third value of its LUT Descriptor (8 or 16
  bits), so an image that only uses dark entries of a 16-bit LUT stays dark
  (scaling by the brightest value present would stretch it to full white);
* deep RGB is scaled by Bits Stored, so a 16-bit RGB image whose samples are
  all <= 255 is nearly black, as it is, not shown as if it were 8-bit.

LUT Data (OW) is kept by pydicom as the file's raw bytes; in a big-endian
file they are big-endian words, so the table is read with the transfer
syntax's byte order (pydicom's ``apply_color_lut`` reads them as
little-endian). Segmented LUTs are expanded by pydicom, which handles byte
order for them.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from markit_core.errors import ImageError

__all__ = ["palette_to_rgb", "scale_to_uint8"]

_CHANNELS = ("Red", "Green", "Blue")


def scale_to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    """Samples of ``bits`` bits to uint8: 0 -> 0, 2**bits - 1 -> 255 (clipped above)."""
    if arr.dtype == np.uint8 and bits == 8:
        return np.ascontiguousarray(arr)
    top = float(2**bits - 1)
    scaled = np.clip(arr.astype(np.float32), 0.0, top) * np.float32(255.0 / top) + np.float32(0.5)
    return scaled.astype(np.uint8)


def _lut(ds: Dataset, channel: str, entries: int, little: bool) -> np.ndarray:
    raw = bytes(ds[f"{channel}PaletteColorLookupTableData"].value)
    width = 2 if len(raw) >= 2 * entries else 1
    dtype = np.dtype(("<" if little else ">") + ("u2" if width == 2 else "u1"))
    lut = np.frombuffer(raw[: entries * width], dtype=dtype)
    if lut.size < entries:
        raise ImageError(
            f"palette {channel} LUT has {lut.size} entries, the descriptor says {entries}"
        )
    return lut.astype(np.uint16)


def palette_to_rgb(arr: np.ndarray, ds: Dataset, *, little_endian: bool, name: str) -> np.ndarray:
    """Expand palette indices to uint8 RGB with the LUT Descriptor's bit depth.

    Parameters
    ----------
    arr : ndarray
        Decoded indices (any leading frame axis).
    ds : Dataset
        Holds the Palette Color Lookup Table module.
    little_endian : bool
        Byte order of the transfer syntax the LUT Data was stored in.
    name : str
        For messages.
    """
    try:
        entries, first, bits = (int(v) for v in ds.RedPaletteColorLookupTableDescriptor)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise ImageError(f"{name}: broken palette: no usable LUT Descriptor") from e
    entries = entries or 2**16
    if bits not in (8, 16):
        raise ImageError(f"{name}: broken palette: LUT entries of {bits} bits (8 or 16 allowed)")
    if "RedPaletteColorLookupTableData" not in ds:
        from pydicom.pixels import apply_color_lut  # segmented LUTs

        return scale_to_uint8(apply_color_lut(arr, ds), bits)
    if ds.get("PixelRepresentation") == 1 and first >= 2**15:
        first -= 2**16
    try:
        luts = [_lut(ds, c, entries, little_endian) for c in _CHANNELS]
    except (KeyError, ImageError) as e:
        raise ImageError(f"{name}: broken palette: {e}") from e
    index = np.clip(arr.astype(np.int64) - first, 0, entries - 1)
    rgb = np.stack([lut[index] for lut in luts], axis=-1)
    if bits == 8 and int(rgb.max(initial=0)) > 255:
        rgb >>= 8  # 8-bit entries stored in the high byte of 16-bit words
    return scale_to_uint8(rgb, bits)
