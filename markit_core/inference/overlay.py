"""Grad-CAM maps as RGBA overlays, aligned with the displayed view at any zoom and pan.

A map comes at the model's input size and covers the whole image (preprocessing
stretches the whole image to the input size). For a view, every canvas pixel is
taken back to image coordinates (``ViewMapping``: crop and scale), then to map
coordinates, and the map is sampled bilinearly there; so the overlay lines up
with the rendered picture pixel for pixel, whatever the crop and zoom. Colour
from a jet-like map; alpha = opacity x activation.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from markit_core.imaging.display import ViewMapping

# jet: dark blue -> blue -> cyan -> yellow -> red -> dark red, at these activations
_STOPS = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0], dtype=np.float32)
_COLOURS = np.array(
    [[0, 0, 128], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]],
    dtype=np.float32,
)


def colour_lut() -> np.ndarray:
    """The 256-entry RGB colour map (uint8, ``(256, 3)``)."""
    t = np.linspace(0.0, 1.0, 256, dtype=np.float32)
    return np.stack([np.interp(t, _STOPS, _COLOURS[:, c]) for c in range(3)], axis=1).astype(
        np.uint8
    )


_LUT = colour_lut()


def sample_cam(cam: np.ndarray, mapping: ViewMapping) -> np.ndarray:
    """The map's activation under each canvas pixel of ``mapping``: float32 ``(h, w)``."""
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2 or cam.size == 0:
        raise ValueError(f"a Grad-CAM map must be 2-D, got shape {cam.shape}")
    cols, rows = mapping.image_size
    out_w, out_h = mapping.size
    x0, y0 = mapping.crop[0], mapping.crop[1]
    # canvas pixel centre -> image coordinate -> map coordinate (pixel-centre convention)
    img_x = x0 + (np.arange(out_w, dtype=np.float64) + 0.5) / mapping.scale_x
    img_y = y0 + (np.arange(out_h, dtype=np.float64) + 0.5) / mapping.scale_y
    map_x = img_x * cam.shape[1] / cols - 0.5
    map_y = img_y * cam.shape[0] / rows - 0.5
    ix0, wx = _taps(map_x, cam.shape[1])
    iy0, wy = _taps(map_y, cam.shape[0])
    ix1 = np.minimum(ix0 + 1, cam.shape[1] - 1)
    iy1 = np.minimum(iy0 + 1, cam.shape[0] - 1)
    top = cam[iy0][:, ix0] * (1 - wx) + cam[iy0][:, ix1] * wx
    bottom = cam[iy1][:, ix0] * (1 - wx) + cam[iy1][:, ix1] * wx
    return (top * (1 - wy[:, None]) + bottom * wy[:, None]).astype(np.float32)


def cam_overlay(cam: np.ndarray, mapping: ViewMapping, opacity: float = 0.5) -> np.ndarray:
    """RGBA ``(h, w, 4)`` uint8 overlay of ``mapping.size`` for a map in [0, 1].

    Parameters
    ----------
    cam : numpy.ndarray
        Grad-CAM map (any size) covering the whole image.
    mapping : ViewMapping
        The viewer's crop and scale (``markit_core.imaging.display.view_mapping``).
    opacity : float
        0..1; the alpha of a pixel is ``opacity * activation``.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within 0..1, got {opacity}")
    activation = np.clip(sample_cam(cam, mapping), 0.0, 1.0)
    rgba = np.empty((*activation.shape, 4), dtype=np.uint8)
    rgba[..., :3] = _LUT[(activation * 255.0 + 0.5).astype(np.intp)]
    rgba[..., 3] = (opacity * activation * 255.0 + 0.5).astype(np.uint8)
    return rgba


def full_image_mapping(image_size: tuple[int, int]) -> ViewMapping:
    """The mapping of an unzoomed, uncropped view of an image of (cols, rows)."""
    cols, rows = image_size
    return ViewMapping(
        crop=(0, 0, cols, rows),
        size=(cols, rows),
        scale_x=1.0,
        scale_y=1.0,
        image_size=(cols, rows),
    )


def whole_image_png(cam: np.ndarray, image_size: tuple[int, int], max_side: int = 512) -> bytes:
    """The map as an RGBA PNG over the whole image (alpha = activation), for the browser reader.

    The browser scales it onto the image and applies the opacity itself, so one PNG
    serves every zoom, pan and opacity. A map is coarse (the model's input size), so
    ``max_side`` pixels on the long side lose nothing and keep the PNG small.
    """
    cols, rows = image_size
    if cols <= 0 or rows <= 0 or max_side <= 0:
        raise ValueError(f"bad image size {image_size} or max_side {max_side}")
    scale = min(1.0, max_side / max(cols, rows))
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    mapping = ViewMapping(
        crop=(0, 0, cols, rows),
        size=size,
        scale_x=size[0] / cols,
        scale_y=size[1] / rows,
        image_size=(cols, rows),
    )
    buf = io.BytesIO()
    Image.fromarray(cam_overlay(cam, mapping, opacity=1.0), "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def composite(display: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """Alpha-blend an overlay onto display pixels (grey or RGB uint8) -> RGB uint8."""
    base = display if display.ndim == 3 else np.repeat(display[..., None], 3, axis=2)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    mixed = base.astype(np.float32) * (1 - alpha) + rgba[..., :3].astype(np.float32) * alpha
    return (mixed + 0.5).astype(np.uint8)


def _taps(coord: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    clipped = np.clip(coord, 0.0, n - 1.0)
    base = np.floor(clipped).astype(np.intp)
    return base, (clipped - base).astype(np.float32)
