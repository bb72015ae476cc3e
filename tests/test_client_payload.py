"""The browser viewer's pixel payload: exact 16-bit levels, reduction, presets, layout."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from markit_core.imaging.client_payload import MAGIC, overlay_payload, pixel_payload, read_header
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.window import PRESETS, window_for_preset


def _grey(frames: np.ndarray, **kw) -> DecodedImage:
    frames = frames.astype(np.float32)
    return DecodedImage(
        "test", frames, "MONOCHROME2", value_range=(float(frames.min()), float(frames.max())), **kw
    )


def _pixels(data: bytes) -> np.ndarray:
    (length,) = struct.unpack("<I", data[4:8])
    header = read_header(data)
    start = 8 + length + header["pixels"][0]
    assert start % 8 == 0  # so the browser can view them as a Uint16Array in place
    raw = data[start : start + header["pixels"][1]]
    dtype = "<u2" if header["kind"] == "u16" else np.uint8
    return np.frombuffer(raw, dtype=dtype)


def test_integer_ct_values_travel_exactly_with_their_presets():
    rng = np.random.default_rng(1)
    hu = rng.integers(-1024, 3071, (1, 300, 200))
    decoded = _grey(hu, modality="CT", window_center=40.0, window_width=400.0)
    payload = pixel_payload(decoded, 7)
    header = payload.header
    assert payload.data[:4] == MAGIC and read_header(payload.data) == header
    assert (header["case"], header["kind"], header["factor"]) == (7, "u16", 1)
    assert (header["cols"], header["rows"], header["slope"]) == (200, 300, 1.0)
    values = _pixels(payload.data).astype(np.float64) * header["slope"] + header["intercept"]
    assert np.array_equal(values.reshape(300, 200), hu[0])
    assert header["presets"] == {p: list(window_for_preset(decoded, p)) for p in PRESETS}
    assert header["presets"]["lung"] == [-600.0, 1500.0]


def test_large_image_is_block_averaged_to_the_display_size():
    image = np.arange(2048 * 2048, dtype=np.float64).reshape(1, 2048, 2048) % 4096
    payload = pixel_payload(_grey(image), 1, max_side=1024)
    header = payload.header
    assert (header["factor"], header["cols"], header["rows"]) == (2, 1024, 1024)
    assert (header["image_cols"], header["image_rows"]) == (2048, 2048)
    got = _pixels(payload.data).reshape(1024, 1024)
    expected = image[0].reshape(1024, 2, 1024, 2).mean(axis=(1, 3))
    assert np.abs(got - np.round(expected)).max() <= 1


def test_a_wide_float_range_is_quantised_to_16_bits():
    image = np.linspace(-1e6, 1e6, 64 * 64).reshape(1, 64, 64)
    header = pixel_payload(_grey(image), 2).header
    assert header["slope"] == pytest.approx(2e6 / 65535)
    got = _pixels(pixel_payload(_grey(image), 2).data) * header["slope"] + header["intercept"]
    assert np.abs(got - image.ravel()).max() <= header["slope"]


def test_colour_multiframe_layout():
    frames = np.random.default_rng(2).integers(0, 255, (3, 10, 12, 3)).astype(np.uint8)
    decoded = DecodedImage("rgb", frames, "RGB", value_range=(0.0, 255.0))
    payload = pixel_payload(decoded, 3)
    header = payload.header
    assert (header["kind"], header["frames"], header["presets"]) == ("rgb8", 3, {})
    assert np.array_equal(_pixels(payload.data).reshape(frames.shape), frames)


def _png(colour: tuple[int, int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (12, 10), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_an_overlay_travels_on_its_own_with_an_id_of_its_content():
    red, blue = _png((255, 0, 0, 128)), _png((0, 0, 255, 128))
    data = overlay_payload(3, red)
    header = read_header(data)
    assert (header["case"], header["kind"]) == (3, "overlay")
    (length,) = struct.unpack("<I", data[4:8])
    assert (8 + length) % 8 == 0
    start, size = header["overlay"]
    png = data[8 + length + start : 8 + length + start + size]
    assert png == red and Image.open(io.BytesIO(png)).size == (12, 10)
    assert read_header(overlay_payload(3, blue))["overlay_id"] != header["overlay_id"]
    assert read_header(overlay_payload(3, red))["overlay_id"] == header["overlay_id"]
    with pytest.raises(ValueError, match="PNG"):
        overlay_payload(3, b"GIF89a...")


def test_not_a_payload_is_refused():
    with pytest.raises(ValueError, match="bad magic"):
        read_header(b"PNG....")
