"""AppTest: the AI-assist page — models, probabilities, Grad-CAM, settings, bad input."""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core.inference.prelabels import ai_options
from markit_core.models import AiPrediction, AiRun
from tests.ai.conftest import LABELS, MODEL
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD


@pytest.fixture
def app_env(settings, monkeypatch):
    point_app_at(settings, monkeypatch)
    return settings


def _open(username: str, **state):
    at = log_in(fresh_app(timeout=120), username, PASSWORD)
    for key, value in state.items():
        at.session_state[key] = value
    at = open_page(at, "ai_assist")
    assert not at.exception, at.exception
    return at


def _outputs_frame(at):
    return next(d.value for d in at.dataframe if "probability" in d.value.columns)


def test_manager_sees_probabilities_and_the_heatmap(session, app_env, ai_world, tiny_model):
    at = _open("manager", ai_model=f"{MODEL}@1")
    frame = _outputs_frame(at)
    assert list(frame["label"]) == list(LABELS)
    assert frame["probability"].between(0, 1).all()
    assert at.toggle(key="ai_show_heatmap").value is True
    assert any("Grad-CAM of 'effusion' at 50% opacity" in c.value for c in at.caption)
    assert len(at.image) == 1
    at.slider(key="ai_opacity").set_value(0.8).run()
    assert not at.exception
    assert any("at 80% opacity" in c.value for c in at.caption)
    assert len(session.exec(select(AiPrediction)).all()) == 1  # the selected case, stored once
    for key in ("ai_run_start", "ai_activate", "ai_train_start", "ai_al_run"):
        assert at.button(key=key) is not None


def test_missing_weights_explain_where_to_put_them(session, app_env, ai_world):
    at = _open("manager", ai_model="xrv-densenet121-all@1")
    # messages are shown as escaped markdown (user text is plain text): compare unescaped
    errors = " ".join(e.value for e in at.error).replace("\\", "")
    assert "not found" in errors and "MARKIT_WEIGHTS_DIR" in errors
    infos = " ".join(i.value for i in at.info)
    assert "MARKIT_WEIGHTS_DIR" in infos and str(app_env.resolved_weights_dir) in infos


def test_manager_changes_the_pre_label_mode(session, app_env, ai_world, tiny_model):
    at = _open("manager", ai_model=f"{MODEL}@1")
    at.radio(key="ai_mode").set_value("before")
    at.checkbox(key="ai_one_click").check()
    at.button(key="ai_settings_save").click().run()
    assert not at.exception
    session.expire_all()
    got = ai_options(session, ai_world.project_id)
    assert got.prelabel_mode == "before" and got.one_click_accept


def test_training_below_the_minimum_is_refused_on_the_page(session, app_env, ai_world, tiny_model):
    at = _open("manager", ai_model=f"{MODEL}@1")
    at.button(key="ai_train_start").click().run()
    assert any("training needs at least 20" in e.value for e in at.error)


def test_run_over_project_starts_and_reports(session, app_env, ai_world, tiny_model):
    at = _open("manager", ai_model=f"{MODEL}@1")
    at.button(key="ai_run_start").click().run()
    assert not at.exception
    from markit_core.inference.project_run import wait_for_run

    run = session.exec(select(AiRun)).one()
    assert wait_for_run(run.id, timeout=120)


def test_annotator_sees_the_page_without_manager_sections(session, app_env, ai_world, tiny_model):
    at = _open("annotator", ai_model=f"{MODEL}@1")
    assert list(_outputs_frame(at)["label"]) == list(LABELS)
    keys = {b.key for b in at.button}
    assert "ai_run_start" not in keys and "ai_train_start" not in keys


def test_data_owner_is_not_offered_the_page(session, app_env, ai_world):
    at = log_in(fresh_app(), "dataowner", PASSWORD)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/ai_assist.py")


def test_overlay_follows_the_opacity(settings, ai_world):
    """The composite really changes with the opacity, and 0 leaves the view untouched."""
    import io

    import numpy as np
    from PIL import Image

    from markit_core.inference.overlay import full_image_mapping
    from markit_core.inference.store import save_cam
    from ui import ai as ai_ui

    mapping = full_image_mapping((64, 48))
    grey = Image.fromarray(np.full((48, 64), 100, np.uint8)).convert("RGB")
    buf = io.BytesIO()
    grey.save(buf, "PNG")
    cam = np.zeros((32, 32), np.float32)
    cam[8:16, 8:16] = 1.0
    save_cam(settings, 1, "m", "1", "x", cam)
    key = (1, "m", "1", "x")

    def pixels(opacity: float) -> np.ndarray:
        out = ai_ui.with_heatmap(buf.getvalue(), mapping, settings, key, opacity)
        return np.asarray(Image.open(io.BytesIO(out)).convert("RGB"), dtype=int)

    base = np.asarray(grey, dtype=int)
    assert np.array_equal(pixels(0.0), base)
    low, high = np.abs(pixels(0.2) - base), np.abs(pixels(0.9) - base)
    assert high.sum() > low.sum() > 0
    hot = high.sum(axis=2)
    assert hot[12 * 48 // 32, 12 * 64 // 32] > hot[40, 60]  # the hot cell, where the map is
