"""AppTest (issue 14): the rewards page shows diagnostics, intervals, the rule comparison, times."""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core.models import RewardRun, RewardSettings
from markit_core.rewards import runs as reward_runs
from tests.apptest_helpers import fresh_app, log_in, open_page, plotly_figures, point_app_at
from tests.conftest import PASSWORD
from tests.review_helpers import ANNOTATORS, build_example
from tests.test_reward_qc_settings import effusion_ai


@pytest.fixture
def app_env(settings, monkeypatch):
    point_app_at(settings, monkeypatch)
    return settings


def _open():
    at = open_page(log_in(fresh_app(), "pi", PASSWORD), "rewards")
    assert not at.exception, at.exception
    return at


def _frame(at, column):
    """The table that has ``column`` (AppTest gives st.dataframe elements no id to match)."""
    (frame,) = [d.value for d in at.dataframe if column in d.value.columns]
    return frame


def test_page_shows_intervals_diagnostics_rules_and_time_table(
    session, app_env, make_user, make_project
):
    ex = build_example(session, app_env, make_user, make_project)
    # A run with a partial AI reference (effusion only), as the AI issue will store one.
    run_id, _ = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=100, ai=effusion_ai(ex), n_resamples=300
    )
    overlaps = session.get(RewardRun, run_id).result["bootstrap"]["overlaps"]
    assert overlaps  # four images: the intervals are wide
    at = _open()
    assert not at.error, [e.value for e in at.error]
    figs = plotly_figures(at)

    bar = figs["rw_bar"]["data"][0]
    assert bar["x"] == list(ANNOTATORS)
    err = bar["error_y"]
    assert len(err["array"]) == len(err["arrayminus"]) == 3
    assert all(x >= 0 for x in err["array"] + err["arrayminus"])
    assert any(x > 0 for x in err["array"] + err["arrayminus"])
    intervals = _frame(at, "rank 95 % interval")
    assert list(intervals["annotator"]) == list(ANNOTATORS)
    assert (intervals["95 % low"] <= intervals["reward"]).all()
    assert (intervals["reward"] <= intervals["95 % high"]).all()
    (note,) = [i.value for i in at.info if "Overlapping 95 % intervals" in i.value]
    assert all(f"{a} and {b}" in note for a, b in overlaps)

    labels = _frame(at, "AI kappa vs consensus")
    assert list(labels["label"]) == ["effusion", "pneumothorax"]
    assert labels["status"].iloc[1] == "no AI reference: quality control not applied"
    exclusions = _frame(at, "95 % CI")
    assert list(exclusions["annotator"]) == ["ann_a"] and list(exclusions["label"]) == ["effusion"]
    assert "rare label" in exclusions["warnings"].iloc[0]
    assert any("ann_a on effusion" in w.value for w in at.warning)
    kappa = figs["rw_excl_kappa"]["data"][0]
    assert kappa["y"] == ["ann_a · effusion"] and len(kappa["error_x"]["array"]) == 1

    rules = _frame(at, "majority vote (paper)")
    assert list(rules.columns) == [
        "annotator",
        "majority vote (paper)",
        "Dawid–Skene",
        "adjudication where available, majority elsewhere",
    ]
    assert rules["adjudication where available, majority elsewhere"].isna().all()
    rule_bars = figs["rw_rules_bar"]["data"]
    assert [t["name"] for t in rule_bars] == ["majority vote (paper)", "Dawid–Skene"]
    assert all(t["x"] == list(ANNOTATORS) and len(t["y"]) == 3 for t in rule_bars)

    times = _frame(at, "± 95 % CI (s)")
    assert list(times["label"]) == ["overall", "effusion", "pneumothorax"]
    assert list(times["mean (s)"]) == pytest.approx([7.5, 5.0, 10.0])
    time_ci = figs["rw_time_ci"]["data"][0]
    assert time_ci["x"] == ["effusion", "pneumothorax"] and len(time_ci["error_y"]["array"]) == 2
    assert len(figs["rw_box"]["data"]) == 3


def test_settings_form_saves_the_gate(session, app_env, make_user, make_project):
    build_example(session, app_env, make_user, make_project)
    at = _open()
    assert at.checkbox(key="rw_gate").value is False
    at.number_input(key="rw_trust").set_value(0.7)
    at.checkbox(key="rw_gate").check()
    at.button(key="rw_qc_save").click().run()
    assert not at.exception, at.exception
    assert any("Settings saved" in s.value for s in at.success)
    (row,) = session.exec(select(RewardSettings)).all()
    assert (row.trust_level, row.trusted_ai_only) == (0.7, True)
    at.button(key="reward_submit").click().run()
    (run,) = session.exec(select(RewardRun)).all()
    assert run.params["trusted_ai_only"] is True and run.params["trust_level"] == 0.7
