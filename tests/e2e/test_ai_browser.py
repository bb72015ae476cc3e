"""Browser end-to-end: an annotator sees the AI's pre-labels and its Grad-CAM overlay.

On a seeded demo (its shipped pathology CNN made the project's active model, pre-labels shown
before reading), ``ann1`` opens a case in headless Chromium, turns the Grad-CAM overlay on,
raises its opacity, answers a label and submits. The image on the canvas must change with the
overlay and with the opacity; the database must hold the model's stored prediction and the
reading with its exposure (suggestion visible, model version, score), and the ledger must
verify. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlmodel import select

from markit_core.db import open_database
from markit_core.db import session as new_session
from markit_core.demo.seed import DEMO_PROJECT
from markit_core.models import (
    AiPrediction,
    Annotation,
    AnnotationExposure,
    LabelDef,
    Project,
    User,
)
from tests.e2e.test_annotate_browser import (  # noqa: F401 - the demo_server fixture
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    ROOT,
    _state,
    demo_server,
    settle,
)

pytestmark = pytest.mark.e2e
MODEL = "demo-pathologies"


def _turn_ai_on(settings) -> None:
    from markit_core.inference.prelabels import update_ai_options
    from markit_core.inference.service import set_active_model

    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            pi = s.exec(select(User).where(User.username == "pi")).one()
            project = s.exec(select(Project).where(Project.name == DEMO_PROJECT)).one()
            set_active_model(s, pi, project.id, MODEL, "1")
            update_ai_options(s, pi, project.id, prelabel_mode="before")
    finally:
        engine.dispose()


def _changed_canvas(page, before: bytes, path, seconds: int = 90) -> bytes:
    """The canvas once it shows something other than ``before`` (it repaints after a rerun)."""
    shot = before
    for _ in range(seconds):
        settle(page)
        shot = page.locator("canvas").first.screenshot(path=path)
        if shot != before:
            break
        page.wait_for_timeout(1000)
    return shot


@pytest.mark.timeout(1200)  # the first AI call imports torch and grad-cam in the server
def test_annotator_sees_the_grad_cam_overlay_and_changes_its_opacity(demo_server, tmp_path):  # noqa: F811, E501
    from playwright.sync_api import expect, sync_playwright

    url, settings = demo_server
    _turn_ai_on(settings)
    before = _state(settings)
    case_id = before["case"]
    pneumonia = before["labels"]["pneumonia"]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(240_000)
        expect.set_options(timeout=240_000)
        try:
            page.goto(url, timeout=60_000)
            page.get_by_label("Username").fill("ann1", timeout=60_000)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("link", name="Annotate").click()
            canvas = page.locator("canvas").first
            canvas.wait_for(timeout=400_000)  # minutes on a loaded 2-core machine
            expect(page.get_by_text("AI ", exact=False).first).to_be_visible()
            settle(page)
            plain = canvas.screenshot(path=shots / "1-plain.png")

            slider = page.locator(".st-key-ai_opacity input[type=range]")
            expect(slider).to_be_disabled()
            page.locator(".st-key-ai_show_heatmap").get_by_text("Show Grad-CAM overlay").click()
            expect(slider).to_be_enabled()
            low = _changed_canvas(page, plain, shots / "2-overlay-50.png")
            assert low != plain, "the Grad-CAM overlay did not change the image"

            slider.focus()
            for _ in range(8):  # 0.50 -> 0.90 in steps of 0.05
                page.keyboard.press("ArrowRight")
            expect(slider).to_have_attribute("aria-valuetext", "0.90")
            slider.blur()  # commit the value
            high = _changed_canvas(page, low, shots / "3-overlay-90.png")
            assert high != low, "changing the opacity did not change the overlay"

            page.locator(f".st-key-lab_{pneumonia}").get_by_role("radio", name="Present").click()
            settle(page)
            page.locator(".st-key-submit").get_by_role("button", name="Submit").first.click()
            expect(page.get_by_text(f"Saved case {case_id} as version 1")).to_be_visible()
            settle(page)
            page.screenshot(path=shots / "4-submitted.png")
        except Exception:
            page.screenshot(path=shots / "failure.png")
            (shots / "failure.html").write_text(page.content())
            raise
        finally:
            browser.close()

    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            preds = s.exec(select(AiPrediction).where(AiPrediction.case_id == case_id)).all()
            assert [(p.model_name, p.version) for p in preds] == [(MODEL, "1")]
            annotation = s.exec(
                select(Annotation).where(
                    Annotation.case_id == case_id, Annotation.annotator_id == before["ann1"]
                )
            ).one()
            exposure = s.exec(
                select(AnnotationExposure).where(AnnotationExposure.annotation_id == annotation.id)
            ).one()
            label = s.get(LabelDef, exposure.label_id)
            assert label.name == "pneumonia" and exposure.suggestion_visible
            assert (exposure.model_name, exposure.version, exposure.mode) == (MODEL, "1", "before")
            assert exposure.score == pytest.approx(preds[0].outputs["pneumonia"])
    finally:
        engine.dispose()
    env = {**os.environ, "MARKIT_DATA_DIR": str(settings.data_dir)}
    env.pop("MARKIT_DATABASE_URL", None)
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
