"""Full-resolution tiles for the browser reader when it zooms past the reduced payload."""

from __future__ import annotations

import struct

import numpy as np

from markit_core.imaging.client_payload import pixel_payload, read_header
from markit_core.imaging.client_tiles import GRID, MAX_TILE_SIDE, tile_payload, tile_region
from markit_core.imaging.decoded import DecodedImage


def _image(rows: int = 2048, cols: int = 1800, frames: int = 2) -> DecodedImage:
    rng = np.random.default_rng(4)
    pixels = rng.integers(-1024, 3000, (frames, rows, cols)).astype(np.float32)
    return DecodedImage("ct", pixels, "MONOCHROME2", value_range=(-1024.0, 2999.0))


def _view(zoom, pan=(900.0, 1000.0), frame=1, viewport=(800, 800)):
    return {"zoom": zoom, "pan": list(pan), "frame": frame, "viewport": list(viewport)}


def test_no_tile_when_the_reduced_pixels_suffice():
    decoded = _image()
    payload = pixel_payload(decoded, 7)  # 2048 px -> factor 2
    assert payload.factor == 2
    assert tile_region(payload, None) is None
    assert tile_region(payload, _view(None)) is None  # the fit view
    assert tile_region(payload, _view(0.4)) is None  # one payload pixel < one screen pixel
    small = pixel_payload(_image(rows=600, cols=500), 7)
    assert small.factor == 1 and tile_region(small, _view(4.0)) is None


def test_a_zoomed_view_gets_its_visible_part_on_the_grid_and_bounded():
    payload = pixel_payload(_image(), 7)
    frame, x0, y0, x1, y1 = tile_region(payload, _view(2.0))
    visible = 800 / 2.0  # image pixels across the viewport
    assert frame == 1
    assert all(v % GRID == 0 or v in (1800, 2048) for v in (x0, y0, x1, y1))
    assert x0 <= 900 - visible / 2 and x1 >= 900 + visible / 2
    assert y0 <= 1000 - visible / 2 and y1 >= 1000 + visible / 2
    assert max(x1 - x0, y1 - y0) <= MAX_TILE_SIDE
    # a short pan keeps the same tile (what the browser already holds)
    assert tile_region(payload, _view(2.0, pan=(930.0, 1010.0))) == (frame, x0, y0, x1, y1)
    # at the image's edge the tile is clipped to the image
    _, ex0, ey0, ex1, ey1 = tile_region(payload, _view(2.0, pan=(1790.0, 2040.0)))
    assert (ex1, ey1) == (1800, 2048) and ex0 >= 0 and ey0 >= 0
    assert tile_region(payload, _view(0.55, viewport=(1100, 1100))) is None  # too large a tile


def test_tile_pixels_are_the_full_resolution_values_in_the_payload_encoding():
    decoded = _image()
    payload = pixel_payload(decoded, 7)
    region = tile_region(payload, _view(3.0))
    data = tile_payload(decoded, payload, region)
    header = read_header(data)
    frame, x0, y0, x1, y1 = region
    assert header["kind"] == "tile" and header["case"] == 7 and header["frame"] == frame
    assert (header["x0"], header["y0"], header["cols"], header["rows"]) == (
        x0,
        y0,
        x1 - x0,
        y1 - y0,
    )
    (length,) = struct.unpack("<I", data[4:8])
    assert (8 + length) % 8 == 0  # a Uint16Array over the buffer needs the alignment
    stored = np.frombuffer(data[8 + length :], "<u2").reshape(y1 - y0, x1 - x0)
    values = stored * payload.header["slope"] + payload.header["intercept"]
    np.testing.assert_array_equal(values, decoded.frame(frame)[y0:y1, x0:x1])
