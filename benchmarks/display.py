"""Display pipeline benchmark: first display and window change on a 2048x2500 DICOM.

Generates a 16-bit (12 bits stored) DX radiograph with the demo generator in a
temporary folder, then times, as medians over repeated runs:

- ``first_display_ms``: ``decode_dicom(path)`` + ``render`` at a 1024-px viewport
  (crop, BOX downsample in float32, window, JPEG q90);
- ``window_change_ms``: cache hit + ``render`` with a new window (the window-free
  reduction of the view is memoised, as when dragging the window slider);
- ``window_change_no_memo_ms``: the same with that memo cleared each time;
- ``baseline_first_display_ms``: ``dcmread`` + ``pixel_array`` + rescale and
  linear window in float64 + ``Image.fromarray`` + resize to 1024 + PNG save;
- ``baseline_window_change_ms``: the same without ``dcmread``/``pixel_array``.

The last line printed is one JSON object with those keys and ``ratio`` =
baseline_first_display_ms / first_display_ms. Goal: first display <= 60 ms,
window change <= 25 ms on a 2-core machine, ratio >= 2.

Run: ``python benchmarks/display.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from markit_core.demo.dicom import build_dicom, fake_identity  # noqa: E402
from markit_core.demo.generator import DEMO_LABELS, make_chest_array  # noqa: E402
from markit_core.imaging.cache import ImageCache, content_key  # noqa: E402
from markit_core.imaging.decode import decode_dicom  # noqa: E402
from markit_core.imaging.display import ViewState, render  # noqa: E402
from markit_core.imaging.resample import clear_memo  # noqa: E402

ROWS, COLS = 2500, 2048
VIEWPORT = (1024, 1024)
WINDOWS = [(1800.0, 2600.0), (2000.0, 1800.0), (1600.0, 3000.0), (2200.0, 1200.0)]


def make_test_dicom(folder: Path) -> Path:
    """Write the 2048x2500 16-bit benchmark DICOM (a demo chest with two findings)."""
    rng = np.random.default_rng(2048)
    truth = dict.fromkeys(DEMO_LABELS, False) | {"pleural effusion": True, "cardiomegaly": True}
    pixels, _ = make_chest_array(truth, rng, (ROWS, COLS))
    ds = build_dicom(
        pixels,
        patient=fake_identity(rng, 0, 0),
        photometric="MONOCHROME2",
        view_position="PA",
        uid_seed="markit-benchmark",
    )
    path = folder / "bench_2048x2500.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def median_ms(action: Callable[[int], object], repeat: int) -> float:
    """Median wall time of ``action(i)`` in ms, after one untimed warm-up call."""
    action(-1)
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        action(i)
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def _baseline_view(arr: np.ndarray, ds: pydicom.Dataset, window: tuple[float, float]) -> bytes:
    """What a straightforward implementation does: float64 everywhere, PNG out."""
    values = arr.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    center, width = window
    scaled = ((values - (center - 0.5)) / (width - 1.0) + 0.5).clip(0.0, 1.0) * 255.0
    image = Image.fromarray(scaled.astype(np.uint8))
    fit = min(VIEWPORT[0] / image.width, VIEWPORT[1] / image.height)
    image = image.resize((round(image.width * fit), round(image.height * fit)))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def run(repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_test_dicom(Path(tmp))
        size_mb = path.stat().st_size / 1e6
        print(
            f"test image: {COLS}x{ROWS} 16-bit DX, {size_mb:.1f} MB, viewport {VIEWPORT}, "
            f"{os.cpu_count()} CPUs, {repeat} runs each"
        )
        first_out: list[int] = []

        def first_display(i: int) -> None:
            decoded = decode_dicom(path)
            first_out.append(len(render(decoded, ViewState(viewport=VIEWPORT)).data))

        cache = ImageCache()
        key = content_key(path.read_bytes())
        cache.get(key, lambda: decode_dicom(path))

        def window_change(i: int) -> None:
            decoded = cache.get(key, lambda: decode_dicom(path))
            center, width = WINDOWS[i % len(WINDOWS)]
            render(decoded, ViewState(viewport=VIEWPORT, window_center=center, window_width=width))

        def window_change_no_memo(i: int) -> None:
            clear_memo()  # as if zoom/pan had changed too: the reduction is redone
            window_change(i)

        baseline_out: list[int] = []

        def baseline_first(i: int) -> None:
            ds = pydicom.dcmread(path)
            baseline_out.append(len(_baseline_view(ds.pixel_array, ds, WINDOWS[0])))

        ds = pydicom.dcmread(path)
        arr = ds.pixel_array

        def baseline_window(i: int) -> None:
            _baseline_view(arr, ds, WINDOWS[i % len(WINDOWS)])

        result = {
            "first_display_ms": median_ms(first_display, repeat),
            "window_change_ms": median_ms(window_change, repeat),
            "window_change_no_memo_ms": median_ms(window_change_no_memo, repeat),
            "baseline_first_display_ms": median_ms(baseline_first, repeat),
            "baseline_window_change_ms": median_ms(baseline_window, repeat),
        }
        assert cache.misses == 1, "window changes must not re-decode"
    result["ratio"] = result["baseline_first_display_ms"] / result["first_display_ms"]
    result = {k: round(v, 2) for k, v in result.items()}
    print(
        f"MarkIt   first display : {result['first_display_ms']:7.1f} ms  "
        f"(JPEG q90, {first_out[-1] / 1e3:.0f} kB)   goal <= 60 ms"
    )
    print(
        f"MarkIt   window change : {result['window_change_ms']:7.1f} ms  "
        "(cache hit, no re-decode)       goal <= 25 ms"
    )
    print(
        f"MarkIt   window change : {result['window_change_no_memo_ms']:7.1f} ms  "
        "(region memo cleared, e.g. after a pan)"
    )
    print(
        f"baseline first display: {result['baseline_first_display_ms']:7.1f} ms  "
        f"(PNG, {baseline_out[-1] / 1e3:.0f} kB)"
    )
    print(f"baseline window change: {result['baseline_window_change_ms']:7.1f} ms")
    print(f"speed-up (first display): {result['ratio']:.1f}x   goal >= 2x")
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the JSON summary as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per figure")
    args = parser.parse_args(argv)
    result = run(max(1, args.repeat))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
