"""Reading speed in a real browser: first image, "Submit & next", window/level and zoom.

Starts ``streamlit run app.py`` on a free 127.0.0.1 port with its own temporary data
directory, holding one project of N cases of 2048x2048 16-bit DICOM (a demo chest,
each with its own noise so every case is a distinct image) and one annotator. Headless
Chromium (Playwright) then logs in and reads:

- ``first_image_ms``: "Log in" click (the button's click event in the page, so
  Playwright's own dispatch of the click is not counted; the figure with it is
  printed too) -> the first case painted in the reader, from a login page that has
  finished loading (it fetches the annotate page's frontend code while the user types);
- ``next_case_*``: over N cases, "Submit & next" click -> the next case painted
  (the reader records each paint with ``performance.now()``; the previous image
  stays on the canvas until then, so there is no blank frame);
- ``window_step_ms``: median per step of a window/level mouse drag, from the
  mousemove event to the end of the repaint it caused;
- ``zoom_ms``: the same for wheel-zoom events;
- ``full_res_tile_ms``: zoomed in to 2x (past the 1024-px payload), the last wheel
  event -> the full-resolution tile of the visible part painted over it.

Baseline in the same run: the server-side viewer (sidebar toggle off), where each
view is rendered and sent by the server: "Submit & next" -> the new case's canvas
background image loaded, and a window preset click -> the new picture loaded.

Usage: ``python benchmarks/browser.py [--cases 20]``. Needs /usr/bin/chromium and
Playwright (requirements-dev.txt). The last line is one JSON object.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.isolated import temp_settings  # noqa: E402
from markit_core.accounts import create_user, get_user  # noqa: E402
from markit_core.db import open_database  # noqa: E402
from markit_core.db import session as new_session  # noqa: E402
from markit_core.demo.dicom import build_dicom, fake_identity  # noqa: E402
from markit_core.demo.generator import DEMO_LABELS, make_chest_array  # noqa: E402
from markit_core.imaging.ingest import ingest  # noqa: E402
from markit_core.labels import CHEST_XRAY_LABELS, add_labels  # noqa: E402
from markit_core.models import Role  # noqa: E402
from markit_core.projects import create_project, grant_role  # noqa: E402
from tests.servers import free_port, stop, wait_for_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "benchmark password 1"
SIZE = 2048
NO_STALE = "() => !document.querySelector('[data-stale=\"true\"]')"
STEP_TIMEOUT_MS = 30_000  # one page step; a failure costs seconds, not minutes


def _seed(data: Path, n_cases: int) -> None:
    """Admin, annotator ``reader``, a project with the 7 chest labels and n DICOM cases."""
    settings = temp_settings(data)
    engine = open_database(settings)
    rng = np.random.default_rng(12)
    truth = dict.fromkeys(DEMO_LABELS, False) | {"pleural effusion": True}
    chest, _ = make_chest_array(truth, rng, (SIZE, SIZE))
    with new_session(engine) as s:
        create_user(s, None, "admin", PASSWORD, is_admin=True)
        admin = get_user(s, "admin")
        create_user(s, admin, "reader", PASSWORD)
        project = create_project(s, admin, "Benchmark")
        grant_role(s, admin, project.id, "reader", Role.ANNOTATOR)
        add_labels(s, admin, project.id, list(CHEST_XRAY_LABELS))
        files = []
        for i in range(n_cases):
            noisy = np.clip(chest + rng.normal(0, 0.01, chest.shape), 0, 1)
            ds = build_dicom(noisy, patient=fake_identity(rng, i, i), uid_seed=f"bench-{i}")
            path = data / f"case{i:02d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append((path.name, path))
        report = ingest(s, settings, admin, project.id, files)
        assert len(report.ingested) == n_cases, report.summary()
    engine.dispose()


def _server(data: Path, port: int, log: Path) -> subprocess.Popen:
    # as `make run` does: the app's bytecode written ahead
    sources = ["app.py", "markit_core", "ui", "pages"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], cwd=ROOT, check=True)
    env = {**os.environ, "MARKIT_DATA_DIR": str(data)}
    env.pop("MARKIT_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    cmd += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    cmd += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _login_page_loaded(page) -> None:
    """Wait until the login page has loaded, as it has by the time a user has typed.

    The login page loads the annotate page's frontend code in the background while the
    user types (``ui.components.reader.warm_up``); a click faster than any typist would
    measure that download, not the first case.
    """
    t0 = time.perf_counter()
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => window.__markitReader?.warmedUp === true", timeout=30_000)
    print(f"login page loaded, with the reading code, in {time.perf_counter() - t0:.1f} s")


def _painted_case(page) -> int | None:
    return page.evaluate(
        "() => window.__markitReader?.stats.lastPaint ? "
        "window.__markitReader.stats.lastPaint.case : null"
    )


ALL_ANSWERED = (
    "() => !document.querySelector('[data-stale=\"true\"]') && "
    "/\\b(\\d+) of \\1 answered/.test(document.body.innerText)"
)


def _answer_all_absent(page) -> None:
    """ "Rest absent", then wait until the label panel says every label is answered.

    Waiting for the panel (not a fixed pause) matters on a loaded machine: a "Submit &
    next" sent before the answers are in submits an empty draft ("Nothing to submit
    yet"), the page stays on the case, and the wait for the next case never ends.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):  # a click on a button a rerun was replacing can be lost
        page.wait_for_function(NO_STALE, timeout=STEP_TIMEOUT_MS)
        page.locator(".st-key-kb_rest button").first.click()
        try:
            page.wait_for_function(ALL_ANSWERED, timeout=STEP_TIMEOUT_MS // 3)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def _next_case_client(page, n: int) -> list[float]:
    times = []
    for _ in range(n):
        current = _painted_case(page)
        _answer_all_absent(page)
        t0 = page.evaluate(
            "() => { const t = performance.now(); "
            "document.querySelector('.st-key-submit_next button').click(); return t; }"
        )
        page.wait_for_function(
            "(c) => { const p = window.__markitReader.stats.lastPaint; return p && p.case !== c; }",
            arg=current,
            timeout=60_000,
        )
        times.append(page.evaluate("() => window.__markitReader.stats.lastPaint.t") - t0)
        page.wait_for_function(NO_STALE)
        page.wait_for_timeout(300)
    return times


def _drag_and_zoom(page) -> tuple[list[float], list[float]]:
    canvas = page.locator("canvas.mk-canvas")
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate("() => { const s = window.__markitReader.stats; s.steps = []; s.zooms = []; }")
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(1, 41):
        page.mouse.move(cx + 4 * i, cy + 2 * i)
        page.wait_for_timeout(20)
    page.mouse.up()
    page.mouse.move(cx - 50, cy - 50)
    for i in range(16):
        page.mouse.wheel(0, -120 if i < 8 else 120)
        page.wait_for_timeout(60)
    page.wait_for_timeout(300)
    stats = page.evaluate("() => window.__markitReader.stats")
    return stats["steps"], stats["zooms"]


def _full_res_tile(page) -> float | None:
    """Zoom in past the payload's resolution; ms until the full-resolution tile is painted."""
    canvas = page.locator("canvas.mk-canvas")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.evaluate("() => window.__markitReader.tiles.clear()")
    for _ in range(12):  # each wheel step zooms by a fixed factor: well past 1:1
        page.mouse.wheel(0, -120)
        page.wait_for_timeout(30)
    t0 = page.evaluate("() => performance.now()")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => { const r = window.__markitReader; const p = r.stats.lastPaint;"
            " return r.tiles.size > 0 && p && p.t > [...r.tiles.values()][0].at; }",
            timeout=30_000,
        )
    except PlaywrightTimeout:
        return None
    return page.evaluate("() => window.__markitReader.stats.lastPaint.t") - t0


_ONE_FRESH = (
    "(sel) => { if (document.querySelector('[data-stale=\"true\"]')) return null; "
    "const all = document.querySelectorAll(sel); "
    "return all.length === 1 ? all[0].innerText : null; }"
)


def _fresh_text(page, selector: str) -> str:
    """The text of the one element matching ``selector`` once no rerun is in progress.

    During a rerun Streamlit can show the old and the new copy of a keyed element side
    by side (the stale one is removed when the run ends), so a plain locator would match
    two elements; this waits until exactly one, not stale, is left.
    """
    handle = page.wait_for_function(_ONE_FRESH, arg=selector, timeout=STEP_TIMEOUT_MS)
    return handle.json_value()


def _changed(page, selector: str, before: str, timeout: int) -> None:
    page.wait_for_function(
        f"(a) => {{ const t = ({_ONE_FRESH})(a.sel); return t !== null && t !== a.before; }}",
        arg={"sel": selector, "before": before},
        timeout=timeout,
    )


def _server_side(page, n: int, nexts: list[float], windows: list[float]) -> None:
    """The old path: each case and each window change is rendered and sent by the server.

    Appends to ``nexts`` and ``windows`` as it goes, so a step that gives up keeps the
    figures measured before it.
    """
    page.locator(".st-key-view_client label").first.click()
    page.wait_for_function(NO_STALE)
    page.locator(".st-key-view_preset").first.wait_for(timeout=STEP_TIMEOUT_MS)
    progress = "[data-testid='stProgress']"
    for _ in range(n):
        _answer_all_absent(page)
        before = _fresh_text(page, progress)
        t0 = time.perf_counter()
        page.locator(".st-key-submit_next button").first.click()
        _changed(page, progress, before, STEP_TIMEOUT_MS)
        nexts.append((time.perf_counter() - t0) * 1000)
        page.wait_for_timeout(300)
    for name in ("Lung", "Bone", "Chest", "Auto", "Header") * 2:
        before = _fresh_text(page, ".st-key-view_caption")
        t0 = time.perf_counter()
        page.locator(".st-key-view_preset").first.get_by_role("radio", name=name).click()
        _changed(page, ".st-key-view_caption", before, STEP_TIMEOUT_MS)
        windows.append((time.perf_counter() - t0) * 1000)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run(n_cases: int, baseline_cases: int) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="markit-browser-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        t = time.perf_counter()
        _seed(data, n_cases + baseline_cases + 2)
        print(f"seeded {n_cases + baseline_cases + 2} cases in {time.perf_counter() - t:.1f} s")
        port = free_port()
        server = _server(data, port, Path(tmp) / "streamlit.log")
        try:
            wait_for_port(port, timeout=90)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(60_000)
                page.goto(f"http://127.0.0.1:{port}", timeout=90_000)
                _login_page_loaded(page)
                page.get_by_label("Username").fill("reader")
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                t0 = page.evaluate(
                    "() => { window.__markitReader.clickedAt = null; return performance.now(); }"
                )
                page.get_by_role("button", name="Log in").click()
                page.wait_for_function(
                    "() => window.__markitReader && window.__markitReader.stats.lastPaint",
                    timeout=90_000,
                )
                painted, clicked = page.evaluate(
                    "() => { const r = window.__markitReader; "
                    "return [r.stats.lastPaint.t, r.clickedAt]; }"
                )
                first = painted - (clicked if clicked is not None else t0)
                print(
                    f"first image painted {first:.0f} ms after the login click "
                    f"({painted - t0:.0f} ms counting Playwright's dispatch of the click)"
                )
                page.wait_for_function(NO_STALE)
                page.wait_for_timeout(1500)  # the prefetch of case 2 arrives
                nexts = _next_case_client(page, n_cases)
                print(
                    f"submit & next (browser viewer), {n_cases} cases: median "
                    f"{statistics.median(nexts):.0f} ms, p95 {_p95(nexts):.0f} ms, "
                    f"max {max(nexts):.0f} ms"
                )
                steps, zooms = _drag_and_zoom(page)
                print(
                    f"window/level drag: {len(steps)} repaints, median "
                    f"{statistics.median(steps):.1f} ms; wheel zoom: {len(zooms)} repaints, "
                    f"median {statistics.median(zooms):.1f} ms"
                )
                tile = _full_res_tile(page)
                print(
                    "zoomed past 1:1 of the payload: full-resolution tile painted "
                    + ("never (30 s)" if tile is None else f"after {tile:.0f} ms")
                )
                base_next: list[float] = []
                base_window: list[float] = []
                try:
                    _server_side(page, baseline_cases, base_next, base_window)
                except PlaywrightTimeout as e:  # a saturated machine: keep the figures above
                    print(
                        f"baseline (server-side viewer) gave up after {len(base_next)} cases, "
                        f"{len(base_window)} presets: {str(e).splitlines()[0]}"
                    )
                    page.screenshot(path=Path(tmp) / "gave-up.png")
                    log = (Path(tmp) / "streamlit.log").read_text(errors="replace")
                    print("server log (last lines):", *log.splitlines()[-15:], sep="\n  ")
                    if os.environ.get("MARKIT_BENCH_KEEP"):
                        import shutil

                        shutil.copy(Path(tmp) / "gave-up.png", os.environ["MARKIT_BENCH_KEEP"])
                print(
                    f"baseline (server-side viewer): submit & next median "
                    f"{_median(base_next)} ms over {len(base_next)} cases; "
                    f"window preset median {_median(base_window)} ms over {len(base_window)}"
                )
                browser.close()
        finally:
            stop(server)
    return {
        "cases": n_cases,
        "image": f"{SIZE}x{SIZE} 16-bit DICOM",
        "first_image_ms": round(first, 1),
        "next_case_median_ms": round(statistics.median(nexts), 1),
        "next_case_p95_ms": round(_p95(nexts), 1),
        "window_step_ms": round(statistics.median(steps), 2),
        "zoom_ms": round(statistics.median(zooms), 2),
        "full_res_tile_ms": None if tile is None else round(tile, 1),
        "baseline_server_next_case_median_ms": _median(base_next),
        "baseline_server_window_ms": _median(base_window),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20, help="cases read with Submit & next")
    parser.add_argument("--baseline-cases", type=int, default=5, help="cases on the old path")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.cases, args.baseline_cases)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
