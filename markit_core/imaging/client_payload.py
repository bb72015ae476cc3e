"""Pixels for a viewer that windows, zooms and pans in the browser.

The server-side pipeline (:mod:`.display`) renders 8-bit pictures, so every
window or zoom change is a round trip. A browser viewer instead receives the
image once, keeps the modality values and applies window/level itself. This
module packs a decoded image into one binary payload for that:

``b"MKPX"`` · uint32 LE header length · UTF-8 JSON header (padded with spaces so the
pixels start 8-byte aligned; offsets in it count from its end) · pixel bytes (all
frames, row-major).

An overlay (an AI heat map) travels on its own, as ``b"MKPX"`` · header with
``"kind": "overlay"`` · one RGBA PNG covering the whole image
(:func:`overlay_payload`): turning it on, or picking another label, then costs a
few hundred kilobytes instead of the image again, and opacity is applied in the
browser.

Greyscale pixels travel as uint16 little-endian *stored* values with a linear
``value = stored * slope + intercept`` back to modality units (slope 1 whenever the
range fits in 16 bits, so integer data is exact at full resolution). Images larger
than ``max_side`` on their long side are block-averaged by an integer factor first
(Pillow ``reduce``), so a 2048 x 2048 radiograph becomes 1024 x 1024 (2 MB) and a
window step in the browser touches a million pixels. Colour images travel as
uint8 RGB. The header carries the presets computed by
:func:`.window.window_for_preset` so the browser's presets equal the server's.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.window import PRESETS, window_for_preset

__all__ = [
    "MAGIC",
    "DEFAULT_MAX_SIDE",
    "PixelPayload",
    "encode_pixels",
    "pack",
    "overlay_payload",
    "pixel_payload",
    "read_header",
]

MAGIC = b"MKPX"
DEFAULT_MAX_SIDE = 1024
#: Multi-frame images are reduced further so one payload stays below this size.
MAX_PAYLOAD_BYTES = 96 << 20


@dataclass(frozen=True)
class PixelPayload:
    """A packed payload and the facts the page needs without parsing it.

    Attributes
    ----------
    data : bytes
        The binary payload (see the module docstring).
    factor : int
        Image pixels per payload pixel along each axis (1 = full resolution).
    header : dict
        The JSON header as a dict.
    """

    data: bytes
    factor: int
    header: dict[str, Any]


def _factor(decoded: DecodedImage, max_side: int) -> int:
    long_side = max(decoded.cols, decoded.rows)
    factor = max(1, math.ceil(long_side / max(1, max_side)))
    bytes_per_px = 3 if decoded.is_color else 2
    while (
        decoded.n_frames * math.ceil(decoded.rows / factor) * math.ceil(decoded.cols / factor)
    ) * bytes_per_px > MAX_PAYLOAD_BYTES:
        factor += 1
    return factor


def _reduce(frame: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return frame
    return np.asarray(Image.fromarray(frame).reduce(factor))


def _grey_levels(decoded: DecodedImage) -> tuple[float, float]:
    """(slope, intercept) of the uint16 encoding: exact when the range fits 16 bits."""
    lo, hi = (float(v) for v in decoded.value_range)
    span = max(hi - lo, 0.0)
    integral = float(lo).is_integer() and span <= 65535
    slope = 1.0 if integral else max(span / 65535.0, 1e-12)
    return slope, lo


def encode_pixels(pixels: np.ndarray, is_color: bool, slope: float, intercept: float) -> bytes:
    """Pixels as a payload carries them: uint8 RGB, or uint16 LE (value - intercept) / slope."""
    if is_color:
        return np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    stored = np.subtract(pixels, np.float32(intercept), dtype=np.float32)
    if slope != 1.0:
        stored /= np.float32(slope)
    stored += np.float32(0.5)
    np.clip(stored, 0.0, 65535.0, out=stored)
    return stored.astype("<u2").tobytes()


def _pixels(decoded: DecodedImage, factor: int, slope: float, intercept: float) -> bytes:
    return b"".join(
        encode_pixels(_reduce(decoded.frame(i), factor), decoded.is_color, slope, intercept)
        for i in range(decoded.n_frames)
    )


def _presets(decoded: DecodedImage) -> dict[str, list[float]]:
    return {p: [float(v) for v in window_for_preset(decoded, p, 0)] for p in PRESETS}


def _header(decoded: DecodedImage, case_id: int, factor: int) -> dict[str, Any]:
    slope, intercept = _grey_levels(decoded)
    rows = math.ceil(decoded.rows / factor) if factor > 1 else decoded.rows
    cols = math.ceil(decoded.cols / factor) if factor > 1 else decoded.cols
    lut = None
    if decoded.voi_lut is not None and decoded.header_window is None:
        lut = {
            "first": int(decoded.voi_lut.first_mapped),
            "table": [int(v) for v in decoded.voi_lut.table],
        }
    return {
        "case": int(case_id),
        "kind": "rgb8" if decoded.is_color else "u16",
        "cols": cols,
        "rows": rows,
        "frames": decoded.n_frames,
        "image_cols": decoded.cols,
        "image_rows": decoded.rows,
        "factor": factor,
        "slope": slope,
        "intercept": intercept,
        "range": [float(v) for v in decoded.value_range],
        "function": (decoded.voi_function or "LINEAR").upper(),
        "monochrome1": bool(decoded.invert_for_display),
        "presets": {} if decoded.is_color else _presets(decoded),
        "voi_lut": lut,
    }


def pixel_payload(
    decoded: DecodedImage,
    case_id: int,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
) -> PixelPayload:
    """Pack a decoded image for the browser viewer.

    Parameters
    ----------
    decoded : DecodedImage
        The image (greyscale in modality units, or RGB).
    case_id : int
        The case it belongs to (the browser keys payloads by it).
    max_side : int
        Longest side, in payload pixels, before integer block-averaging applies.

    Returns
    -------
    PixelPayload
        The bytes, the reduction factor and the header.
    """
    factor = _factor(decoded, max_side)
    header = _header(decoded, case_id, factor)
    pixels = _pixels(decoded, factor, header["slope"], header["intercept"])
    # offsets count from the end of the (padded) header, so they are known up front
    header["pixels"] = [0, len(pixels)]
    return PixelPayload(data=pack(header, pixels), factor=factor, header=header)


def overlay_payload(case_id: int, png: bytes) -> bytes:
    """Pack an RGBA PNG covering the whole image of ``case_id`` (drawn over its pixels).

    The header's ``overlay_id`` (a digest of the PNG) lets the reader tell which
    overlay it holds, so a stale one is never painted over another label's.
    """
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("an overlay must be a PNG image")
    header = {
        "case": int(case_id),
        "kind": "overlay",
        "overlay_id": hashlib.sha256(png).hexdigest()[:16],
        "overlay": [0, len(png)],
    }
    return pack(header, png)


def pack(header: dict[str, Any], body: bytes) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-(8 + len(text))) % 8)
    return MAGIC + struct.pack("<I", len(text)) + text + body


def read_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a payload (what the browser reads first); for tests and tools."""
    if data[:4] != MAGIC:
        raise ValueError("not a MarkIt pixel payload (bad magic)")
    (length,) = struct.unpack("<I", data[4:8])
    return json.loads(data[8 : 8 + length].decode())
