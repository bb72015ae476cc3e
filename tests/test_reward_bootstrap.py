"""Issue 14: the bootstrap over cases, the rule comparison and the time table."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from markit_core.agreement.measures import MISSING
from markit_core.errors import ValidationError
from markit_core.rewards.analysis import analyse_rewards
from markit_core.rewards.bootstrap import bootstrap_rewards, case_weights, weighted_rewards
from markit_core.rewards.compare import compare_rules
from markit_core.rewards.diagnostics import QcSettings, rewards_with_qc
from markit_core.rewards.engine import compute_rewards
from markit_core.rewards.labelling_time import time_table
from markit_core.rewards.table import AnnotationTable
from tests.test_rewards import WORKED, table_from

ACCURACY = np.array([[0.95, 0.9], [0.85, 0.8], [0.75, 0.7]])  # annotator x label
PREVALENCE = np.array([0.3, 0.15])


def simulate(
    rng: np.random.Generator, n_cases: int, readers_per_case: int | None = None
) -> AnnotationTable:
    """Readers of known accuracy on two labels, with labelling times (label 1 slower)."""
    n_i, n_k = ACCURACY.shape
    truth = rng.random((n_cases, n_k)) < PREVALENCE
    case = np.repeat(np.arange(n_cases), n_k * n_i)
    label = np.tile(np.repeat(np.arange(n_k), n_i), n_cases)
    annot = np.tile(np.arange(n_i), n_cases * n_k)
    if readers_per_case is not None:
        readers = np.argsort(rng.random((n_cases, n_i)), axis=1)[:, :readers_per_case]
        keep = (readers[case] == annot[:, None]).any(axis=1)
        case, label, annot = case[keep], label[keep], annot[keep]
    t = truth[case, label]
    value = np.where(rng.random(case.size) < ACCURACY[annot, label], t, ~t)
    seconds = rng.gamma(3.0, 1.0, case.size) * (1 + 2 * label)
    return AnnotationTable(
        annotator=annot,
        case=case,
        label=label,
        value=value,
        annotators=("A", "B", "C"),
        cases=tuple(f"{j:06d}" for j in range(n_cases)),
        labels=("x", "y"),
        seconds=seconds,
    )


def noisy_ai(rng: np.random.Generator, table: AnnotationTable) -> np.ndarray:
    """An AI that mostly follows annotator A, misses some items and guesses on label y."""
    ai = np.full((len(table.cases), len(table.labels)), MISSING, dtype=np.int8)
    a_rows = table.annotator == 0
    ai[table.case[a_rows], table.label[a_rows]] = table.value[a_rows]
    ai[:, 1] = np.where(rng.random(len(table.cases)) < 0.5, ai[:, 1], rng.random(ai.shape[0]) < 0.2)
    ai[rng.random(ai.shape) < 0.2] = MISSING
    return ai


RULES = [
    ("majority", False, False),
    ("majority", True, False),
    ("majority", False, True),
    ("dawid_skene", False, False),
]


@pytest.mark.parametrize(("truth", "adjudicate", "gate"), RULES)
def test_unit_weights_reproduce_compute_rewards(truth, adjudicate, gate) -> None:
    rng = np.random.default_rng(5)
    table = simulate(rng, 300, readers_per_case=2)
    ai = noisy_ai(rng, table)
    adj = np.where(rng.random(ai.shape) < 0.1, rng.random(ai.shape) < 0.5, MISSING)
    adj = adj.astype(np.int8) if adjudicate else None

    settings = QcSettings(trust_level=0.6, trusted_ai_only=gate)
    result, _ = rewards_with_qc(
        table, ai=ai, settings=settings, truth=truth, adjudicated=adj, kappa_threshold=0.3
    )
    # The check covers quality control at work, and the gate lifting it on label y.
    assert [e.label for e in result.exclusions] == ([] if gate else ["y", "y"])
    w = weighted_rewards(
        table,
        result,
        np.ones((1, len(table.cases))),
        ai=ai,
        adjudicated=adj,
        trusted_ai_only=gate,
        trust_level=0.6,
    )
    assert w[0] == pytest.approx(result.rewards, rel=1e-12, abs=1e-9)


def _repeat_cases(table: AnnotationTable, counts: np.ndarray) -> AnnotationTable:
    """The table with case j present counts[j] times (copies renamed)."""
    parts = [[], [], [], [], []]
    for j in np.flatnonzero(counts):
        rows = table.case == j
        for copy in range(int(counts[j])):
            parts[0] += [f"{table.cases[j]}#{copy}"] * int(rows.sum())
            parts[1] += [table.labels[k] for k in table.label[rows]]
            parts[2] += [table.annotators[i] for i in table.annotator[rows]]
            parts[3] += list(table.value[rows])
            parts[4] += list(table.seconds[rows])
    return AnnotationTable.from_columns(*parts[:4], seconds=parts[4])


@pytest.mark.parametrize("gate", [False, True])
def test_a_resample_is_the_reward_on_the_resampled_cases(gate) -> None:
    """Weights = multiplicities: the same as recomputing everything on the drawn cases.

    With the gate on, the AI's trust on label y (kappa vs consensus about 0.55
    against a trust level of 0.55) is re-judged in every resample.
    """
    rng = np.random.default_rng(8)
    table = simulate(rng, 60)
    ai = noisy_ai(rng, table)
    settings = QcSettings(trust_level=0.55, trusted_ai_only=gate)
    result, _ = rewards_with_qc(table, ai=ai, settings=settings, kappa_threshold=0.3)
    w = case_weights(len(table.cases), 6, seed=11)
    assert (w.sum(axis=1) == len(table.cases)).all()
    boot = weighted_rewards(table, result, w, ai=ai, trusted_ai_only=gate, trust_level=0.55)
    gated = []
    for b in range(w.shape[0]):
        drawn = _repeat_cases(table, w[b])
        ai_drawn = np.repeat(ai, w[b].astype(int), axis=0)
        # from_columns sorts case names; the copies of case j stay together in j's order.
        want, diag = rewards_with_qc(drawn, ai=ai_drawn, settings=settings, kappa_threshold=0.3)
        gated.append(diag.labels[1].qc_applied)
        assert boot[b] == pytest.approx(want.rewards, rel=1e-9)
    if gate:
        assert len(set(gated)) == 2  # trusted in some resamples, not in others


def test_intervals_cover_the_true_share_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(2024)
    # The "true" share: the reward split on a very large sample from the same model
    # (its own sampling error is ~30x smaller than the intervals' half-widths).
    true = compute_rewards(simulate(rng, 100_000), budget=1.0).rewards
    hits = []
    for r in range(100):
        table = simulate(rng, 200)
        result = compute_rewards(table, budget=1.0)
        boot = bootstrap_rewards(table, result, n_resamples=200, seed=r)
        hits.append((boot.reward_ci[:, 0] <= true) & (true <= boot.reward_ci[:, 1]))
    coverage = float(np.mean(hits))
    # 300 intervals (100 data sets x 3 annotators): binomial SE of a 95 % rate is about
    # 0.013-0.02 (the three shares are correlated), so a correct method lands in
    # 0.95 +- 0.035 with near certainty; the seeds are fixed, so the test cannot flake.
    # Intervals too narrow by half (e.g. ignoring the case-level resampling) give ~0.68.
    assert 0.88 <= coverage <= 0.99, coverage


def test_bootstrap_is_seeded_and_its_ranks_are_consistent() -> None:
    rng = np.random.default_rng(1)
    table = simulate(rng, 300)
    result = compute_rewards(table, budget=100.0)
    a = bootstrap_rewards(table, result, n_resamples=300, seed=3)
    b = bootstrap_rewards(table, result, n_resamples=300, seed=3)
    c = bootstrap_rewards(table, result, n_resamples=300, seed=4)
    assert np.array_equal(a.reward_ci, b.reward_ci) and not np.array_equal(a.reward_ci, c.reward_ci)
    assert (a.reward_ci[:, 0] <= result.rewards).all() and (
        result.rewards <= a.reward_ci[:, 1]
    ).all()
    assert a.rank.tolist() == [1, 2, 3]
    assert (a.rank_ci[:, 0] <= a.rank).all() and (a.rank <= a.rank_ci[:, 1]).all()
    assert a.rewards.sum(axis=1) == pytest.approx(np.full(a.rewards.shape[0], 100.0))
    d = a.to_dict()
    assert set(d) == {"reward_ci", "rank_ci", "bootstrap"}
    assert list(d["reward_ci"]) == ["A", "B", "C"] and len(d["reward_ci"]["A"]) == 2
    overlaps = a.overlaps()
    for x, y in [("A", "B"), ("A", "C"), ("B", "C")]:
        i, j = "ABC".index(x), "ABC".index(y)
        apart = a.reward_ci[i, 0] > a.reward_ci[j, 1] or a.reward_ci[j, 0] > a.reward_ci[i, 1]
        assert ((x, y) in overlaps) == (not apart)
    with pytest.raises(ValidationError):
        bootstrap_rewards(table, result, n_resamples=0)


def test_dawid_skene_is_held_fixed_and_said_so() -> None:
    rng = np.random.default_rng(2)
    table = simulate(rng, 200)
    result = compute_rewards(table, truth="dawid_skene")
    boot = bootstrap_rewards(table, result, n_resamples=100)
    assert "not refitted" in boot.to_dict()["bootstrap"]["truth_note"]
    assert (
        "truth_note"
        not in bootstrap_rewards(table, compute_rewards(table), n_resamples=10).to_dict()[
            "bootstrap"
        ]
    )


def test_rule_comparison() -> None:
    t = table_from(WORKED)
    secs = np.array([5.0, 10.0])
    outcomes = compare_rules(t, budget=100, label_seconds=secs)
    assert [o.rule for o in outcomes] == ["majority", "dawid_skene", "adjudication"]
    assert outcomes[0].rewards == pytest.approx([50, 25, 25])
    ds = compute_rewards(t, budget=100, label_seconds=secs, truth="dawid_skene")
    assert outcomes[1].rewards == pytest.approx(ds.rewards)
    assert outcomes[2].rewards is None and outcomes[2].error == "no adjudications recorded"
    # A reviewer overrules image 4 of pneumothorax (votes F,F,T -> final True).
    adj = np.full((4, 2), MISSING, dtype=np.int8)
    adj[3, 1] = 1
    with_adj = compare_rules(t, budget=100, label_seconds=secs, adjudicated=adj)[2]
    direct = compute_rewards(t, budget=100, label_seconds=secs, adjudicated=adj)
    assert with_adj.rewards == pytest.approx(direct.rewards)
    assert direct.consensus[3, 1] == 1 and not np.allclose(direct.rewards, [50, 25, 25])
    # An adjudication that agrees with the majority everywhere changes nothing.
    agree = compute_rewards(t, budget=100, label_seconds=secs)
    same = compute_rewards(t, budget=100, label_seconds=secs, adjudicated=agree.consensus)
    assert same.rewards == pytest.approx(agree.rewards)
    data = analyse_rewards(
        t, budget=100, label_seconds=secs, adjudicated=adj, compare=True, n_resamples=0
    ).to_dict()
    assert set(data["rule_comparison"]) == {"majority", "dawid_skene", "adjudication"}
    assert data["rule_comparison"]["adjudication"]["rewards"]["A"] == pytest.approx(
        direct.rewards[0]
    )


def test_time_table_matches_the_t_interval() -> None:
    rng = np.random.default_rng(9)
    table = simulate(rng, 150)
    out = time_table(table.seconds, table.label, table.labels)
    assert "t(0.975" in out["method"]
    for name, secs in [
        ("overall", table.seconds),
        ("x", table.seconds[table.label == 0]),
        ("y", table.seconds[table.label == 1]),
    ]:
        row = out["overall"] if name == "overall" else out["by_label"][name]
        low, high = scipy.stats.t.interval(
            0.95, secs.size - 1, loc=secs.mean(), scale=scipy.stats.sem(secs)
        )
        assert row["n"] == secs.size and row["mean"] == pytest.approx(secs.mean())
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-5)
    assert time_table(np.full(3, np.nan), np.zeros(3, int), ("x",)) is None
