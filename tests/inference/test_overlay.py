"""Grad-CAM overlays: RGBA built by MarkIt, aligned with the displayed view at any zoom/pan."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from markit_core.imaging.decode import decode_any
from markit_core.imaging.display import ViewState, image_to_canvas, render, view_mapping
from markit_core.inference.overlay import (
    cam_overlay,
    colour_lut,
    composite,
    full_image_mapping,
    whole_image_png,
)

COLS, ROWS = 640, 480


def _hot_cam(shape=(56, 56), box=(0.60, 0.25, 0.70, 0.40)) -> np.ndarray:
    """A map that is 1 inside a box given in image fractions (x0, y0, x1, y1), else 0."""
    cam = np.zeros(shape, np.float32)
    h, w = shape
    x0, y0, x1, y1 = box
    cam[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)] = 1.0
    return cam


@pytest.mark.parametrize(
    "zoom, pan",
    [(None, None), (0.5, None), (1.0, (400.0, 160.0)), (2.0, (420.0, 150.0)), (5.0, (415, 155))],
)
def test_overlay_follows_zoom_and_pan(zoom, pan) -> None:
    view = ViewState(zoom=zoom, pan_center=pan, viewport=(500, 400))
    mapping = view_mapping((COLS, ROWS), view)
    rgba = cam_overlay(_hot_cam(), mapping, opacity=0.8)
    assert rgba.shape == (mapping.size[1], mapping.size[0], 4) and rgba.dtype == np.uint8
    # the hot box, in image pixels, lands where the viewer draws those image pixels
    bx0, by0, bx1, by1 = 0.60 * COLS, 0.25 * ROWS, 0.70 * COLS, 0.40 * ROWS
    cx0, cy0 = image_to_canvas(bx0, by0, mapping)
    cx1, cy1 = image_to_canvas(bx1, by1, mapping)
    alpha = rgba[..., 3].astype(float)
    ys, xs = np.nonzero(alpha > 0.5 * 0.8 * 255)
    assert xs.size > 0
    tol = 2 + max(mapping.scale_x, mapping.scale_y) * COLS / 56  # one map cell + 2 px
    assert (
        abs(xs.min() - max(cx0, 0)) <= tol and abs(xs.max() + 1 - min(cx1, mapping.size[0])) <= tol
    )
    assert (
        abs(ys.min() - max(cy0, 0)) <= tol and abs(ys.max() + 1 - min(cy1, mapping.size[1])) <= tol
    )
    assert alpha.max() == round(0.8 * 255)


def test_overlay_matches_the_full_resolution_overlay_cropped() -> None:
    cam = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    full = cam_overlay(cam, full_image_mapping((COLS, ROWS)), 1.0)
    mapping = view_mapping(
        (COLS, ROWS), ViewState(zoom=1.0, pan_center=(200, 300), viewport=(300, 200))
    )
    x0, y0, x1, y1 = mapping.crop
    np.testing.assert_array_equal(cam_overlay(cam, mapping, 1.0), full[y0:y1, x0:x1])


def test_overlay_has_the_size_of_the_rendered_view_and_blends() -> None:
    from tests.inference.test_preprocess import _pixels, _png

    decoded = decode_any(_png(_pixels(ROWS, COLS)))
    view = ViewState(zoom=1.7, pan_center=(300, 200), viewport=(420, 360))
    rendered = render(decoded, view, fmt=None)
    rgba = cam_overlay(_hot_cam(), rendered.mapping, opacity=0.5)
    assert rgba.shape[:2] == rendered.pixels.shape[:2]
    mixed = composite(rendered.pixels, rgba)
    assert mixed.shape == (*rendered.pixels.shape[:2], 3)
    untouched = rgba[..., 3] == 0
    np.testing.assert_array_equal(mixed[untouched][:, 0], rendered.pixels[untouched])


def test_alpha_is_opacity_times_activation_and_colours_run_cold_to_hot() -> None:
    cam = np.linspace(0, 1, 11, dtype=np.float32)[None, :].repeat(3, 0)
    mapping = full_image_mapping((11, 3))
    for opacity in (0.0, 0.3, 1.0):
        rgba = cam_overlay(cam, mapping, opacity)
        np.testing.assert_allclose(rgba[1, :, 3], opacity * cam[1] * 255, atol=0.6)
    lut = colour_lut()
    assert lut[0, 2] > lut[0, 0] and lut[-1, 0] > lut[-1, 2]  # blue for low, red for high
    with pytest.raises(ValueError, match="opacity"):
        cam_overlay(cam, mapping, 1.5)
    with pytest.raises(ValueError, match="2-D"):
        cam_overlay(np.zeros((2, 2, 2)), mapping)


def test_the_whole_image_png_is_bounded_and_keeps_the_aspect_and_the_activation() -> None:
    cam = np.zeros((8, 8), dtype=np.float32)
    cam[:, 4:] = 1.0  # hot on the right half
    png = Image.open(io.BytesIO(whole_image_png(cam, (2000, 1000), max_side=400)))
    assert (png.mode, png.size) == ("RGBA", (400, 200))
    alpha = np.asarray(png)[..., 3]
    assert (
        alpha[:, :150].max() == 0 and alpha[:, 250:].min() == 255
    )  # opacity is left to the viewer
    small = Image.open(io.BytesIO(whole_image_png(cam, (30, 20))))
    assert small.size == (30, 20)  # never enlarged
    with pytest.raises(ValueError, match="image size"):
        whole_image_png(cam, (0, 10))
