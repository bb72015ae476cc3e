"""Eq. 1 under case weights: the vectorised core of the bootstrap over cases.

A resample of the J cases is its multiplicity vector ``w`` (how often each
case was drawn); B resamples are a ``(B, J)`` matrix ``W`` and every sum over
cases becomes a product with it (see :mod:`markit_core.rewards.bootstrap`
for what is recomputed per resample). ``W`` of ones gives the full-data
result exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markit_core.agreement.measures import MISSING, kappa_from_confusion
from markit_core.rewards.engine import RewardResult
from markit_core.rewards.table import AnnotationTable

__all__ = [
    "WeightedSetup",
    "case_weights",
    "ranks",
    "reward_setup",
    "rewards_under_weights",
]


def case_weights(n_cases: int, n_resamples: int, seed: int) -> np.ndarray:
    """(B, J) multiplicities of B resamples of J cases drawn with replacement."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, n_cases), dtype=np.float64)
    chunk = max(1, 4_000_000 // max(n_cases, 1))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        draws = rng.integers(0, n_cases, size=(b, n_cases), dtype=np.int32)
        flat = (draws + np.arange(b, dtype=np.int64)[:, None] * n_cases).ravel()
        out[start : start + b] = np.bincount(flat, minlength=b * n_cases).reshape(b, n_cases)
    return out


@dataclass(frozen=True, eq=False)
class WeightedSetup:
    """The fixed inputs of every resample."""

    table: AnnotationTable
    ai: np.ndarray | None
    kappa_threshold: float
    truth_rule: str
    fixed_truth: np.ndarray  # (J, K) int8: Dawid-Skene pseudo answers, held fixed
    adjudicated: np.ndarray | None
    label_seconds: np.ndarray | None
    trusted_ai_only: bool
    trust_level: float
    budget: float
    label_rows: tuple[np.ndarray, ...]  # answer rows of each label


def _paper_exclusions(s: WeightedSetup, w: np.ndarray) -> np.ndarray:
    """(B, I, K) pairs the paper's rule excludes in each resample."""
    t = s.table
    n_b, n_i, n_k = w.shape[0], len(t.annotators), len(t.labels)
    if s.ai is None:
        return np.zeros((n_b, n_i, n_k), dtype=bool)
    ref = s.ai[t.case, t.label]
    has = ref != MISSING
    code = ((t.annotator * n_k + t.label) * 4 + t.value * 2 + (ref == 1))[has]
    per_case = np.bincount(
        t.case[has] * (4 * n_i * n_k) + code, minlength=len(t.cases) * 4 * n_i * n_k
    ).reshape(len(t.cases), 4 * n_i * n_k)
    # Integer counts: exact in float32 below 2**24, and half the memory traffic.
    exact = w.max(initial=0) * len(t.cases) < 2**24
    dtype = np.float32 if exact else np.float64
    c = (w.astype(dtype, copy=False) @ per_case.astype(dtype)).astype(np.float64)
    c = c.reshape(n_b, n_i * n_k, 4)  # (answer, ai) = 00, 01, 10, 11
    kappa = kappa_from_confusion(c[..., 3], c[..., 2], c[..., 1], c[..., 0])
    shared = c.sum(axis=-1)
    return ((shared > 0) & ~(kappa > s.kappa_threshold)).reshape(n_b, n_i, n_k)


_EXTRA = 8  # per-case columns after the I annotator columns (see _per_case)


def _per_case(s: WeightedSetup, k: int, dropped: np.ndarray) -> np.ndarray:
    """(J, I + 8) per-case terms of label k with the annotators in ``dropped`` excluded.

    Columns: the sum of D~ r~ per annotator; then positive pseudo answer,
    answered, seconds sum, timed count; then the AI-vs-pseudo-answer 2x2
    cells (11, 10, 01, 00; AI first) for the trust judgement.
    """
    t = s.table
    n_j, n_i = len(t.cases), len(t.annotators)
    idx = s.label_rows[k]
    rows = idx[~dropped[t.annotator[idx]]]
    case, annot, value = t.case[rows], t.annotator[rows], t.value[rows]
    n_all = np.bincount(case, minlength=n_j)
    n_true = np.bincount(case[value], minlength=n_j)
    answered = n_all > 0
    # Dawid-Skene: held fixed at the full-data fit (module docstring).
    majority_rule = s.truth_rule == "majority"
    pseudo = n_true > n_all - n_true if majority_rule else s.fixed_truth[:, k] == 1
    if s.adjudicated is not None:
        adj = s.adjudicated[:, k]
        pseudo = np.where(adj != MISSING, adj == 1, pseudo)
    pseudo = pseudo & answered
    majority = np.where(pseudo, n_true, n_all - n_true)
    d_scaled = 2.0 * (0.5 - np.divide(majority, n_all, out=np.zeros(n_j), where=answered))
    credit = np.zeros(case.shape[0])
    np.divide(1.0, majority[case], out=credit, where=value == pseudo[case])
    terms = d_scaled[case] * 4.0 * (0.25 - credit)
    out = np.zeros((n_j, n_i + _EXTRA))
    out[:, :n_i] = np.bincount(case * n_i + annot, terms, n_j * n_i).reshape(n_j, n_i)
    out[:, n_i] = pseudo
    out[:, n_i + 1] = answered
    if t.seconds is not None:
        secs = t.seconds[rows]
        timed = ~np.isnan(secs)
        out[:, n_i + 2] = np.bincount(case[timed], secs[timed], n_j)
        out[:, n_i + 3] = np.bincount(case[timed], minlength=n_j)
    if s.ai is not None:
        ai = s.ai[:, k]
        both = answered & (ai != MISSING)
        a_pos = ai == 1
        out[:, n_i + 4] = both & a_pos & pseudo
        out[:, n_i + 5] = both & a_pos & ~pseudo
        out[:, n_i + 6] = both & ~a_pos & pseudo
        out[:, n_i + 7] = both & ~a_pos & ~pseudo
    return out


def _label_sums(
    s: WeightedSetup, w: np.ndarray, patterns: dict[int, np.ndarray]
) -> dict[int, np.ndarray]:
    """Weighted per-label sums (B, I + 8) for each label's (B, I) exclusion patterns.

    The per-case terms of every (label, distinct pattern) that many resamples
    share are stacked side by side and multiplied by ``W`` in one matrix
    product (one pass over the weights for all labels); the terms of rare
    patterns are multiplied by just the rows of their few resamples.
    """
    n_b, width = w.shape[0], len(s.table.annotators) + _EXTRA
    out = {k: np.empty((n_b, width)) for k in patterns}
    stacked: list[np.ndarray] = []
    targets: list[tuple[int, np.ndarray]] = []
    for k, pat in patterns.items():
        uniq, inverse = np.unique(pat, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        for p in range(uniq.shape[0]):
            rows = np.flatnonzero(inverse == p)
            terms = _per_case(s, k, uniq[p])
            if rows.size * 16 >= n_b:
                stacked.append(terms)
                targets.append((k, rows))
            else:
                out[k][rows] = w[rows] @ terms
    if stacked:
        products = w @ np.hstack(stacked)
        for c, (k, rows) in enumerate(targets):
            out[k][rows] = products[rows, c * width : (c + 1) * width]
    return out


def _trusted(s: WeightedSetup, sums: np.ndarray) -> np.ndarray:
    """(B,) whether the AI's kappa vs the pseudo answers reaches the trust level."""
    n_i = len(s.table.annotators)
    cells = [sums[:, n_i + 4 + c] for c in range(4)]
    return kappa_from_confusion(*cells) >= s.trust_level


def rewards_under_weights(s: WeightedSetup, w: np.ndarray) -> np.ndarray:
    """(B, I) rewards of each weighted resample (NaN rows where no score is positive)."""
    t = s.table
    n_b, n_i, n_k = w.shape[0], len(t.annotators), len(t.labels)
    excluded = _paper_exclusions(s, w)
    sums_by_label = _label_sums(s, w, {k: excluded[:, :, k] for k in range(n_k)})
    if s.trusted_ai_only:
        # Re-judge the gate per resample on the paper-rule consensus, then redo the
        # labels where it lifts an exclusion in some resample.
        gated = {k: excluded[:, :, k] & _trusted(s, sums_by_label[k])[:, None] for k in range(n_k)}
        redo = {k: g for k, g in gated.items() if not np.array_equal(g, excluded[:, :, k])}
        sums_by_label.update(_label_sums(s, w, redo))
    dr = np.zeros((n_b, n_i, n_k))
    pos, ans, tsum, tcnt = (np.zeros((n_b, n_k)) for _ in range(4))
    for k in range(n_k):
        sums = sums_by_label[k]
        dr[:, :, k] = sums[:, :n_i]
        pos[:, k], ans[:, k] = sums[:, n_i], sums[:, n_i + 1]
        tsum[:, k], tcnt[:, k] = sums[:, n_i + 2], sums[:, n_i + 3]
    task_value = np.divide(pos, ans, out=np.zeros_like(pos), where=ans > 0)
    if s.label_seconds is not None:
        means = np.broadcast_to(s.label_seconds, (n_b, n_k))
    else:
        means = np.divide(tsum, tcnt, out=np.zeros_like(tsum), where=tcnt > 0)
    top = means.max(axis=1, keepdims=True) if n_k else np.zeros((n_b, 1))
    tbar = np.divide(means, top, out=np.zeros_like(means), where=top > 0)
    scores = ((task_value + tbar)[:, None, :] * dr).sum(axis=2)
    paid = np.maximum(scores, 0.0)
    total = paid.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, s.budget * paid / total, np.nan)


def ranks(rewards: np.ndarray) -> np.ndarray:
    """1 + number of annotators with a strictly higher reward, per row."""
    return 1 + (rewards[:, None, :] > rewards[:, :, None]).sum(axis=2)


def reward_setup(
    table: AnnotationTable,
    result: RewardResult,
    ai: np.ndarray | None,
    adjudicated: np.ndarray | None,
    label_seconds: np.ndarray | None,
    trusted_ai_only: bool,
    trust_level: float,
) -> WeightedSetup:
    return WeightedSetup(
        table=table,
        ai=None if ai is None else np.asarray(ai, dtype=np.int8),
        kappa_threshold=result.kappa_threshold,
        truth_rule=result.truth_rule,
        fixed_truth=result.consensus,
        adjudicated=None if adjudicated is None else np.asarray(adjudicated, dtype=np.int8),
        label_seconds=None if label_seconds is None else np.asarray(label_seconds, float),
        trusted_ai_only=bool(trusted_ai_only and ai is not None),
        trust_level=float(trust_level),
        budget=result.budget,
        label_rows=_rows_by_label(table),
    )


def _rows_by_label(table: AnnotationTable) -> tuple[np.ndarray, ...]:
    # A stable sort of small codes is numpy's radix sort (linear); same order as on intp.
    small = len(table.labels) <= np.iinfo(np.uint16).max + 1
    order = np.argsort(table.label.astype(np.uint16) if small else table.label, kind="stable")
    counts = np.bincount(table.label, minlength=len(table.labels))
    return tuple(np.split(order, np.cumsum(counts)[:-1]))
