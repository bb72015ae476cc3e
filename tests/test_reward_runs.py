"""Reward runs from stored annotations: Eq. 1 result, storage, ledger, audit, CSV, errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.errors import NotFoundError, PermissionDenied, ValidationError
from markit_core.export.csv_export import export_annotations_csv
from markit_core.labels import add_labels, list_labels
from markit_core.models import LedgerEntry, RewardRun, Role
from markit_core.rewards import runs as reward_runs
from markit_core.rewards.engine import NoPositiveScoresError
from tests.review_helpers import ANNOTATORS, add_cases, build_example, read

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ex(session, settings, make_user, make_project):
    return build_example(session, settings, make_user, make_project)


def test_worked_example_pays_50_25_25_and_is_stored(session, ex):
    run_id, result = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=100, currency="tokens"
    )
    assert dict(zip(result.annotators, result.rewards, strict=True)) == pytest.approx(
        {"ann_a": 50.0, "ann_b": 25.0, "ann_c": 25.0}
    )
    np.testing.assert_allclose(result.scores, [3.0, 1.5, 1.5])
    np.testing.assert_allclose(result.tbar, [0.5, 1.0])  # labels sorted: effusion, pneumothorax
    row = session.get(RewardRun, run_id)
    assert row.run_by == ex.owner.id and row.project_id == ex.project.id
    assert row.params["budget"] == 100 and row.params["currency"] == "tokens"
    assert (row.params["truth"], row.params["kappa_threshold"], row.params["ai_reference"]) == (
        "majority",
        0.05,
        False,
    )
    assert (row.params["answers"], row.params["cases"]) == (24, 4)
    assert row.params["annotators"] == list(ANNOTATORS) and len(row.params["input_sha256"]) == 64
    assert row.result["rewards"] == pytest.approx({"ann_a": 50.0, "ann_b": 25.0, "ann_c": 25.0})
    assert row.result["labels"]["effusion"] == pytest.approx(
        {"T": 0.5, "tbar": 0.5, "mean_seconds": 5.0}
    )
    assert row.result["time_boxes"]["pneumothorax"]["ann_b"]["median"] == 10.0
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.action == "rewards.run")).all()
    assert [(e.record_type, e.record_id, e.actor) for e in entries] == [
        ("reward_run", str(run_id), "pi")
    ]
    assert ledger.integrity(session).ok


def test_a_stored_payout_cannot_be_edited_unnoticed(session, ex):
    run_id, _ = reward_runs.run_rewards(session, ex.owner, ex.project.id, budget=100)
    row = session.get(RewardRun, run_id)
    row.result = {**row.result, "rewards": {"ann_a": 0.0, "ann_b": 50.0, "ann_c": 50.0}}
    session.add(row)
    session.commit()
    result = ledger.integrity(session)
    assert not result.ok and result.problem.kind == "record changed"


def test_run_equals_the_cli_on_an_export_of_the_same_answers(session, ex, tmp_path):
    run_id, _ = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=1000, kappa_threshold=0.05
    )
    path = tmp_path / "A.csv"
    path.write_text(export_annotations_csv(session, ex.owner, ex.project.id))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "markit_core",
            "rewards",
            "--annotations",
            str(path),
            "--budget",
            "1000",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    cli = json.loads(proc.stdout.strip().splitlines()[-1])
    stored = reward_runs.get_run(session, ex.owner, ex.project.id, run_id).result
    assert cli["rewards"] == pytest.approx(stored["rewards"])
    assert cli["scores"] == pytest.approx(stored["scores"])
    assert cli["agreement"] == stored["agreement"]
    assert cli["labels"]["pneumothorax"]["tbar"] == pytest.approx(
        stored["labels"]["pneumothorax"]["tbar"]
    )


def test_dawid_skene_rule_is_recorded(session, ex):
    run_id, result = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=10, truth="Dawid-Skene"
    )
    assert result.truth_rule == "dawid_skene"
    assert session.get(RewardRun, run_id).params["truth"] == "dawid_skene"
    assert result.rewards.sum() == pytest.approx(10.0)


def test_edited_and_deleted_readings_use_the_current_version(session, ex):
    _, before = reward_runs.run_rewards(session, ex.owner, ex.project.id, budget=100)
    # C changes image 4 effusion to True: effusion image 4 becomes T by 2-1
    read(
        session,
        ex.annotators["ann_c"],
        ex.project.id,
        ex.cases[3],
        {ex.labels["effusion"]: True, ex.labels["pneumothorax"]: True},
        confidence=60,
        seconds={ex.labels["effusion"]: 5.0, ex.labels["pneumothorax"]: 10.0},
        token="edit-c4",
    )
    _, after = reward_runs.run_rewards(session, ex.owner, ex.project.id, budget=100)
    assert not np.allclose(before.rewards, after.rewards)
    assert after.n_answers.sum() == 24
    runs = reward_runs.list_runs(session, ex.owner, ex.project.id)
    first, second = (
        reward_runs.get_run(session, ex.owner, ex.project.id, r.id) for r in reversed(runs)
    )
    assert first.params["input_sha256"] != second.params["input_sha256"]


def test_no_positive_score_is_a_clear_error_and_stores_nothing(session, settings, ex, make_project):
    # every answer "absent" and untimed: T = tbar = 0, so every S is 0
    p2 = make_project(
        "All absent", ex.owner, {"ann_a": [Role.ANNOTATOR], "ann_b": [Role.ANNOTATOR]}
    )
    add_labels(session, ex.owner, p2.id, [("nodule", "Lung")])
    nodule = list_labels(session, ex.owner, p2.id)[0].id
    for case_id in add_cases(session, settings, p2.id, 2, start=20):
        for a in ("ann_a", "ann_b"):
            read(session, ex.annotators[a], p2.id, case_id, {nodule: False})
    before = len(session.exec(select(LedgerEntry)).all())
    with pytest.raises(NoPositiveScoresError, match="no annotator has a positive score") as info:
        reward_runs.run_rewards(session, ex.owner, p2.id, budget=100)
    assert info.value.scores == {"ann_a": 0.0, "ann_b": 0.0}
    assert session.exec(select(RewardRun)).all() == []
    assert len(session.exec(select(LedgerEntry)).all()) == before


def test_no_answers_and_bad_parameters_are_refused(session, ex, make_project):
    empty = make_project("Empty", ex.owner)
    with pytest.raises(ValidationError, match="no answers to reward"):
        reward_runs.run_rewards(session, ex.owner, empty.id, budget=100)
    pid = ex.project.id
    with pytest.raises(ValidationError, match="budget"):
        reward_runs.run_rewards(session, ex.owner, pid, budget=0)
    with pytest.raises(ValidationError, match="kappa threshold"):
        reward_runs.run_rewards(session, ex.owner, pid, budget=10, kappa_threshold=2)
    with pytest.raises(ValidationError, match="currency"):
        reward_runs.run_rewards(session, ex.owner, pid, budget=10, currency="to\x07kens")
    with pytest.raises(ValidationError, match="truth rule"):
        reward_runs.run_rewards(session, ex.owner, pid, budget=10, truth="vote")
    assert session.exec(select(RewardRun)).all() == []


def test_permissions(session, ex, make_user):
    for who in (ex.reviewer, ex.annotators["ann_a"]):
        with pytest.raises(PermissionDenied, match="may not rewards"):
            reward_runs.run_rewards(session, who, ex.project.id, budget=100)
        with pytest.raises(PermissionDenied):
            reward_runs.list_runs(session, who, ex.project.id)
    with pytest.raises(NotFoundError):
        reward_runs.run_rewards(session, make_user("stranger"), ex.project.id, budget=100)


def test_audit_list_get_and_csv(session, ex, make_project):
    first, _ = reward_runs.run_rewards(session, ex.owner, ex.project.id, budget=100, currency="EUR")
    second, _ = reward_runs.run_rewards(
        session, ex.owner, ex.project.id, budget=300, currency="tokens", kappa_threshold=0.1
    )
    runs = reward_runs.list_runs(session, ex.owner, ex.project.id)
    assert [
        (r.id, r.budget, r.currency, r.kappa_threshold, r.annotators, r.answers, r.run_by)
        for r in runs
    ] == [(second, 300.0, "tokens", 0.1, 3, 24, "pi"), (first, 100.0, "EUR", 0.05, 3, 24, "pi")]
    run = reward_runs.get_run(session, ex.owner, ex.project.id, first)
    rows = list(csv.DictReader(io.StringIO(reward_runs.run_csv(run))))
    assert [r["annotator"] for r in rows] == list(ANNOTATORS)
    assert [float(r["reward"]) for r in rows] == [50.0, 25.0, 25.0]
    assert {r["currency"] for r in rows} == {"EUR"}
    assert float(rows[0]["contribution:effusion"]) + float(
        rows[0]["contribution:pneumothorax"]
    ) == pytest.approx(float(rows[0]["score"]))
    other = make_project("Other", ex.owner)
    with pytest.raises(NotFoundError):
        reward_runs.get_run(session, ex.owner, other.id, first)


def test_time_boxes_match_numpy():
    from markit_core.rewards.table import AnnotationTable

    rng = np.random.default_rng(3)
    n = 60
    secs = rng.lognormal(1.5, 0.5, n)
    secs[4] = 200.0  # an outlier beyond the whisker (annotator "b")
    secs[7] = np.nan  # an untimed answer (annotator "a")
    table = AnnotationTable.from_columns(
        [str(j) for j in range(n)],
        ["x"] * n,
        ["a" if j % 2 else "b" for j in range(n)],
        np.ones(n, bool),
        seconds=secs,
    )
    boxes = reward_runs.time_boxes(table)
    b = secs[np.arange(n) % 2 == 0]
    b = b[~np.isnan(b)]
    q1, med, q3 = np.percentile(b, [25, 50, 75])
    got = boxes["x"]["b"]
    assert (got["n"], got["q1"], got["median"], got["q3"]) == (
        b.size,
        pytest.approx(q1),
        pytest.approx(med),
        pytest.approx(q3),
    )
    assert got["upperfence"] < 200.0 and got["upperfence"] == b[b <= q3 + 1.5 * (q3 - q1)].max()
    assert boxes["x"]["a"]["n"] == 29 and got["n"] == 30
