"""The bulk paths of reward runs at 10^7 answers (issue 13) equal the implementations
they replaced, on random data: the table from integer codes, the input digest,
Dawid–Skene on rating patterns, the medians of labelling times, the time boxes,
the per-case bootstrap terms and the bootstrap drawn in blocks.

The replaced implementations are kept here as references, verbatim in substance.
"""

from __future__ import annotations

import hashlib
import importlib

import numpy as np
import pandas as pd
import pytest

from markit_core.annotation.current import AnswerColumns
from markit_core.errors import ValidationError
from markit_core.rewards.analysis import analyse_rewards
from markit_core.rewards.bootstrap import bootstrap_rewards
from markit_core.rewards.digest import answers_digest, digest_lines
from markit_core.rewards.engine import NoPositiveScoresError, compute_rewards
from markit_core.rewards.labelling_time import group_time_stats
from markit_core.rewards.run_inputs import NamedAnswers, table_of
from markit_core.rewards.runs import time_boxes
from markit_core.rewards.table import AnnotationTable
from markit_core.rewards.weighted import case_weight_blocks, case_weights, reward_setup

ds_module = importlib.import_module("markit_core.agreement.dawid_skene")

AWKWARD = ["plain", "with,comma", 'with "quote"', "naïve é", " spaced ", "=formula", "a\nb"]


def _columns(seed: int, n_cases: int = 40, labels: int = 3, annotators: int = 4):
    """Random current answers as the database returns them: ids, in no order."""
    rng = np.random.default_rng(seed)
    case_ids = rng.choice(np.arange(5, 5000), n_cases, replace=False)
    rows = [
        (c, lab, a)
        for c in case_ids
        for lab in range(labels)
        for a in range(annotators)
        if rng.random() < 0.75
    ]
    rng.shuffle(rows)
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    n = arr.shape[0]
    seconds = rng.gamma(2.0, 3.0, n)
    seconds[rng.random(n) < 0.1] = np.nan
    confidence = np.where(rng.random(n) < 0.5, rng.integers(0, 101, n), np.nan)
    cols = AnswerColumns(
        arr[:, 0], arr[:, 1] + 100, arr[:, 2] + 7, rng.random(n) < 0.35, confidence, seconds
    )
    names = rng.permutation(AWKWARD + [f"label{i}" for i in range(labels)])
    label_names = {100 + i: str(names[i]) for i in range(labels)}
    user_names = {7 + i: f"reader-{rng.integers(0, 10**6)}-{i}" for i in range(annotators)}
    return NamedAnswers(cols, label_names, user_names)


def _old_frame(answers: NamedAnswers) -> pd.DataFrame:
    """The replaced ``answers_frame``: object strings, a three-key sort."""
    cols = answers.columns
    frame = pd.DataFrame(
        {
            "case_id": cols.case_id,
            "label": pd.Series(cols.label_id).map(answers.labels).to_numpy(object),
            "annotator": pd.Series(cols.annotator_id).map(answers.users).to_numpy(object),
            "value": cols.value,
            "confidence": cols.confidence,
            "seconds": cols.seconds,
        }
    )
    return frame.sort_values(["case_id", "label", "annotator"], kind="stable").reset_index(
        drop=True
    )


def _old_table(frame: pd.DataFrame) -> AnnotationTable:
    """The replaced ``table_of``: factorising strings."""
    return AnnotationTable.from_columns(
        frame["case_id"].astype(str).to_numpy(),
        frame["label"].to_numpy(str),
        frame["annotator"].to_numpy(str),
        frame["value"].to_numpy(bool),
        seconds=pd.to_numeric(frame["seconds"], errors="coerce").to_numpy(float),
        confidence=pd.to_numeric(frame["confidence"], errors="coerce").to_numpy(float),
    )


def _old_digest(frame: pd.DataFrame) -> str:
    """The digest's definition: pandas' CSV of the sorted answers."""
    text = (
        frame[["case_id", "label", "annotator", "value"]]
        .astype({"case_id": "int64", "value": bool})
        .to_csv(index=False, header=False, lineterminator="\n")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _same_table(a: AnnotationTable, b: AnnotationTable) -> None:
    for name in ("annotator", "case", "label", "value", "cases", "labels", "annotators"):
        assert np.array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name))), name
    for name in ("seconds", "confidence"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


@pytest.mark.parametrize("seed", range(6))
def test_table_from_codes_and_digest_equal_the_string_path(seed: int) -> None:
    answers = _columns(seed)
    frame = _old_frame(answers)
    table = table_of(answers)
    assert table is not None
    _same_table(table, _old_table(frame))
    assert answers_digest(table) == _old_digest(frame)
    text = "".join(digest_lines(table))
    assert hashlib.sha256(text.encode()).hexdigest() == _old_digest(frame)


def test_digest_of_a_table_in_any_row_order_and_with_a_nul_in_a_name() -> None:
    answers = _columns(11)
    frame = _old_frame(answers)
    table = table_of(answers)
    assert table is not None
    perm = np.random.default_rng(0).permutation(table.n_annotations)
    shuffled = AnnotationTable(
        **{k: (v[perm] if isinstance(v, np.ndarray) else v) for k, v in table.__dict__.items()}
    )
    assert answers_digest(shuffled) == _old_digest(frame)
    nul = NamedAnswers(answers.columns, {**answers.labels, 100: "nul\0here"}, answers.users)
    nul_table = table_of(nul)
    assert nul_table is not None
    assert answers_digest(nul_table) == _old_digest(_old_frame(nul))


def test_table_of_reports_a_repeated_answer_and_from_codes_checks_names() -> None:
    cols = AnswerColumns(
        np.array([3, 3]), np.array([1, 1]), np.array([2, 2]), np.array([True, False]),
        np.full(2, np.nan), np.full(2, np.nan),
    )  # fmt: skip
    with pytest.raises(ValidationError, match="duplicate answer"):
        table_of(NamedAnswers(cols, {1: "lab"}, {2: "ann"}))
    with pytest.raises(ValidationError, match="sorted"):
        AnnotationTable.from_codes(
            np.array([0]), np.array([0]), np.array([0]), np.array([True]),
            cases=["b", "a"], labels=["l"], annotators=["x"],
        )  # fmt: skip
    assert table_of(NamedAnswers(AnswerColumns(*(np.empty(0) for _ in range(6))), {}, {})) is None


def _old_group_medians(seconds: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """The replaced median: sort every time by value, then stably by group."""
    ok = ~np.isnan(seconds)
    x, g = seconds[ok], group[ok]
    n = np.bincount(g, minlength=n_groups)
    by_value = np.argsort(x)
    xs = x[by_value[np.argsort(g[by_value], kind="stable")]]
    start = np.concatenate(([0], np.cumsum(n)[:-1]))
    lo, hi = start + (n - 1) // 2, start + n // 2
    median = np.full(n_groups, np.nan)
    has = n > 0
    median[has] = (xs[lo[has]] + xs[hi[has]]) / 2.0
    return median


@pytest.mark.parametrize("n_groups", [1, 7, 5000])
def test_time_medians_by_partition_equal_the_sorted_ones(n_groups: int) -> None:
    rng = np.random.default_rng(n_groups)
    seconds = np.round(rng.gamma(2.0, 3.0, 20000), 1)  # ties included
    seconds[rng.random(seconds.size) < 0.05] = np.nan
    group = rng.integers(0, n_groups, seconds.size)
    stats = group_time_stats(seconds, group, n_groups + 3)  # three empty groups
    expected = _old_group_medians(seconds, group, n_groups + 3)
    assert np.array_equal(stats.median, expected, equal_nan=True)


def _old_time_boxes(table: AnnotationTable) -> dict:
    """The replaced ``time_boxes``: one lexsort of every time."""
    assert table.seconds is not None
    ok = ~np.isnan(table.seconds)
    n_i = len(table.annotators)
    group = (table.label * n_i + table.annotator)[ok]
    secs = table.seconds[ok]
    order = np.lexsort((secs, group))
    group, secs = group[order], secs[order]
    bounds = np.flatnonzero(np.diff(group)) + 1
    out: dict = {}
    for g, x in zip(group[np.r_[0, bounds]], np.split(secs, bounds), strict=True):
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        iqr = q3 - q1
        inside = x[(x >= q1 - 1.5 * iqr) & (x <= q3 + 1.5 * iqr)]
        label, annotator = table.labels[int(g) // n_i], table.annotators[int(g) % n_i]
        out.setdefault(label, {})[annotator] = {
            "n": int(x.size),
            "q1": float(q1),
            "median": float(med),
            "q3": float(q3),
            "lowerfence": float(inside.min()),
            "upperfence": float(inside.max()),
            "mean": float(x.mean()),
        }
    return out


def test_time_boxes_equal_the_lexsort_version() -> None:
    table = table_of(_columns(3, n_cases=300))
    assert table is not None
    new, old = time_boxes(table), _old_time_boxes(table)
    assert new.keys() == old.keys()
    for label, by_annotator in old.items():
        assert new[label].keys() == by_annotator.keys()
        for annotator, box in by_annotator.items():
            got = new[label][annotator]
            assert {k: v for k, v in got.items() if k != "mean"} == {
                k: v for k, v in box.items() if k != "mean"
            }
            assert got["mean"] == pytest.approx(box["mean"], rel=1e-12)  # summation order


@pytest.mark.parametrize("seed", range(8))
def test_dawid_skene_on_patterns_equals_the_per_item_fit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_items, n_raters, n_groups = 300, int(rng.integers(2, 9)), int(rng.integers(1, 4))
    pairs = np.array(
        [(i, r) for i in range(n_items) for r in range(n_raters) if rng.random() < 0.6]
    )
    pairs = pairs[rng.permutation(len(pairs))]
    item, rater = pairs[:, 0], pairs[:, 1]
    truth = rng.random(n_items) < 0.3
    skill = rng.uniform(0.55, 0.95, n_raters)
    value = np.where(rng.random(item.size) < skill[rater], truth[item], ~truth[item])
    group = rng.integers(0, n_groups, n_items)
    fast = ds_module.dawid_skene_long(rater, item, value, n_raters, n_items, item_group=group)
    # Weights of one take the per-item fit, the implementation the patterns replaced.
    plain = ds_module.dawid_skene_long(
        rater, item, value, n_raters, n_items, item_group=group, weights=np.ones(item.size)
    )
    assert (fast.n_iter, fast.converged) == (plain.n_iter, plain.converged)
    assert np.array_equal(fast.truth, plain.truth)
    for name in ("posterior", "sensitivity", "specificity", "prior"):
        assert np.allclose(getattr(fast, name), getattr(plain, name), rtol=1e-12, atol=1e-13)


def test_dawid_skene_patterns_step_aside_for_repeated_ratings() -> None:
    from markit_core.agreement.ds_patterns import rating_patterns

    rater, item = np.array([0, 0, 1]), np.array([0, 0, 1])
    v = np.array([1.0, 1.0, 0.0])
    assert rating_patterns(rater, item, v, 2, np.zeros(2, dtype=np.intp)) is None
    many = np.arange(30)  # 30 raters on one item: more slots than a mask holds
    assert (
        rating_patterns(many, np.zeros(30, np.intp), np.ones(30), 30, np.zeros(1, np.intp)) is None
    )


def _random_table(seed: int) -> tuple[AnnotationTable, np.ndarray | None, np.ndarray | None]:
    rng = np.random.default_rng(seed)
    table = table_of(_columns(seed, n_cases=60, labels=3, annotators=4))
    assert table is not None
    shape = (len(table.cases), len(table.labels))
    ai = rng.integers(-1, 2, shape).astype(np.int8) if seed % 2 else None
    adj = rng.integers(-1, 2, shape).astype(np.int8) if seed % 3 == 1 else None
    return table, ai, adj


@pytest.mark.parametrize("seed", range(6))
def test_bootstrap_in_blocks_equals_the_whole_weight_matrix(seed: int) -> None:
    table, ai, adj = _random_table(seed)
    truth = "dawid_skene" if seed % 2 else "majority"
    try:
        result = compute_rewards(table, ai=ai, truth=truth, adjudicated=adj)
    except NoPositiveScoresError:
        pytest.skip("no positive score on this draw")
    blocks = np.concatenate(
        [b.copy() for b in case_weight_blocks(len(table.cases), 37, seed, block_bytes=1)]
    )
    assert np.array_equal(blocks, case_weights(len(table.cases), 37, seed))
    from markit_core.rewards.weighted import rewards_under_weights

    s = reward_setup(table, result, ai, adj, None, seed % 4 == 3, 0.4)
    whole = rewards_under_weights(s, case_weights(len(table.cases), 37, seed))
    boot = bootstrap_rewards(
        table, result, ai=ai, adjudicated=adj, trusted_ai_only=seed % 4 == 3,
        n_resamples=37, seed=seed,
    )  # fmt: skip
    ok = ~np.isnan(whole).any(axis=1)
    assert np.allclose(boot.rewards, whole[ok], rtol=1e-12, atol=1e-9)
    if seed % 4 != 3:  # the gate would need a gated full-data run to compare with
        ones = rewards_under_weights(s, np.ones((1, len(table.cases))))
        assert np.allclose(ones[0], result.rewards, rtol=1e-12, atol=1e-9)


def test_analysis_is_the_same_on_a_table_in_another_row_order() -> None:
    """Row order only changes summation order: same exclusions, same intervals."""
    table, ai, _ = _random_table(5)
    perm = np.random.default_rng(1).permutation(table.n_annotations)
    shuffled = AnnotationTable(
        **{k: (v[perm] if isinstance(v, np.ndarray) else v) for k, v in table.__dict__.items()}
    )
    try:
        a = analyse_rewards(table, ai=ai, n_resamples=50, compare=True).to_dict()
    except NoPositiveScoresError:
        pytest.skip("no positive score on this draw")
    b = analyse_rewards(shuffled, ai=ai, n_resamples=50, compare=True).to_dict()
    assert a["excluded"] == b["excluded"]
    for name, (lo, hi) in a["reward_ci"].items():
        assert b["reward_ci"][name] == pytest.approx([lo, hi], rel=1e-9, abs=1e-9)
    assert a["rank_ci"] == b["rank_ci"]


def test_the_rule_comparison_reuses_the_run_it_would_recompute() -> None:
    from markit_core.rewards.compare import compare_rules, comparison_to_dict
    from markit_core.rewards.diagnostics import QcSettings

    table, ai, adj = _random_table(4)
    try:
        analysis = analyse_rewards(table, ai=ai, adjudicated=adj, n_resamples=0, compare=True)
    except NoPositiveScoresError:
        pytest.skip("no positive score on this draw")
    again = compare_rules(table, ai=ai, adjudicated=adj, settings=QcSettings(), budget=1000.0)
    assert analysis.comparison is not None
    got = comparison_to_dict(analysis.comparison, table.annotators)
    assert got == comparison_to_dict(again, table.annotators)
