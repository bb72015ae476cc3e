"""Annotate-page benchmark: server time of one page rerun (AppTest) on the demo project.

Seeds the demo (``python -m markit_core demo``: 24 synthetic chest radiographs,
seven labels) into a temporary data folder, logs in as ``ann1`` and opens the
annotate page, then times, as medians of ``AppTest.run()`` (app.py router +
page script + element tree, as one browser interaction costs the server):

- ``label_change_ms``: answering a label (present/absent alternately);
- ``next_case_ms``: "Next" to the next unannotated case with the decoded-image
  LRU and the render cache emptied first, as for an image not yet shown since
  the server started (decode of its DICOM, render, new draft and widgets);
- ``next_case_warm_ms`` (printed for comparison): the same with the caches warm.

The demo leaves ``ann1`` two unread cases, so "Next" alternates between them.

The last line printed is one JSON object with those keys (and the sample
counts). Goal: label change <= 150 ms, next case <= 300 ms.

Run: ``python benchmarks/annotate.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOALS = {"label_change_ms": 150.0, "next_case_ms": 300.0}


def _seed(data_dir: Path) -> None:
    env = {**os.environ, "MARKIT_DATA_DIR": str(data_dir)}
    env.pop("MARKIT_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "markit_core", "demo"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


def _timed(at) -> float:
    start = time.perf_counter()
    at.run()
    elapsed = (time.perf_counter() - start) * 1000.0
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception[0].value}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="label changes to time (default 30)")
    parser.add_argument(
        "--next-repeat",
        type=int,
        default=15,
        help="'Next' clicks to time, cold and warm each (default 15)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="markit-bench-annotate-") as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        _seed(data)
        print(f"seeded the demo in {time.perf_counter() - t0:.1f} s ({data})")
        os.environ["MARKIT_DATA_DIR"] = str(data)
        os.environ.pop("MARKIT_DATABASE_URL", None)

        from tests.apptest_helpers import fresh_app, log_in, open_page

        at = fresh_app(timeout=60)
        log_in(at, "ann1", os.environ.get("MARKIT_DEMO_PASSWORD", "markit-demo"))
        t0 = time.perf_counter()
        open_page(at, "annotate")
        print(f"opening the annotate page after login: {(time.perf_counter() - t0) * 1000:.0f} ms")
        if at.exception:
            raise RuntimeError(at.exception[0].value)

        def label_widget():
            return next(w for w in at.segmented_control if w.key and w.key.startswith("lab_"))

        for value in ("present", "absent", "present"):  # warm-up
            label_widget().set_value(value)
            _timed(at)
        label_ms = []
        for i in range(args.repeat):
            label_widget().set_value("absent" if i % 2 else "present")
            label_ms.append(_timed(at))

        import streamlit as st

        from markit_core.imaging.cache import default_cache
        from markit_core.imaging.resample import clear_memo

        warm_ms, next_ms = [], []
        for i in range(2 * args.next_repeat):
            cold = i % 2 == 0
            if cold:  # as if the next image had never been shown in this server process
                default_cache().clear()
                clear_memo()
                st.cache_data.clear()
            before = at.session_state["view_case"]
            at.button(key="next_case").click()
            (next_ms if cold else warm_ms).append(_timed(at))
            if at.session_state["view_case"] == before:
                raise RuntimeError("'Next' did not move: the demo left ann1 a single case")

    result = {
        "label_change_ms": round(statistics.median(label_ms), 1),
        "next_case_ms": round(statistics.median(next_ms), 1),
        "next_case_warm_ms": round(statistics.median(warm_ms), 1),
        "label_change_runs": len(label_ms),
        "next_case_runs": len(next_ms),
    }
    print(f"   next warm: median {result['next_case_warm_ms']:6.1f} ms (image already decoded)")
    for key, goal in GOALS.items():
        samples = label_ms if key == "label_change_ms" else next_ms
        print(
            f"{key.replace('_ms', '').replace('_', ' '):>12}: median {result[key]:6.1f} ms "
            f"(min {min(samples):.1f}, max {max(samples):.1f}; goal <= {goal:.0f} ms: "
            f"{'met' if result[key] <= goal else 'NOT met'})"
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
