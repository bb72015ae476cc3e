"""Window/level: presets and the vectorised VOI transform to 8-bit display values.

All arithmetic is float32 on the (already cropped and downsampled) region that is
about to be shown, so a window change costs O(viewport pixels), not O(image).
"""

from __future__ import annotations

import math

import numpy as np

from markit_core.errors import ImageError
from markit_core.imaging.decoded import DecodedImage

__all__ = [
    "CT_PRESETS",
    "PRESETS",
    "RELATIVE_PRESETS",
    "apply_window",
    "auto_window",
    "window_for_preset",
]

#: Preset names offered by the viewer. "header" = the file's own window (or VOI LUT),
#: "auto" = 1st..99th percentile of the frame; the others are anatomical.
PRESETS: tuple[str, ...] = ("header", "auto", "chest", "lung", "bone")
_ALIASES = {"soft_tissue": "chest", "soft-tissue": "chest", "mediastinum": "chest"}

#: CT presets in Hounsfield units (center, width): the usual radiology values.
CT_PRESETS: dict[str, tuple[float, float]] = {
    "chest": (40.0, 400.0),  # soft tissue / mediastinum
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}

#: Radiographs (DX, CR, rasters) have no absolute scale, so presets are fractions of
#: the auto (1st..99th percentile) range measured in *displayed brightness*:
#: (center, width) with 0 = darkest shown, 1 = brightest. "lung" opens up the dark
#: lung fields, "bone" the bright end; MONOCHROME1 is handled by flipping the axis.
RELATIVE_PRESETS: dict[str, tuple[float, float]] = {
    "chest": (0.5, 0.9),
    "lung": (0.35, 0.6),
    "bone": (0.68, 0.6),
}

_AUTO_SAMPLES = 65_536
_AUTO_PERCENTILES = (1.0, 99.0)


def auto_window(frame: np.ndarray) -> tuple[float, float]:
    """Window spanning the 1st..99th percentile of ``frame``.

    Computed on a strided subsample of at most ~65k pixels: the percentiles of a
    2048x2500 radiograph move by well under one grey level, at a fraction of the
    cost of sorting 5 M values.

    Parameters
    ----------
    frame : numpy.ndarray
        2-D greyscale frame in modality units.

    Returns
    -------
    tuple[float, float]
        (center, width), width at least 1.
    """
    lo, hi = _percentiles(frame)
    return (lo + hi) / 2.0, max(hi - lo, 1.0)


def window_for_preset(decoded: DecodedImage, preset: str, frame: int = 0) -> tuple[float, float]:
    """Return (center, width) in modality units for a named preset.

    Parameters
    ----------
    decoded : DecodedImage
        The image the preset is for (CT presets are absolute HU, others relative).
    preset : str
        One of :data:`PRESETS` (``soft_tissue`` is accepted for ``chest``).
    frame : int
        Frame used for percentile-based presets.

    Returns
    -------
    tuple[float, float]
        (center, width). For "header" on an image whose header has only a VOI LUT,
        the LUT's input range (a slider position; rendering with the view's window
        left ``None`` applies the LUT itself). Without any header window, "header"
        falls back to "auto".

    Raises
    ------
    ValueError
        Unknown preset name.
    """
    key = _ALIASES.get(preset, preset)
    if key not in PRESETS:
        raise ValueError(f"unknown window preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if decoded.is_color:
        return 128.0, 256.0
    if key == "header":
        if decoded.header_window is not None:
            return decoded.header_window
        if decoded.voi_lut is not None:
            return decoded.voi_lut.approx_window()
        key = "auto"
    pixels = decoded.frame(frame)
    if key == "auto":
        return auto_window(pixels)
    if (decoded.modality or "").upper() == "CT":
        return CT_PRESETS[key]
    lo, hi = _percentiles(pixels)
    span = max(hi - lo, 1.0)
    c_frac, w_frac = RELATIVE_PRESETS[key]
    # MONOCHROME1: high values are shown dark
    center = hi - c_frac * span if decoded.invert_for_display else lo + c_frac * span
    return center, max(w_frac * span, 1.0)


def apply_window(
    values: np.ndarray,
    center: float,
    width: float,
    *,
    invert: bool = False,
    function: str = "LINEAR",
) -> np.ndarray:
    """Map modality values to ``uint8`` display values (DICOM PS3.3 C.11.2.1.2).

    LINEAR follows the standard's formula exactly (``c - 0.5``, ``w - 1``), so a
    window of 128/256 on 8-bit data is the identity. The transform is folded into
    one multiply-add in float32 (inversion folded in too), then clipped and
    truncated with a +0.5 offset for rounding: three passes over the region.

    Parameters
    ----------
    values : numpy.ndarray
        Modality values, any real dtype.
    center, width : float
        Window center and width in modality units.
    invert : bool
        Show high values dark (MONOCHROME1 or the user's invert toggle).
    function : str
        ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID`` (VOI LUT Function).

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of the same shape.
    """
    function = (function or "LINEAR").upper()
    if function == "SIGMOID":
        out = np.subtract(values, center, dtype=np.float32)
        out *= np.float32(-4.0 / max(width, 1e-6))
        np.exp(out, out=out)
        out += 1.0
        np.divide(255.0, out, out=out)
        if invert:
            np.subtract(255.0, out, out=out)
        out += 0.5
        return out.astype(np.uint8)
    if function == "LINEAR_EXACT":
        if width <= 0:
            raise ImageError(f"window width must be > 0, got {width}")
        lower, span = center - width / 2.0, width
    else:
        width = max(width, 1.0)
        lower = center - 0.5 - (width - 1.0) / 2.0
        span = width - 1.0
    if span <= 0:  # width 1: a threshold at the center
        out = (np.asarray(values) > center - 0.5).astype(np.uint8) * np.uint8(255)
        return (255 - out) if invert else out
    scale = 255.0 / span
    offset = -lower * scale
    if invert:
        scale, offset = -scale, 255.0 - offset
    out = np.multiply(values, np.float32(scale), dtype=np.float32)
    out += np.float32(offset + 0.5)
    np.clip(out, 0.0, 255.5, out=out)
    return out.astype(np.uint8)


def _percentiles(frame: np.ndarray) -> tuple[float, float]:
    step = max(1, math.isqrt(max(frame.size // _AUTO_SAMPLES, 1)))
    sample = frame[::step, ::step]
    sample = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(sample, _AUTO_PERCENTILES)
    return float(lo), float(hi)
