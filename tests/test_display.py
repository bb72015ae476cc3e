"""Display pipeline: window/level, presets, zoom/pan at native resolution, mapping, cache."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from markit_core.errors import ImageError
from markit_core.imaging.cache import ImageCache, configure_cache, content_key, get_decoded
from markit_core.imaging.decode import decode_any
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.display import (
    ViewState,
    canvas_to_image,
    fit_zoom,
    image_to_canvas,
    render,
    view_mapping,
    zoom_about,
)
from markit_core.imaging.window import (
    CT_PRESETS,
    apply_window,
    auto_window,
    window_for_preset,
)


def _grey(array: np.ndarray, **kw: object) -> DecodedImage:
    frames = np.asarray(array, dtype=np.float32)
    frames = frames[None] if frames.ndim == 2 else frames
    fields: dict = {
        "photometric": "MONOCHROME2",
        "value_range": (float(frames.min()), float(frames.max())),
    }
    fields.update(kw)
    return DecodedImage(name="t", frames=frames, **fields)


def _pattern(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, cols)).astype(np.uint8)


# -- window/level ---------------------------------------------------------------------


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize(("center", "width"), [(128, 256), (100, 101), (30.5, 7), (200, 1000)])
def test_window_matches_pydicom_formula(function: str, center: float, width: float) -> None:
    values = np.linspace(-50, 300, 1401).astype(np.float32)
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored, ds.PixelRepresentation = 8, 0
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = center, width, function
    reference = apply_windowing(values.astype(np.float64), ds)  # 0..255 floats
    ours = apply_window(values, center, width, function=function)
    assert ours.dtype == np.uint8
    assert np.abs(ours - reference).max() <= 0.5 + 1e-3


def test_window_identity_invert_and_threshold() -> None:
    ramp = np.arange(256, dtype=np.float32)
    np.testing.assert_array_equal(apply_window(ramp, 128, 256), ramp.astype(np.uint8))
    inverted = apply_window(ramp, 128, 256, invert=True)
    np.testing.assert_array_equal(inverted, 255 - ramp.astype(np.uint8))
    threshold = apply_window(ramp, 100, 1)
    assert threshold[99] == 0 and threshold[100] == 255


def test_auto_window_uses_percentiles_of_a_subsample(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    frame = rng.normal(1000, 200, (2500, 2048)).astype(np.float32)
    frame[:10, :10] = 60000  # outliers the percentiles must ignore
    sizes: list[int] = []
    real_percentile = np.percentile

    def spy(a, q, *args, **kwargs):
        sizes.append(np.asarray(a).size)
        return real_percentile(a, q, *args, **kwargs)

    monkeypatch.setattr("markit_core.imaging.window.np.percentile", spy)
    center, width = auto_window(frame)
    lo, hi = real_percentile(frame, [1, 99])
    assert abs(center - (lo + hi) / 2) < 10 and abs(width - (hi - lo)) < 20
    assert sizes and max(sizes) <= 100_000  # a subsample, not all 5 M values


def test_presets_ct_absolute_and_radiograph_relative() -> None:
    ct = decode_any(get_testdata_file("CT_small.dcm"))
    assert ct.modality == "CT"
    for name, window in CT_PRESETS.items():
        assert window_for_preset(ct, name) == window
    assert window_for_preset(ct, "soft_tissue") == CT_PRESETS["chest"]
    with pytest.raises(ValueError, match="unknown window preset"):
        window_for_preset(ct, "brain")

    ramp = np.tile(np.linspace(0, 4095, 512, dtype=np.float32), (64, 1))
    mono2 = _grey(ramp, modality="DX")
    lung, chest, bone = (window_for_preset(mono2, p)[0] for p in ("lung", "chest", "bone"))
    assert lung < chest < bone  # lung opens the dark end, bone the bright end
    mono1 = _grey(ramp, modality="DX", photometric="MONOCHROME1", invert_for_display=True)
    lung1, chest1, bone1 = (window_for_preset(mono1, p)[0] for p in ("lung", "chest", "bone"))
    assert lung1 > chest1 > bone1  # high values are dark on MONOCHROME1
    auto = window_for_preset(mono2, "auto")
    assert window_for_preset(mono2, "header") == auto  # no header window: falls back
    with_header = _grey(ramp, window_center=700.0, window_width=300.0)
    assert window_for_preset(with_header, "header") == (700.0, 300.0)


def test_render_uses_header_window_then_auto_and_user_override() -> None:
    ramp = np.tile(np.linspace(0, 4095, 256, dtype=np.float32), (16, 1))
    header = _grey(ramp, window_center=2048.0, window_width=4096.0)
    view = ViewState(viewport=(256, 16), zoom=1.0)
    assert render(header, view).window == (2048.0, 4096.0)
    assert render(_grey(ramp), view).window == auto_window(ramp)
    narrowed = render(header, ViewState(viewport=(256, 16), zoom=1.0, window_width=100.0))
    assert narrowed.window == (2048.0, 100.0)
    assert narrowed.pixels[0, 0] == 0 and narrowed.pixels[0, -1] == 255


# -- zoom, pan, mapping ---------------------------------------------------------------


def test_full_resolution_zoom_shows_native_pixels_exactly() -> None:
    pattern = _pattern(400, 600)
    image = _grey(pattern, window_center=128.0, window_width=256.0)
    view = ViewState(zoom=1.0, pan_center=(300.0, 200.0), viewport=(100, 80))
    out = render(image, view, fmt="png")
    assert out.mapping.crop == (250, 160, 350, 240) and out.mapping.size == (100, 80)
    np.testing.assert_array_equal(out.pixels, pattern[160:240, 250:350])
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(out.data))), out.pixels)


def test_zoom_in_repeats_native_pixels_and_pan_is_clamped() -> None:
    pattern = _pattern(50, 60, seed=1)
    image = _grey(pattern, window_center=128.0, window_width=256.0)
    out = render(image, ViewState(zoom=4.0, pan_center=(-100.0, 999.0), viewport=(40, 40)))
    assert out.mapping.crop == (0, 40, 10, 50)  # clamped into the bottom-left corner
    crop = pattern[40:50, 0:10]
    np.testing.assert_array_equal(
        render(
            image, ViewState(zoom=4.0, pan_center=(-100.0, 999.0), viewport=(40, 40)), fmt=None
        ).pixels,
        np.repeat(np.repeat(crop, 4, axis=0), 4, axis=1),
    )


def test_downsampled_view_crops_before_resizing() -> None:
    # A bright column just left of the crop must not bleed into the view, which it
    # would if the whole image were resized first and then cropped.
    # The crop starts at an odd column, so a whole-image 2:1 reduction would put
    # column 50 and 51 in one output pixel.
    base = np.zeros((200, 220), np.float32)
    base[:, 50] = 255.0
    image = _grey(base, window_center=128.0, window_width=256.0)
    view = ViewState(zoom=0.5, pan_center=(126.0, 100.0), viewport=(75, 100))
    out = render(image, view, fmt=None)
    assert out.mapping.crop == (51, 0, 201, 200) and out.mapping.size == (75, 100)
    assert out.pixels.max() == 0
    whole_then_crop = np.asarray(Image.fromarray(base).reduce(2))[:, 25:100]
    assert whole_then_crop.max() > 100  # the wrong order would have shown it


def test_fit_to_screen_keeps_aspect() -> None:
    image = _grey(np.zeros((1000, 2000), np.float32))
    out = render(image, ViewState(viewport=(1024, 1024)), fmt=None)
    assert out.mapping.crop == (0, 0, 2000, 1000) and out.mapping.size == (1024, 512)
    assert fit_zoom((2000, 1000), (1024, 1024)) == pytest.approx(0.512)


@pytest.mark.parametrize("zoom", [None, 0.37, 1.0, 2.5, 7.0])
@pytest.mark.parametrize("pan", [None, (100.0, 50.0), (511.0, 300.0), (900.0, 700.0)])
def test_coordinate_conversion_round_trips(zoom: float | None, pan) -> None:
    mapping = view_mapping((800, 600), ViewState(zoom=zoom, pan_center=pan, viewport=(640, 480)))
    x0, y0, x1, y1 = mapping.crop
    assert 0 <= x0 < x1 <= 800 and 0 <= y0 < y1 <= 600
    rng = np.random.default_rng(0)
    for cx, cy in rng.uniform(0, 1, (50, 2)) * mapping.size:
        ix, iy = canvas_to_image(cx, cy, mapping)
        assert x0 <= ix <= x1 and y0 <= iy <= y1
        bx, by = image_to_canvas(ix, iy, mapping)
        assert abs(bx - cx) < 0.5 and abs(by - cy) < 0.5
    for px, py in rng.integers((x0, y0), (x1, y1), (50, 2)):
        # an image pixel's center lands in the canvas and maps back to that pixel
        cx, cy = image_to_canvas(px + 0.5, py + 0.5, mapping)
        ix, iy = canvas_to_image(cx, cy, mapping)
        assert abs(ix - (px + 0.5)) < 0.5 and abs(iy - (py + 0.5)) < 0.5
    corner = image_to_canvas(x1, y1, mapping)
    assert corner == pytest.approx(mapping.size)


@pytest.mark.parametrize("zoom", [1.0, 3.0])
def test_mapping_agrees_with_rendered_pixels(zoom: float) -> None:
    pattern = _pattern(120, 160, seed=2)
    image = _grey(pattern, window_center=128.0, window_width=256.0)
    out = render(image, ViewState(zoom=zoom, pan_center=(70.0, 50.0), viewport=(90, 60)), fmt=None)
    for cx in range(0, out.mapping.size[0], 7):
        for cy in range(0, out.mapping.size[1], 5):
            ix, iy = canvas_to_image(cx + 0.5, cy + 0.5, out.mapping)
            assert out.pixels[cy, cx] == pattern[int(iy), int(ix)]


def test_zoom_about_keeps_the_point_under_the_cursor() -> None:
    view = ViewState(viewport=(500, 400))
    mapping = view_mapping((2000, 1600), view)
    point = (320.0, 150.0)
    target = canvas_to_image(*point, mapping)
    zoomed = zoom_about(view, mapping, point, 2.0)
    after = view_mapping((2000, 1600), zoomed)
    assert image_to_canvas(*target, after) == pytest.approx(point, abs=1.0)
    assert zoom_about(zoomed, after, point, None) == ViewState(viewport=(500, 400))


def test_colour_render_and_invert() -> None:
    rgb = np.zeros((1, 4, 4, 3), np.uint8)
    rgb[..., 0] = 250
    image = DecodedImage(name="c", frames=rgb, photometric="RGB", value_range=(0.0, 255.0))
    out = render(image, ViewState(zoom=1.0, viewport=(4, 4), invert=True), fmt=None)
    assert out.pixels[0, 0].tolist() == [5, 255, 255] and out.window is None
    with pytest.raises(ImageError, match="frame 1 out of range"):
        render(image, ViewState(frame=1))
    with pytest.raises(ValueError, match="unknown image format"):
        render(image, ViewState(), fmt="webp")


def test_render_is_pure() -> None:
    image = _grey(_pattern(300, 300))
    view = ViewState(zoom=1.7, pan_center=(120.0, 80.0), viewport=(200, 150), window_width=90.0)
    first, second = render(image, view), render(image, view)
    assert first.data == second.data and first.mapping == second.mapping
    assert not image.frames.flags.writeable


# -- cache ------------------------------------------------------------------------------


def test_cache_hits_on_window_change_instead_of_decoding() -> None:
    path = get_testdata_file("MR_small.dcm")
    data = Path(path).read_bytes()
    key = content_key(data)
    assert key == hashlib.sha256(data).hexdigest()
    cache = configure_cache(64 << 20)
    calls = []

    def loader() -> DecodedImage:
        calls.append(1)
        return decode_any(data, name="MR_small.dcm")

    renders = []
    for width in (400.0, 800.0, 1600.0):  # the page reruns on each slider move
        decoded = get_decoded(key, loader)
        renders.append(render(decoded, ViewState(window_center=600.0, window_width=width)))
    assert len(calls) == 1 and cache.misses == 1 and cache.hits == 2
    assert len({r.data for r in renders}) == 3


def test_cache_evicts_least_recently_used_by_size() -> None:
    def image(seed: int) -> DecodedImage:
        return _grey(np.full((100, 100), seed, np.float32))  # 40,000 bytes each

    cache = ImageCache(max_bytes=100_000)
    cache.get("a", lambda: image(1))
    cache.get("b", lambda: image(2))
    cache.get("a", lambda: pytest.fail("a should be cached"))
    cache.get("c", lambda: image(3))  # over budget: evicts b, the least recently used
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.evictions == 1 and cache.current_bytes == 80_000
    big = _grey(np.zeros((200, 200), np.float32))  # 160,000 bytes: returned, not kept
    assert cache.get("big", lambda: big) is big and "big" not in cache and len(cache) == 2
    with pytest.raises(ImageError):
        cache.get("bad", lambda: (_ for _ in ()).throw(ImageError("bad: broken")))
    assert "bad" not in cache and cache.misses == 5 and cache.hits == 1


def test_cache_decodes_once_under_concurrent_requests() -> None:
    cache = ImageCache()
    calls = []

    def slow_loader() -> DecodedImage:
        calls.append(1)
        time.sleep(0.05)
        return _grey(np.zeros((8, 8), np.float32))

    results: list[DecodedImage] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", slow_loader)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1
    assert cache.misses == 1 and cache.hits == 7


def test_dicom_header_values_drive_default_view() -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    decoded = decode_any(get_testdata_file("MR_small.dcm"))
    out = render(decoded, ViewState(zoom=1.0, viewport=(64, 64)), fmt=None)
    reference = apply_windowing(ds.pixel_array.astype(np.float64), ds)
    scaled = (reference + 32768) / 65535 * 255  # signed 16-bit output range -> 0..255
    assert np.abs(out.pixels - scaled).max() <= 1.0
