"""How certain a payout is: a bootstrap over cases of the whole reward computation.

A resample draws the J cases with replacement; it is represented by its
multiplicity vector ``w[j]`` (how often case j was drawn), so the B
resamples are one ``(B, J)`` weight matrix and every sum over cases in the
reward becomes a matrix product with it. Everything Eq. 1 is built from is a
sum over cases of per-case quantities that depend only on which answers are
kept, so per resample the computation is the paper's, with the same rules:

* quality control: each pair's 2x2 table vs the AI is ``W @ counts_per_case``,
  so kappa, and hence the exclusions, are recomputed in every resample;
* per label, the resamples are grouped by their set of excluded annotators
  (usually a handful of distinct sets); for each set the per-case terms of
  Algorithm 1 (votes, pseudo answer, M, D~, r~, positives, times) are
  computed once, and every resample of the group gets its sums by one
  matrix product;
* T[k], the mean times behind tbar[k] (unless label times were given),
  S[i] and the split are recomputed per resample;
* the optional trusted-AI-only gate is re-judged per resample (the AI's
  kappa vs the consensus of the readers the paper's rule keeps).

Truth rules. Majority and "adjudication where available" are recomputed per
resample exactly. Dawid-Skene is **not refitted** per resample (an EM fit
per resample would cost B fits): its pseudo answers are held fixed at the
full-data fit and M, D~ and r~ are recomputed against them, so the interval
leaves out the uncertainty of the Dawid-Skene fit itself.

Intervals are percentile intervals (2.5 % and 97.5 % by default) of the
resampled rewards and ranks (1 = highest reward). A resample in which no
annotator has a positive score has no split; it is counted in ``failed``
and left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from markit_core.agreement.measures import MISSING, kappa_from_confusion
from markit_core.errors import ValidationError
from markit_core.rewards.engine import RewardResult
from markit_core.rewards.table import AnnotationTable

__all__ = [
    "BOOTSTRAP_METHOD",
    "BootstrapResult",
    "bootstrap_rewards",
    "case_weights",
    "weighted_rewards",
]

BOOTSTRAP_METHOD = (
    "percentile bootstrap over cases: cases resampled with replacement, quality control, "
    "Algorithm 1 and Eq. 1 recomputed per resample with the same rules"
)
DS_NOTE = "Dawid-Skene pseudo answers held fixed at the full-data fit (not refitted per resample)"


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Percentile intervals of each annotator's reward and rank.

    Attributes
    ----------
    rewards : (B_ok, I)
        The resampled rewards (resamples with a split only).
    reward_ci, rank_ci : (I, 2)
        Lower and upper ends of the intervals.
    rank : (I,) int
        Rank of the full-data reward (1 = highest).
    failed : int
        Resamples without a positive score (left out).
    """

    annotators: tuple[str, ...]
    n_resamples: int
    seed: int
    level: float
    truth_rule: str
    rewards: np.ndarray
    reward_ci: np.ndarray
    rank_ci: np.ndarray
    rank: np.ndarray
    failed: int

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of annotators whose reward intervals overlap."""
        lo, hi = self.reward_ci[:, 0], self.reward_ci[:, 1]
        n = len(self.annotators)
        return [
            (self.annotators[i], self.annotators[j])
            for i in range(n)
            for j in range(i + 1, n)
            if lo[i] <= hi[j] and lo[j] <= hi[i]
        ]

    def to_dict(self) -> dict[str, Any]:
        """``reward_ci`` / ``rank_ci`` {annotator: [low, high]} and a ``bootstrap`` block."""

        def pairs(arr: np.ndarray, kind: type = float) -> dict[str, list[Any]]:
            return {
                a: [kind(x) if np.isfinite(x) else None for x in arr[i]]
                for i, a in enumerate(self.annotators)
            }

        block: dict[str, Any] = {
            "method": BOOTSTRAP_METHOD,
            "resamples": self.n_resamples,
            "failed": self.failed,
            "seed": self.seed,
            "level": self.level,
            "rank": {a: int(r) for a, r in zip(self.annotators, self.rank, strict=True)},
            "overlaps": [list(p) for p in self.overlaps()],
        }
        if self.truth_rule == "dawid_skene":
            block["truth_note"] = DS_NOTE
        return {
            "reward_ci": pairs(self.reward_ci),
            "rank_ci": pairs(self.rank_ci, int),
            "bootstrap": block,
        }


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
class _Setup:
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


def _paper_exclusions(s: _Setup, w: np.ndarray) -> np.ndarray:
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


def _per_case(s: _Setup, k: int, dropped: np.ndarray) -> np.ndarray:
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


def _label_sums(s: _Setup, w: np.ndarray, patterns: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
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


def _trusted(s: _Setup, sums: np.ndarray) -> np.ndarray:
    """(B,) whether the AI's kappa vs the pseudo answers reaches the trust level."""
    n_i = len(s.table.annotators)
    cells = [sums[:, n_i + 4 + c] for c in range(4)]
    return kappa_from_confusion(*cells) >= s.trust_level


def _weighted_rewards(s: _Setup, w: np.ndarray) -> np.ndarray:
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


def _ranks(rewards: np.ndarray) -> np.ndarray:
    """1 + number of annotators with a strictly higher reward, per row."""
    return 1 + (rewards[:, None, :] > rewards[:, :, None]).sum(axis=2)


def _setup(
    table: AnnotationTable,
    result: RewardResult,
    ai: np.ndarray | None,
    adjudicated: np.ndarray | None,
    label_seconds: np.ndarray | None,
    trusted_ai_only: bool,
    trust_level: float,
) -> _Setup:
    return _Setup(
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
    order = np.argsort(table.label, kind="stable")
    counts = np.bincount(table.label, minlength=len(table.labels))
    return tuple(np.split(order, np.cumsum(counts)[:-1]))


def weighted_rewards(
    table: AnnotationTable,
    result: RewardResult,
    weights: np.ndarray,
    *,
    ai: np.ndarray | None = None,
    adjudicated: np.ndarray | None = None,
    label_seconds: np.ndarray | None = None,
    trusted_ai_only: bool = False,
    trust_level: float = 0.4,
) -> np.ndarray:
    """(B, I) rewards under case weights ``weights`` (B, J), with ``result``'s rules.

    Weights of all ones give ``result.rewards`` (a check of this module
    against :func:`~markit_core.rewards.engine.compute_rewards`). The other
    arguments must be those ``result`` was computed with.
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if w.shape[1] != len(table.cases):
        raise ValidationError(f"weights have {w.shape[1]} cases, the table {len(table.cases)}")
    s = _setup(table, result, ai, adjudicated, label_seconds, trusted_ai_only, trust_level)
    return _weighted_rewards(s, w)


def bootstrap_rewards(
    table: AnnotationTable,
    result: RewardResult,
    *,
    ai: np.ndarray | None = None,
    adjudicated: np.ndarray | None = None,
    label_seconds: np.ndarray | None = None,
    trusted_ai_only: bool = False,
    trust_level: float = 0.4,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapResult:
    """Bootstrap over cases of ``result`` (module docstring); intervals per annotator.

    Parameters
    ----------
    table, result
        The answers and the full-data run (its budget, kappa threshold and
        truth rule are reused).
    ai, adjudicated, label_seconds, trusted_ai_only, trust_level
        Exactly what ``result`` was computed with.
    n_resamples : int
        Number of resamples B (>= 1).
    seed : int
        Seed of the resampling, so a stored run can be reproduced.
    level : float
        Two-sided level of the percentile intervals.
    """
    if int(n_resamples) < 1:
        raise ValidationError("the bootstrap needs at least one resample")
    if not 0.0 < level < 1.0:
        raise ValidationError("the interval level must lie between 0 and 1")
    s = _setup(table, result, ai, adjudicated, label_seconds, trusted_ai_only, trust_level)
    w = case_weights(len(table.cases), int(n_resamples), seed)
    rewards = _weighted_rewards(s, w)
    ok = ~np.isnan(rewards).any(axis=1)
    rewards = rewards[ok]
    tail = (1.0 - level) / 2.0
    n_i = len(table.annotators)
    if rewards.shape[0]:
        reward_ci = np.quantile(rewards, [tail, 1.0 - tail], axis=0).T
        rank_ci = np.quantile(_ranks(rewards), [tail, 1.0 - tail], axis=0, method="inverted_cdf").T
    else:
        reward_ci = np.full((n_i, 2), np.nan)
        rank_ci = np.full((n_i, 2), np.nan)
    return BootstrapResult(
        annotators=table.annotators,
        n_resamples=int(n_resamples),
        seed=int(seed),
        level=float(level),
        truth_rule=result.truth_rule,
        rewards=rewards,
        reward_ci=reward_ci,
        rank_ci=rank_ci,
        rank=_ranks(result.rewards[None, :])[0],
        failed=int((~ok).sum()),
    )
