"""Crop-then-reduce resampling for the display pipeline, with a small memo.

Downsampling a 2048x2500 float32 radiograph to a 1024-px viewport is the most
expensive step of a render (a one-pass BOX resize of 5 Mpx takes ~9 ms here).
It is split in two so that most of it happens before windowing and is cheap:

1. ``Image.reduce(k)`` by the integer part ``k`` of the shrink factor, on the
   native-resolution crop (a block mean in C: ~3 ms for 5 Mpx at k=2);
2. the remaining factor (< 2) after windowing, on 8-bit data, with a BOX resize
   whose ``box`` maps the crop exactly onto the output.

Step 1 depends only on (image, frame, crop, k), not on the window, so its result
is memoised for the last few views: dragging the window slider then costs a
window + a small 8-bit resize + JPEG encode. The memo holds weak references, so
it never keeps an image alive that the decoded-image cache has dropped.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np
from PIL import Image

from markit_core.imaging.decoded import DecodedImage

__all__ = ["clear_memo", "finish", "reduced_region"]

_MEMO_ENTRIES = 6
_memo: OrderedDict[tuple, tuple[weakref.ref, np.ndarray]] = OrderedDict()
_memo_lock = threading.Lock()


def reduced_region(
    decoded: DecodedImage,
    frame_index: int,
    crop: tuple[int, int, int, int],
    size: tuple[int, int],
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Crop at native resolution, then reduce by the integer part of the shrink.

    Parameters
    ----------
    decoded : DecodedImage
        Source image.
    frame_index : int
        Frame to show.
    crop : tuple[int, int, int, int]
        (x0, y0, x1, y1) in image pixels.
    size : tuple[int, int]
        Output (width, height).

    Returns
    -------
    tuple[numpy.ndarray, tuple[float, float, float, float]]
        The (possibly reduced) region, same dtype as the frames, and the box in
        that region's pixel units that covers exactly the crop (for :func:`finish`).
    """
    x0, y0, x1, y1 = crop
    width, height = x1 - x0, y1 - y0
    k = int(min(width / size[0], height / size[1]))
    frame = decoded.frames[frame_index]
    if k < 2:
        return frame[y0:y1, x0:x1], (0.0, 0.0, float(width), float(height))
    box = (0.0, 0.0, width / k, height / k)
    key = (id(decoded), frame_index, crop, k)
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None and hit[0]() is decoded:
            _memo.move_to_end(key)
            return hit[1], box
    region = np.ascontiguousarray(frame[y0:y1, x0:x1])
    reduced = np.asarray(Image.fromarray(region).reduce(k))
    with _memo_lock:
        _memo[key] = (weakref.ref(decoded), reduced)
        _memo.move_to_end(key)
        while len(_memo) > _MEMO_ENTRIES:
            _memo.popitem(last=False)
    return reduced, box


def clear_memo() -> None:
    """Forget memoised reductions (benchmarks and tests; never needed for correctness)."""
    with _memo_lock:
        _memo.clear()


def finish(
    pixels: np.ndarray, size: tuple[int, int], box: tuple[float, float, float, float]
) -> np.ndarray:
    """Resize 8-bit display pixels so ``box`` fills ``size`` exactly.

    Shrinking (the remaining factor < 2) uses BOX, an area average; enlarging
    (zoom beyond 1:1) uses NEAREST so each image pixel is a sharp block.
    """
    if (
        pixels.shape[1] == size[0]
        and pixels.shape[0] == size[1]
        and box == (0.0, 0.0, float(size[0]), float(size[1]))
    ):
        return pixels
    enlarge = size[0] > box[2] - box[0] or size[1] > box[3] - box[1]
    resample = Image.Resampling.NEAREST if enlarge else Image.Resampling.BOX
    image = Image.fromarray(np.ascontiguousarray(pixels))
    return np.asarray(image.resize(size, resample, box=box))
