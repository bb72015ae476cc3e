"""Full-resolution tiles for the browser reader when it zooms past its reduced pixels.

A large image travels to the browser block-averaged (``client_payload``: a
2048-px radiograph at 1024 px). Zoomed in beyond that, the reader would show
the reduced pixels enlarged; so for the view it reports, the server sends the
visible part at full resolution as a *tile*: ``b"MKPX"`` · header with
``"kind": "tile"`` (its frame and image-pixel rectangle) · pixels in the same
encoding as the case's payload (same slope and intercept, so the browser's
window/level applies unchanged). Tiles are snapped to a grid, so small pans
reuse the tile already sent, and bounded in size.
"""

from __future__ import annotations

import math
from typing import Any

from markit_core.imaging.client_payload import PixelPayload, encode_pixels, pack
from markit_core.imaging.decoded import DecodedImage

__all__ = ["GRID", "MAX_TILE_SIDE", "tile_payload", "tile_region"]

GRID = 256  # tile edges snap to multiples of this many image pixels
MAX_TILE_SIDE = 1536  # larger visible areas gain too little over the reduced pixels
MARGIN = 0.25  # of the visible size, on each side, so a short pan stays inside the tile


def tile_region(
    payload: PixelPayload, view: dict[str, Any] | None
) -> tuple[int, int, int, int, int] | None:
    """``(frame, x0, y0, x1, y1)`` in image pixels to send at full resolution, or None.

    None when the payload is already at full resolution, the view is the fit view,
    or one payload pixel still covers at most one screen pixel.
    """
    if payload.factor <= 1 or not view or view.get("zoom") is None or not view.get("pan"):
        return None
    h = payload.header
    z = float(view["zoom"])
    if not math.isfinite(z) or z * payload.factor <= 1.0:
        return None
    vw, vh = (float(v) for v in (view.get("viewport") or (800, 800)))
    cx, cy = (float(v) for v in view["pan"])
    half_w, half_h = vw / z * (0.5 + MARGIN), vh / z * (0.5 + MARGIN)
    cols, rows = int(h["image_cols"]), int(h["image_rows"])
    x0 = max(0, math.floor((cx - half_w) / GRID) * GRID)
    y0 = max(0, math.floor((cy - half_h) / GRID) * GRID)
    x1 = min(cols, math.ceil((cx + half_w) / GRID) * GRID)
    y1 = min(rows, math.ceil((cy + half_h) / GRID) * GRID)
    if x1 <= x0 or y1 <= y0 or max(x1 - x0, y1 - y0) > MAX_TILE_SIDE:
        return None
    frame = min(max(int(view.get("frame") or 0), 0), int(h["frames"]) - 1)
    return frame, x0, y0, x1, y1


def tile_payload(
    decoded: DecodedImage, payload: PixelPayload, region: tuple[int, int, int, int, int]
) -> bytes:
    """The full-resolution pixels of ``region`` (from :func:`tile_region`), packed."""
    frame, x0, y0, x1, y1 = region
    h = payload.header
    crop = decoded.frame(frame)[y0:y1, x0:x1]
    header = {
        "case": int(h["case"]),
        "kind": "tile",
        "pixel_kind": h["kind"],
        "frame": frame,
        "x0": x0,
        "y0": y0,
        "cols": x1 - x0,
        "rows": y1 - y0,
        "tile_id": f"{frame}:{x0}:{y0}:{x1}:{y1}",
    }
    body = encode_pixels(crop, decoded.is_color, float(h["slope"]), float(h["intercept"]))
    return pack(header, body)
