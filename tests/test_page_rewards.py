"""AppTest: the rewards page — a run is stored and drawn; errors are clear; only PIs see it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.labels import add_labels, list_labels
from markit_core.models import LedgerEntry, RewardRun, Role
from markit_core.rewards import runs as reward_runs
from tests.apptest_helpers import fresh_app, log_in, open_page, plotly_figures, point_app_at
from tests.conftest import PASSWORD
from tests.review_helpers import ANNOTATORS, add_cases, build_example, read
from tests.test_reward_qc_settings import effusion_ai
from tests.test_reward_run_result import PART_KEYS

PAGE = str(Path(__file__).parent.parent / "pages" / "rewards.py")
SUBMIT = "reward_submit"


@pytest.fixture
def app_env(settings, monkeypatch):
    point_app_at(settings, monkeypatch)
    return settings


def _open(username: str):
    at = open_page(log_in(fresh_app(), username, PASSWORD), "rewards")
    assert not at.exception, at.exception
    return at


def test_a_run_from_the_page_is_stored_and_drawn(session, app_env, make_user, make_project):
    build_example(session, app_env, make_user, make_project)
    at = _open("pi")
    assert any("No reward runs yet" in i.value for i in at.info)
    at.number_input(key="rw_budget").set_value(100.0)
    at.text_input(key="rw_currency").input("EUR")
    at.button(key=SUBMIT).click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (run,) = session.exec(select(RewardRun)).all()
    assert (run.params["budget"], run.params["currency"], run.params["truth"]) == (
        100.0,
        "EUR",
        "majority",
    )
    assert session.exec(
        select(LedgerEntry).where(LedgerEntry.action == "rewards.run")
    ).one().record_id == str(run.id)
    assert ledger.integrity(session).ok

    figs = plotly_figures(at)
    bar = figs["rw_bar"]["data"][0]
    assert bar["type"] == "bar" and bar["x"] == list(ANNOTATORS)
    assert bar["y"] == pytest.approx([50.0, 25.0, 25.0])
    contrib = figs["rw_contrib"]["data"]
    assert [t["name"] for t in contrib] == ["effusion", "pneumothorax"]
    assert all(t["x"] == list(ANNOTATORS) for t in contrib)
    boxes = figs["rw_box"]["data"]
    assert [t["type"] for t in boxes] == ["box"] * 3 and [t["name"] for t in boxes] == list(
        ANNOTATORS
    )
    assert all(t["x"] == ["effusion", "pneumothorax"] and t["median"] == [5.0, 10.0] for t in boxes)
    rewards_table = next(d.value for d in at.dataframe if "score S" in d.value.columns)
    assert list(rewards_table["reward (EUR)"]) == pytest.approx([50.0, 25.0, 25.0])
    (download,) = at.get("download_button")
    assert download.proto.label == "Download rewards CSV"
    runs_table = next(d.value for d in at.dataframe if "run_by" in d.value.columns)
    assert list(runs_table["id"]) == [run.id]


def test_dawid_skene_and_run_history(session, app_env, make_user, make_project):
    build_example(session, app_env, make_user, make_project)
    at = _open("pi")
    at.button(key=SUBMIT).click().run()
    at.radio(key="rw_truth").set_value("dawid_skene")
    at.number_input(key="rw_budget").set_value(500.0)
    at.button(key=SUBMIT).click().run()
    assert not at.exception, at.exception
    runs = session.exec(select(RewardRun).order_by(RewardRun.id)).all()
    assert [(r.params["truth"], r.params["budget"]) for r in runs] == [
        ("majority", 1000.0),
        ("dawid_skene", 500.0),
    ]
    assert at.selectbox(key="rw_run_pick").value == runs[1].id
    assert sum(plotly_figures(at)["rw_bar"]["data"][0]["y"]) == pytest.approx(500.0)
    at.selectbox(key="rw_run_pick").select(runs[0].id).run()
    assert sum(plotly_figures(at)["rw_bar"]["data"][0]["y"]) == pytest.approx(1000.0)


def test_no_answers_is_a_clear_error(session, app_env, make_user, make_project):
    make_project("Empty", make_user("pi"))
    at = _open("pi")
    at.button(key=SUBMIT).click().run()
    assert not at.exception, at.exception
    assert "no answers to reward" in at.error[0].value
    assert session.exec(select(RewardRun)).all() == []


def test_no_positive_score_is_a_clear_error(session, app_env, make_user, make_project):
    owner = make_user("pi")
    for name in ("ann_a", "ann_b"):
        make_user(name)
    project = make_project(
        "All absent", owner, {"ann_a": [Role.ANNOTATOR], "ann_b": [Role.ANNOTATOR]}
    )
    add_labels(session, owner, project.id, [("nodule", "Lung")])
    nodule = list_labels(session, owner, project.id)[0].id
    from markit_core.accounts import get_user

    for case_id in add_cases(session, app_env, project.id, 2):
        for name in ("ann_a", "ann_b"):
            read(session, get_user(session, name), project.id, case_id, {nodule: False})
    at = _open("pi")
    at.button(key=SUBMIT).click().run()
    assert not at.exception, at.exception
    assert "no annotator has a positive score" in at.error[0].value
    scores = next(d.value for d in at.dataframe if "score S" in d.value.columns)
    assert list(scores["annotator"]) == ["ann_a", "ann_b"] and list(scores["score S"]) == [0.0, 0.0]
    assert session.exec(select(RewardRun)).all() == []
    assert not plotly_figures(at)


def test_reviewers_and_annotators_have_no_rewards(session, app_env, make_user, make_project):
    from streamlit.testing.v1 import AppTest

    ex = build_example(session, app_env, make_user, make_project)
    for user in (ex.reviewer, ex.annotators["ann_a"]):
        fresh_app()
        at = AppTest.from_file(PAGE, default_timeout=30)
        at.session_state["user_id"] = user.id
        at.run()
        assert not at.exception, at.exception
        assert "owners and managers" in at.info[0].value
        assert not [b for b in at.button if b.key == SUBMIT]


def test_a_run_stored_before_the_explaining_parts_still_renders(
    session, app_env, make_user, make_project
):
    """An older run: no intervals, diagnostics, rule comparison or time table; the rest draws."""
    ex = build_example(session, app_env, make_user, make_project)
    run_id, _ = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=100, ai=effusion_ai(ex), n_resamples=20
    )
    full = session.get(RewardRun, run_id)
    old = {k: v for k, v in full.result.items() if k not in PART_KEYS}
    # and a pair excluded with an undefined kappa (reader and AI never positive)
    old["excluded"] = [{**e, "kappa": None} for e in old["excluded"]]
    session.add(
        RewardRun(project_id=ex.project.id, run_by=ex.owner.id, params=full.params, result=old)
    )
    session.commit()
    at = _open("pi")  # shows the newest run: the older-style one
    assert not at.error, [e.value for e in at.error]
    figs = plotly_figures(at)
    assert set(figs) == {"rw_bar", "rw_contrib", "rw_box"}  # no interval, rule or time charts
    bar = figs["rw_bar"]["data"][0]
    assert bar["x"] == list(ANNOTATORS) and "error_y" not in bar
    assert bar["y"] == pytest.approx([full.result["payouts"][a] for a in ANNOTATORS])
    assert figs["rw_bar"]["layout"]["title"]["text"] == "Rewards"
    columns = [set(d.value.columns) for d in at.dataframe]
    for part_column in ("rank 95 % interval", "AI kappa vs consensus", "± 95 % CI (s)"):
        assert not any(part_column in c for c in columns)
    assert not any(s.value == "Which rule decides" for s in at.subheader)
    (plain,) = [d.value for d in at.dataframe if "reason" in d.value.columns]
    assert list(plain["annotator"]) == ["ann_a"] and list(plain["label"]) == ["effusion"]
    assert plain["reason"].iloc[0].startswith("kappa vs AI undefined ≤ threshold 0.05")
    times = next(d.value for d in at.dataframe if "half_width" in d.value.columns)
    assert list(times["label"][:2]) == ["effusion", "pneumothorax"]
