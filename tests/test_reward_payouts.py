"""Payouts sum exactly to the budget; Dawid–Skene convergence is recorded and shown (issue 9)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from markit_core.accounts import get_user
from markit_core.agreement.dawid_skene import dawid_skene_long
from markit_core.errors import ValidationError
from markit_core.labels import add_labels, list_labels
from markit_core.models import RewardRun, Role
from markit_core.rewards import engine
from markit_core.rewards import runs as reward_runs
from markit_core.rewards.engine import compute_rewards
from markit_core.rewards.report import format_table, result_to_dict
from markit_core.rewards.rounding import largest_remainder
from tests.apptest_helpers import fresh_app, log_in, open_page, plotly_figures, point_app_at
from tests.conftest import PASSWORD
from tests.review_helpers import add_cases, build_example, read
from tests.test_rewards import table_from

# Everybody agrees on every image: three equal shares of 1000 that round to 333.33 each.
EQUAL = {"x": ["FFF", "TTT", "TTT", "FFF", "FFF"]}


def _cents(values) -> Decimal:
    return sum((Decimal(f"{v:.2f}") for v in values), Decimal(0))


def test_largest_remainder_on_the_issue_shares() -> None:
    # shares whose separate rounding pays 280.69 + 323.80 + 395.52 = 1000.01
    shares = np.array([0.280686, 0.323796, 0.395518])
    assert _cents(np.round(1000 * shares / shares.sum(), 2)) == Decimal("1000.01")
    paid = largest_remainder(shares, 1000.0, 2)
    assert _cents(paid) == Decimal("1000.00")
    assert np.abs(paid - 1000 * shares / shares.sum()).max() <= 0.01
    assert list(largest_remainder(np.array([1.0, 1.0, 1.0]), 1000.0, 2)) == [333.34, 333.33, 333.33]
    assert list(largest_remainder(np.array([1.0, 2.0]), 10.0, 0)) == [3.0, 7.0]
    with pytest.raises(ValidationError):
        largest_remainder(np.array([0.0, 0.0]), 10.0)
    with pytest.raises(ValidationError):
        largest_remainder(np.array([1.0]), 10.0, decimals=12)


def test_engine_payouts_sum_exactly_to_the_budget() -> None:
    checked = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        images = ["".join(rng.choice(list("TF"), 4)) for _ in range(9)]
        table = table_from({"a": images, "b": images[::-1]}, "ABCD")
        try:
            r = compute_rewards(table, budget=1000.0)
        except engine.NoPositiveScoresError:
            continue
        checked += 1
        assert _cents(r.payouts) == Decimal("1000.00")
        assert np.abs(r.payouts - r.rewards).max() <= 0.01 + 1e-9
        assert r.rewards.sum() == pytest.approx(1000.0)  # exact shares are kept too
    assert checked >= 20


def test_equal_shares_pay_the_whole_budget_everywhere(session, settings, make_user, make_project):
    r = compute_rewards(table_from(EQUAL), budget=1000.0)
    assert _cents(np.round(r.rewards, 2)) == Decimal("999.99")  # what naive rounding paid
    assert _cents(r.payouts) == Decimal("1000.00")
    assert result_to_dict(r)["payouts"] == {"A": 333.34, "B": 333.33, "C": 333.33}
    assert "333.34" in format_table(r)

    owner = make_user("pi")
    names = ("ann_a", "ann_b", "ann_c")
    for name in names:
        make_user(name)
    project = make_project("Equal", owner, {n: [Role.ANNOTATOR] for n in names})
    add_labels(session, owner, project.id, [("x", "G")])
    x = list_labels(session, owner, project.id)[0].id
    for case_id, pattern in zip(
        add_cases(session, settings, project.id, 5), EQUAL["x"], strict=True
    ):
        for name, ch in zip(names, pattern, strict=True):
            read(session, get_user(session, name), project.id, case_id, {x: ch == "T"})
    run_id, _ = reward_runs.run_rewards(session, owner, project.id, budget=1000, currency="=EUR")
    run = reward_runs.get_run(session, owner, project.id, run_id)
    rows = list(csv.DictReader(io.StringIO(reward_runs.run_csv(run))))
    assert _cents(float(r["reward"]) for r in rows) == Decimal("1000.00")
    assert sum(Decimal(r["reward"]) for r in rows) == Decimal("1000.00")


def test_dawid_skene_reports_whether_it_converged() -> None:
    rater = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    item = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    value = np.array([1, 1, 0, 0, 0, 1, 1, 0, 1], dtype=bool)
    short = dawid_skene_long(rater, item, value, 3, 3, max_iter=1)
    assert (short.converged, short.n_iter) == (False, 1)
    full = dawid_skene_long(rater, item, value, 3, 3)
    assert full.converged and full.n_iter < engine.DS_MAX_ITER


def test_reward_runs_record_dawid_skene_convergence(
    session, settings, make_user, make_project, monkeypatch
):
    ex = build_example(session, settings, make_user, make_project)
    run_id, result = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=100, truth="dawid_skene"
    )
    assert result.ds_converged is True and result.ds_iterations > 0
    stored = session.get(RewardRun, run_id).result["dawid_skene"]
    assert stored == {"converged": True, "iterations": result.ds_iterations}
    majority_id, _ = reward_runs.run_rewards(session, ex.owner, ex.project.id, budget=100)
    assert session.get(RewardRun, majority_id).result["dawid_skene"] is None

    monkeypatch.setattr(engine, "DS_MAX_ITER", 1)
    capped_id, capped = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=100, truth="dawid_skene"
    )
    assert capped.ds_converged is False
    assert session.get(RewardRun, capped_id).result["dawid_skene"] == {
        "converged": False,
        "iterations": 1,
    }
    assert "did not converge" in format_table(capped)


PAGE = str(Path(__file__).parent.parent / "pages" / "rewards.py")


def test_rewards_page_says_when_dawid_skene_did_not_converge(
    session, settings, make_user, make_project, monkeypatch
):
    point_app_at(settings, monkeypatch)
    build_example(session, settings, make_user, make_project)
    monkeypatch.setattr(engine, "DS_MAX_ITER", 1)
    at = open_page(log_in(fresh_app(), "pi", PASSWORD), "rewards")
    at.radio(key="rw_truth").set_value("dawid_skene")
    at.button(key="reward_submit").click().run()
    assert not at.exception, at.exception
    assert any("did not converge" in w.value for w in at.warning)
    bar = plotly_figures(at)["rw_bar"]["data"][0]
    assert sum(Decimal(f"{y:.2f}") for y in bar["y"]) == Decimal("1000.00")

    monkeypatch.setattr(engine, "DS_MAX_ITER", 10_000)
    at.button(key="reward_submit").click().run()
    assert not at.exception, at.exception
    assert not any("did not converge" in w.value for w in at.warning)
