"""Small, dependency-free evaluation measures (AUC, MAE) used by training and tests."""

from __future__ import annotations

import numpy as np


def roc_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties).

    Returns NaN when only one class is present.
    """
    y = np.asarray(targets, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty_like(s)
    sorted_s = s[order]
    # mid-ranks for ties
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], s.size]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def per_label_auc(targets: np.ndarray, scores: np.ndarray) -> list[float]:
    """AUC of every column of ``(N, L)`` targets and scores."""
    t, s = np.atleast_2d(targets), np.atleast_2d(scores)
    return [roc_auc(t[:, j], s[:, j]) for j in range(t.shape[1])]


def mean_absolute_error(targets: np.ndarray, values: np.ndarray) -> float:
    """Mean absolute error over all entries."""
    return float(np.mean(np.abs(np.asarray(targets, float) - np.asarray(values, float))))
