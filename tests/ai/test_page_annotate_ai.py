"""AppTest: pre-labels and the Grad-CAM controls on the annotate page."""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core.inference import service
from markit_core.inference.prelabels import update_ai_options
from markit_core.models import AnnotationExposure
from tests.ai.conftest import MODEL
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD


@pytest.fixture
def app_env(settings, monkeypatch):
    point_app_at(settings, monkeypatch)
    return settings


def _open(**state):
    at = log_in(fresh_app(timeout=120), "annotator", PASSWORD)
    for key, value in state.items():
        at.session_state[key] = value
    at = open_page(at, "annotate")
    assert not at.exception, at.exception
    return at


def test_hidden_mode_shows_no_ai(session, app_env, ai_world, tiny_model):
    service.set_active_model(session, ai_world.manager, ai_world.project_id, MODEL, "1")
    at = _open()
    assert not any(c.value.startswith("AI ") for c in at.caption)
    assert "ai_show_heatmap" not in {t.key for t in at.toggle}


def test_pre_labels_with_one_click_accept_and_exposure(session, app_env, ai_world, tiny_model):
    w = ai_world
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    update_ai_options(
        session, w.manager, w.project_id, prelabel_mode="before", one_click_accept=True
    )
    at = _open()
    badges = [c.value for c in at.caption if c.value.startswith("AI ")]
    assert len(badges) == 2
    eff = w.labels["effusion"]
    at.button(key=f"ai_accept_lab_{eff}").click().run()
    assert not at.exception, at.exception
    at.toggle(key="ai_show_heatmap").set_value(True).run()
    assert not at.exception, at.exception
    at.slider(key="ai_opacity").set_value(0.75).run()
    assert not at.exception, at.exception
    # the same map, composited on the server-rendered view
    at.sidebar.toggle(key="view_client").set_value(False).run()
    assert not at.exception, at.exception
    at.button(key="submit").click().run()
    assert not at.exception, at.exception
    rows = session.exec(select(AnnotationExposure)).all()
    assert [(r.label_id, r.suggestion_visible, r.accepted, r.mode) for r in rows] == [
        (eff, True, True, "before")
    ]
