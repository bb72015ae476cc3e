"""Browser end-to-end: an annotator reads demo cases in headless Chromium.

Starts ``streamlit run app.py`` on a demo database seeded with
``python -m markit_core demo`` in the test's tmp dir, logs in as ``ann1``,
changes the window by dragging on the browser reader and with a preset key, zooms
with the wheel, answers two labels with grades (one with the mouse, one with the
keyboard shortcuts), draws a rectangle on the zoomed view, submits, reloads (and
stays logged in), finishes the queue and then jumps back to the first case with the
case list and edits it. Then the database must hold that reading, with the region
in image pixels where it was drawn on the zoomed view and non-zero timings, a new
version of the edited case, and the ledger must verify. Screenshots go to the
test's tmp dir.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from sqlmodel import select

from markit_core.annotation.queue import build_queue
from markit_core.annotation.submit import my_reading
from markit_core.config import Settings
from markit_core.db import open_database
from markit_core.db import session as new_session
from markit_core.demo.seed import DEMO_PROJECT
from markit_core.models import Annotation, AnnotationValue, Case, LabelDef, Project, Roi, User
from tests.e2e.app_server import CHROMIUM, ROOT, AppServer, app_env, require_browser, seed_demo

pytestmark = pytest.mark.e2e

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
# Where the rectangle is drawn, as fractions of the canvas (which shows the caption's crop).
DRAW_FROM, DRAW_TO = (0.30, 0.35), (0.55, 0.60)
PAINTED = "() => window.__markitReader && window.__markitReader.stats.lastPaint"
PAINTED_CASE = "() => window.__markitReader.stats.lastPaint.case"
HELD_CASES = "() => [...window.__markitReader.payloads.keys()]"  # pixels in the browser


def _crop(caption: str) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) image pixels of the view, from 'zoom 2.50× (pixels 10–200, 5–195)'."""
    inside = caption.split("(pixels ", 1)[1].split(")", 1)[0]
    xs, ys = (part.replace("–", "-").split("-") for part in inside.split(", "))
    return int(xs[0]), int(ys[0]), int(xs[1]), int(ys[1])


@pytest.fixture
def demo_server(tmp_path):
    """A seeded demo data dir and a Streamlit server on it; yields (url, settings)."""
    require_browser()
    data = tmp_path / "data"
    env = app_env(data)
    seed_demo(env)
    server = AppServer(env, tmp_path / "streamlit.log")
    server.start()
    try:
        yield server.url, Settings(data_dir=data)
    finally:
        server.stop()


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
            first = queue.case_ids[0]
            pneumonia = s.exec(
                select(LabelDef.id).where(
                    LabelDef.project_id == project.id, LabelDef.name == "pneumonia"
                )
            ).one()
            mine = my_reading(s, ann1, project.id, first)
            answer = mine.answers.get(pneumonia) if mine else None
            return {
                "first": first,
                "first_pneumonia": answer.value if answer else None,
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


@pytest.mark.timeout(900)  # seeding the demo and reading a whole queue; slow on a shared CPU
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
            # login lands on Annotate: the image is drawn first; the labels and the rest of
            # the page follow with no click (the reader reports its paint, which reruns it)
            page.wait_for_function(PAINTED, timeout=60_000)
            expect(page.locator(f".st-key-lab_{pneumonia}")).to_be_visible()
            expect(page.get_by_text("appear as soon as the image is on screen")).to_have_count(0)
            progress = page.get_by_test_id("stProgress")
            expect(progress).to_contain_text(f"case {before['position']} of {total} (#{case_id},")
            settle(page)
            page.screenshot(path=shots / "1-opened.png")

            # window/level by dragging on the browser reader, then a preset by key
            status = page.locator(".mk-status")  # the reader's caption (in its shadow root)
            reader = page.locator("canvas.mk-canvas")
            box = reader.bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            initial = status.inner_text()
            assert "(Header)" in initial and "zoom fit" in initial
            page.mouse.move(cx, cy)
            page.mouse.down()
            page.mouse.move(cx + 60, cy + 30, steps=6)
            page.mouse.up()
            expect(status).not_to_have_text(initial)
            dragged = status.inner_text()
            assert "(Header)" not in dragged and "zoom fit" in dragged
            page.keyboard.press("4")  # the reader has focus: 4 = the Lung preset
            expect(status).to_contain_text("(Lung)")
            # wheel zoom about the cursor: two notches in
            page.mouse.move(box["x"] + 0.4 * box["width"], box["y"] + 0.4 * box["height"])
            page.mouse.wheel(0, -240)
            expect(status).not_to_contain_text("zoom fit")
            page.wait_for_timeout(800)  # the view is reported to the server (debounced)
            settle(page)

            # label 1 with the mouse: pneumonia present, confidence 60 %
            labels_head = page.get_by_text("Labels ·")
            page.locator(f".st-key-lab_{pneumonia}").get_by_role("radio", name="Present").click()
            expect(labels_head).to_contain_text("1 of 7 answered")
            grade = page.locator(f".st-key-grade_{pneumonia} input[type=range]")
            expect(grade).to_have_attribute("aria-valuetext", "100 %")
            grade.focus()
            page.keyboard.press("ArrowLeft")
            expect(grade).to_have_attribute("aria-valuetext", "80 %")
            page.keyboard.press("ArrowLeft")
            expect(grade).to_have_attribute("aria-valuetext", "60 %")

            # label 2 with the keyboard: cursor to pulmonary edema (3rd), grade 80 %, absent
            labels_head.click()  # focus outside any input (and outside the reader)
            page.keyboard.press("j")
            expect(labels_head).to_contain_text("keys act on pneumonia")
            page.keyboard.press("j")
            expect(labels_head).to_contain_text("keys act on pulmonary edema")
            page.keyboard.press("a")  # absent; the cursor moves on
            expect(labels_head).to_contain_text("2 of 7 answered")
            page.keyboard.press("k")  # back to pulmonary edema, now answered: grade it
            expect(labels_head).to_contain_text("keys act on pulmonary edema")
            page.keyboard.press("4")
            edema_grade = page.locator(f".st-key-grade_{edema} input[type=range]")
            expect(edema_grade).to_have_attribute("aria-valuetext", "80 %")
            settle(page)
            page.screenshot(path=shots / "2-labels.png")

            # a rectangle for pneumonia, drawn on the zoomed view (the canvas opens on it)
            page.locator(".st-key-roi_label").click()
            page.get_by_role("option", name="pneumonia").click()
            expect(page.locator(".st-key-roi_swatch")).to_contain_text("draws pneumonia")
            page.locator(".st-key-roi_mode").get_by_role("radio", name="Rectangle").click()
            caption = page.locator(".st-key-view_caption")
            expect(caption).to_contain_text("(pixels ")
            settle(page)
            crop = _crop(caption.inner_text())
            canvas = page.locator("canvas").first
            box = canvas.bounding_box()
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
            page.locator(".st-key-roi_mode").get_by_role("radio", name="View").click()
            page.wait_for_function(PAINTED)

            page.locator(".st-key-submit").get_by_role("button", name="Submit").first.click()
            expect(page.get_by_text(f"Saved case {case_id} as version 1")).to_be_visible()
            expect(progress).to_contain_text(f"{before['done'] + 1} / {total} cases done")
            settle(page)
            page.screenshot(path=shots / "4-submitted.png")

            # the case Next opens had its pixels sent ahead (reading.prefetch): no wait for them
            held = page.evaluate(HELD_CASES)
            page.locator(".st-key-next_case").get_by_role("button", name="Next").first.click()
            page.wait_for_function(f"(c) => ({PAINTED_CASE})() !== c", arg=case_id)
            settle(page)
            assert page.evaluate(PAINTED_CASE) == before["next"]
            assert before["next"] in held

            # a reload keeps the login (server-side session in a cookie)
            page.reload()
            page.wait_for_function(PAINTED, timeout=60_000)
            expect(progress).to_contain_text(f"{before['done'] + 1} / {total} cases done")
            assert page.get_by_label("Username").count() == 0

            # finish the queue, then jump back to the first case with the case list and edit it
            # (the reloaded page opens on the first case not yet annotated)
            for done in range(before["done"] + 2, total + 1):
                page.locator(".st-key-kb_rest button").first.click()
                settle(page)
                page.locator(".st-key-submit").get_by_role("button", name="Submit").first.click()
                expect(progress).to_contain_text(f"{done} / {total} cases done")
                settle(page)
                if done < total:
                    page.locator(".st-key-next_case").get_by_role(
                        "button", name="Next"
                    ).first.click()
                    settle(page)
            expect(progress).to_contain_text(f"{total} / {total} cases done")
            first_id = before["first"]
            page.get_by_role("button", name=f"Cases ({total})").click()
            page.locator(".st-key-case_jump").click()
            page.get_by_role("option", name=re.compile(rf"^1\. #{first_id} ")).click()
            expect(progress).to_contain_text(f"case 1 of {total} (#{first_id},")
            settle(page)
            first_answer = page.locator(f".st-key-lab_{pneumonia}")
            current = "Present" if before["first_pneumonia"] is False else "Absent"
            first_answer.get_by_role("radio", name=current).click()
            settle(page)
            page.locator(".st-key-submit").get_by_role("button", name="Submit").first.click()
            expect(page.get_by_text(f"Saved case {first_id} as version")).to_be_visible()
            settle(page)
            page.screenshot(path=shots / "5-edited-first.png")
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
            assert {a.annotator_id for a in added} == {before["ann1"]}
            assert [(a.case_id, a.version) for a in added if a.case_id == case_id] == [(case_id, 1)]
            # the case edited after the queue was finished got a new version
            edited = [a for a in added if a.case_id == before["first"]]
            assert len(edited) == 1 and edited[0].version >= 2
            annotation = next(a for a in added if a.case_id == case_id)
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
            # drawn on a zoomed view: image pixels inside the crop the caption showed
            cx0, cy0, cx1, cy1 = crop
            assert (cx1 - cx0, cy1 - cy0) != (case.cols, case.rows)  # not the fit view
            expected = (
                cx0 + DRAW_FROM[0] * (cx1 - cx0),
                cy0 + DRAW_FROM[1] * (cy1 - cy0),
                cx0 + DRAW_TO[0] * (cx1 - cx0),
                cy0 + DRAW_TO[1] * (cy1 - cy0),
            )
            for got, want in zip((rx0, ry0, rx1, ry1), expected, strict=True):
                assert abs(got - want) <= 3, ((rx0, ry0, rx1, ry1), expected)
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
