"""How certain a payout is: a bootstrap over cases of the whole reward computation.

A resample draws the J cases with replacement; it is represented by its
multiplicity vector ``w[j]`` (how often case j was drawn), so the B
resamples are a ``(B, J)`` weight matrix (drawn and used a block of rows at
a time, so memory does not grow with B) and every sum over cases in the
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
from threadpoolctl import threadpool_limits

from markit_core.errors import ValidationError
from markit_core.rewards.engine import RewardResult
from markit_core.rewards.table import AnnotationTable
from markit_core.rewards.weighted import (
    case_weight_blocks,
    case_weights,
    ranks,
    reward_setup,
    rewards_of_blocks,
    rewards_under_weights,
)

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
    s = reward_setup(table, result, ai, adjudicated, label_seconds, trusted_ai_only, trust_level)
    return rewards_under_weights(s, w)


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
    s = reward_setup(table, result, ai, adjudicated, label_seconds, trusted_ai_only, trust_level)
    # One BLAS thread: the products are of one block of resamples at a time, which
    # OpenBLAS splits badly; on a busy 2-core machine two threads ran the bootstrap of
    # 10^7 answers 7x slower than one (measured; docs/reward-math.md, "At scale").
    with threadpool_limits(limits=1, user_api="blas"):
        blocks = case_weight_blocks(len(table.cases), int(n_resamples), seed)
        rewards = rewards_of_blocks(s, blocks)
    ok = ~np.isnan(rewards).any(axis=1)
    rewards = rewards[ok]
    tail = (1.0 - level) / 2.0
    n_i = len(table.annotators)
    if rewards.shape[0]:
        reward_ci = np.quantile(rewards, [tail, 1.0 - tail], axis=0).T
        rank_ci = np.quantile(ranks(rewards), [tail, 1.0 - tail], axis=0, method="inverted_cdf").T
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
        rank=ranks(result.rewards[None, :])[0],
        failed=int((~ok).sum()),
    )
