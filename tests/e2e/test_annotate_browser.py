"""Browser end-to-end: an annotator reads one demo case in headless Chromium.

Starts ``streamlit run app.py`` on a demo database seeded with
``python -m markit_core demo`` in the test's tmp dir, logs in as ``ann1``,
changes the window, answers two labels with grades (one with the mouse, one
with the keyboard shortcuts), draws a rectangle on the canvas, submits and
goes to the next case. Then the database must hold exactly that reading, with
the region in image pixels where it was drawn and non-zero timings, and the
ledger must verify. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from markit_core.annotation.queue import build_queue
from markit_core.config import Settings
from markit_core.db import open_database
from markit_core.db import session as new_session
from markit_core.demo.seed import DEMO_PROJECT
from markit_core.models import Annotation, AnnotationValue, Case, LabelDef, Project, Roi, User
from tests.servers import free_port, missing, stop, wait_for_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = os.environ.get("MARKIT_DEMO_PASSWORD", "markit-demo")
# Where the rectangle is drawn, as fractions of the canvas (fit view: canvas == whole image).
DRAW_FROM, DRAW_TO = (0.30, 0.35), (0.55, 0.60)


@pytest.fixture
def demo_server(tmp_path):
    """A seeded demo data dir and a Streamlit server on it; yields (url, settings)."""
    if not CHROMIUM.exists():
        missing("Chromium (/usr/bin/chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Playwright's Python package (requirements-dev.txt)")
    data = tmp_path / "data"
    env = {**os.environ, "MARKIT_DATA_DIR": str(data)}
    env.pop("MARKIT_DATABASE_URL", None)
    seeded = subprocess.run(
        [sys.executable, "-m", "markit_core", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            # a source edit elsewhere in the checkout must not hot-reload the models mid-test
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}", Settings(data_dir=data)
    finally:
        stop(server)
        log.close()


def settle(page) -> None:
    """Wait until Streamlit has finished the rerun a click started (no stale elements left)."""
    page.wait_for_timeout(250)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")


def _state(settings: Settings) -> dict:
    """What the seeded demo holds for ann1 before the test acts."""
    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            ann1 = s.exec(select(User).where(User.username == "ann1")).one()
            project = s.exec(select(Project).where(Project.name == DEMO_PROJECT)).one()
            queue = build_queue(s, ann1, project.id)
            case_id = queue.next_after(None)
            assert case_id is not None, "the demo left ann1 no case to read"
            return {
                "ann1": ann1.id,
                "case": case_id,
                "next": queue.next_after(case_id),
                "position": queue.case_ids.index(case_id) + 1,
                "total": queue.total,
                "done": queue.done_count,
                "labels": {
                    lb.name: lb.id
                    for lb in s.exec(
                        select(LabelDef).where(LabelDef.project_id == project.id)
                    ).all()
                },
                "annotations": set(s.exec(select(Annotation.id)).all()),
            }
    finally:
        engine.dispose()


def test_annotator_reads_one_case(demo_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, settings = demo_server
    before = _state(settings)
    case_id, total = before["case"], before["total"]
    pneumonia, edema = before["labels"]["pneumonia"], before["labels"]["pulmonary edema"]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)  # expect() has its own 5 s default otherwise
        try:
            page.goto(url, timeout=60_000)
            page.get_by_label("Username").fill("ann1", timeout=60_000)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("link", name="Annotate").click()
            page.locator("canvas").first.wait_for(timeout=60_000)
            progress = page.get_by_test_id("stProgress")
            expect(progress).to_contain_text(f"case {before['position']} of {total} (#{case_id},")
            settle(page)
            page.screenshot(path=shots / "1-opened.png")

            # window: a preset, then two steps of the level slider with the keyboard
            caption = page.locator(".st-key-view_caption")
            initial = caption.inner_text()
            page.locator(".st-key-view_preset").get_by_role("radio", name="Lung").click()
            expect(caption).not_to_have_text(initial)
            after_preset = caption.inner_text()
            page.locator(".st-key-view_center input[type=range]").focus()
            page.keyboard.press("ArrowRight")
            expect(caption).not_to_have_text(after_preset)
            page.keyboard.press("ArrowRight")

            # label 1 with the mouse: pneumonia present, confidence 60 %
            labels_head = page.get_by_text("Labels ·")
            page.locator(f".st-key-lab_{case_id}_{pneumonia}").get_by_role(
                "radio", name="Present"
            ).click()
            expect(labels_head).to_contain_text("1 of 7 answered")
            grade = page.locator(f".st-key-grade_{case_id}_{pneumonia} input[type=range]")
            grade.focus()
            page.keyboard.press("ArrowLeft")
            expect(grade).to_have_attribute("aria-valuetext", "80 %")
            page.keyboard.press("ArrowLeft")
            expect(grade).to_have_attribute("aria-valuetext", "60 %")

            # label 2 with the keyboard: cursor to pulmonary edema (3rd), grade 80 %, absent
            labels_head.click()  # focus outside any input
            page.keyboard.press("j")
            expect(labels_head).to_contain_text("keys act on pneumonia")
            page.keyboard.press("j")
            expect(labels_head).to_contain_text("keys act on pulmonary edema")
            page.keyboard.press("4")
            edema_grade = page.locator(f".st-key-grade_{case_id}_{edema} input[type=range]")
            expect(edema_grade).to_have_attribute("aria-valuetext", "80 %")
            page.keyboard.press("a")
            expect(labels_head).to_contain_text("2 of 7 answered")
            settle(page)
            page.screenshot(path=shots / "2-labels.png")

            # a rectangle for pneumonia
            page.locator(".st-key-roi_label").click()
            page.get_by_role("option", name="pneumonia").click()
            expect(page.locator(".st-key-roi_swatch")).to_contain_text("draws pneumonia")
            settle(page)  # the canvas now draws in pneumonia's colour
            box = page.locator("canvas").first.bounding_box()
            x0, y0 = box["x"] + DRAW_FROM[0] * box["width"], box["y"] + DRAW_FROM[1] * box["height"]
            x1, y1 = box["x"] + DRAW_TO[0] * box["width"], box["y"] + DRAW_TO[1] * box["height"]
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
            page.mouse.move(x1, y1, steps=5)
            page.mouse.up()
            expect(page.get_by_text("pneumonia — rect")).to_be_visible()
            settle(page)
            page.screenshot(path=shots / "3-region.png")

            page.locator(".st-key-submit").get_by_role("button", name="Submit").first.click()
            expect(page.get_by_text(f"Saved case {case_id} as version 1")).to_be_visible()
            expect(progress).to_contain_text(f"{before['done'] + 1} / {total} cases done")
            settle(page)
            page.screenshot(path=shots / "4-submitted.png")
            page.locator(".st-key-next_case").get_by_role("button", name="Next").first.click()
            if before["next"] not in (None, case_id):
                expect(progress).to_contain_text(f"(#{before['next']},")
            settle(page)
            page.screenshot(path=shots / "5-next-case.png")
        except Exception:
            page.screenshot(path=shots / "failure.png")
            (shots / "failure.html").write_text(page.content())
            raise
        finally:
            browser.close()

    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            added = s.exec(
                select(Annotation).where(Annotation.id.not_in(before["annotations"]))
            ).all()  # type: ignore[union-attr]
            assert [(a.case_id, a.annotator_id, a.version) for a in added] == [
                (case_id, before["ann1"], 1)
            ]
            annotation = added[0]
            values = {
                v.label_id: v
                for v in s.exec(
                    select(AnnotationValue).where(AnnotationValue.annotation_id == annotation.id)
                ).all()
            }
            assert {lid: (v.value, v.confidence) for lid, v in values.items()} == {
                pneumonia: (True, 60),
                edema: (False, 80),
            }
            assert all(v.seconds and v.seconds > 0 for v in values.values())
            assert annotation.total_seconds > 0 and annotation.active_seconds > 0
            assert annotation.total_seconds >= max(v.seconds for v in values.values())
            rois = s.exec(select(Roi).where(Roi.annotation_id == annotation.id)).all()
            assert [(r.label_id, r.shape) for r in rois] == [(pneumonia, "rect")]
            case = s.get(Case, case_id)
            (rx0, ry0), (rx1, ry1) = rois[0].points
            assert 0 <= rx0 < rx1 <= case.cols and 0 <= ry0 < ry1 <= case.rows
            expected = (
                DRAW_FROM[0] * case.cols,
                DRAW_FROM[1] * case.rows,
                DRAW_TO[0] * case.cols,
                DRAW_TO[1] * case.rows,
            )
            for got, want in zip((rx0, ry0, rx1, ry1), expected, strict=True):
                assert abs(got - want) <= 6, ((rx0, ry0, rx1, ry1), expected)
    finally:
        engine.dispose()
    env = {**os.environ, "MARKIT_DATA_DIR": str(settings.data_dir)}
    env.pop("MARKIT_DATABASE_URL", None)  # the server used the SQLite file in the data dir
    verify = subprocess.run(
        [sys.executable, "-m", "markit_core", "ledger", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
