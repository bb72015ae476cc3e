"""The AI reference and the anchoring report where reviewers and managers see them."""

from __future__ import annotations

import pytest

from markit_core.annotation.submit import Answer, submit
from markit_core.inference import service
from markit_core.inference.prelabels import Exposure
from markit_core.rewards.runs import get_run, run_rewards
from tests.ai.conftest import MODEL
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD


@pytest.fixture
def app_env(settings, monkeypatch):
    point_app_at(settings, monkeypatch)
    return settings


def _readings(session, settings, w) -> None:
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    eff = w.labels["effusion"]
    for n, case_id in enumerate(w.cases[:4]):
        pred = service.predict_case(session, w.manager, settings, w.project_id, case_id, MODEL)
        exposure = (
            {eff: Exposure(True, MODEL, "1", pred.outputs["effusion"], mode="before")}
            if n % 2
            else {eff: Exposure(False, mode="before")}
        )
        submit(
            session,
            w.annotator,
            w.project_id,
            case_id,
            answers={eff: Answer(n < 2, 80)},
            token=f"rp-{n}",
            exposure=exposure,
        )


def test_review_page_shows_the_ai_influence(session, app_env, ai_world, tiny_model):
    _readings(session, app_env, ai_world)
    at = open_page(log_in(fresh_app(timeout=120), "reviewer", PASSWORD), "review_heatmap")
    assert not at.exception, at.exception
    frame = next(d.value for d in at.dataframe if "acceptance_rate" in d.value.columns)
    row = frame.set_index("label").loc["effusion"]
    assert (row["n_with"], row["n_without"]) == (2, 2)


def test_reward_runs_use_the_stored_ai_reference(session, settings, ai_world, tiny_model):
    w = ai_world
    _readings(session, settings, w)
    eff = w.labels["effusion"]
    for n, case_id in enumerate(w.cases[:4]):  # a second reader, so scores can be positive
        submit(
            session,
            w.owner,
            w.project_id,
            case_id,
            answers={eff: Answer(n < 2, 100)},
            token=f"owner-{n}",
        )
    run_id, _ = run_rewards(session, w.owner, w.project_id, budget=100.0, kappa_threshold=-1.0)
    assert get_run(session, w.owner, w.project_id, run_id).params["ai_reference"] is True
