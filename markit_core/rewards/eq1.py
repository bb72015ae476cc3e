"""Eq. 1 of the MarkIt paper on Algorithm 1's votes: the time factor tbar, each
(annotator, label) contribution ``(T[k] + tbar[k]) * sum_j D~ r~`` and the scores S.

A step of :func:`~markit_core.rewards.engine.compute_rewards`; the formulas are in
``docs/reward-math.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markit_core.errors import ValidationError
from markit_core.rewards import algorithm1
from markit_core.rewards.qc import KeptAnswers
from markit_core.rewards.table import AnnotationTable

__all__ = ["Eq1Terms", "check_label_seconds", "eq1_terms", "label_means"]


@dataclass(frozen=True, eq=False)
class Eq1Terms:
    """The terms of Eq. 1; shapes as in :class:`~markit_core.rewards.engine.RewardResult`."""

    dr_sums: np.ndarray  # (I, K)
    task_value: np.ndarray  # (K,)
    label_mean_seconds: np.ndarray  # (K,)
    tbar: np.ndarray  # (K,)
    contributions: np.ndarray  # (I, K)
    scores: np.ndarray  # (I,)


def label_means(table: AnnotationTable, keep: np.ndarray | None) -> np.ndarray:
    """Mean seconds per label over the kept, timed answers (0 for an untimed label).

    ``keep`` None: every answer (computed once per table, as every rule needs it).
    """
    n_k = len(table.labels)
    seconds = table.seconds
    if seconds is None:
        return np.zeros(n_k)

    def means(keep: np.ndarray | None) -> np.ndarray:
        timed = ~np.isnan(seconds)
        ok = timed if keep is None else keep & timed
        count = np.bincount(table.label[ok], minlength=n_k)
        total = np.bincount(table.label[ok], seconds[ok], n_k)
        return np.divide(total, count, out=np.zeros(n_k), where=count > 0)

    if keep is None:
        return np.array(table.derived("label_means", lambda: means(None)))
    return means(keep)


def check_label_seconds(label_seconds: np.ndarray, n_k: int) -> np.ndarray:
    """Given mean labelling times as a (K,) float array; ValidationError if malformed."""
    means = np.asarray(label_seconds, dtype=np.float64)
    if means.shape != (n_k,):
        raise ValidationError(f"label times have shape {means.shape}, expected ({n_k},)")
    if not np.isfinite(means).all() or (means < 0).any():
        raise ValidationError("label times must be finite and non-negative")
    return means


def eq1_terms(
    table: AnnotationTable,
    kept: KeptAnswers,
    votes: algorithm1.Votes,
    label_seconds: np.ndarray | None,
) -> Eq1Terms:
    """Eq. 1 over the kept answers; ``label_seconds`` None: the kept answers' mean times."""
    n_i, n_k = len(table.annotators), len(table.labels)
    dr_sums = algorithm1.dr_sums(
        votes, kept.cell, kept.item, kept.value, n_i * n_k, answer=kept.answer
    )
    dr_sums = dr_sums.reshape(n_i, n_k)
    task_value = algorithm1.task_value(votes, n_k)
    means = (
        label_means(table, None if kept.everything else kept.keep)
        if label_seconds is None
        else check_label_seconds(label_seconds, n_k)
    )
    top = means.max() if n_k else 0.0
    tbar = means / top if top > 0 else np.zeros(n_k)  # the time factor of Eq. 1
    contributions = (task_value + tbar)[None, :] * dr_sums
    return Eq1Terms(dr_sums, task_value, means, tbar, contributions, contributions.sum(axis=1))
