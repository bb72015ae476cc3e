"""The per-case terms the bootstrap multiplies by the case weights (see
:mod:`markit_core.rewards.weighted`): for one label and one set of excluded
annotators, per case, each annotator's D~ r~, the positive pseudo answer,
whether the case was answered, the seconds and timed answers, and the
AI-vs-pseudo-answer cells.

:func:`per_case_terms` computes one label (on that label's answers only, which
stays in cache: faster than one pass over every label's answers at once);
:func:`distinct_columns` drops the columns that add nothing to the weight
product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from markit_core.agreement.measures import MISSING

if TYPE_CHECKING:
    from markit_core.rewards.weighted import WeightedSetup

__all__ = ["EXTRA", "distinct_columns", "per_case_terms"]

EXTRA = 8  # per-case columns after the I annotator columns (see per_case_terms)


def per_case_terms(s: WeightedSetup, k: int, dropped: np.ndarray) -> np.ndarray:
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
    out = np.zeros((n_j, n_i + EXTRA), order="F")  # filled and compared column by column
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


def distinct_columns(stacked: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct non-zero columns of the per-case term matrices, side by side.

    A zero column (no AI, no times) multiplies to zero and a column equal to
    another (e.g. "answered" on every label when every case is answered)
    multiplies to the same sums, so only the others go into the product.
    Returns the (J, C) matrix and, per input matrix, each column's index in
    it (-1: zero).
    """
    n_j = stacked[0].shape[0]
    probe = np.random.default_rng(0).random(n_j)  # candidate matches, then checked exactly
    columns: list[np.ndarray] = []
    by_sign: dict[float, list[int]] = {}
    index = []
    for terms in stacked:
        signs = probe @ terms
        where = np.full(terms.shape[1], -1, dtype=np.intp)
        for c, sign in enumerate(signs.tolist()):
            col = terms[:, c]
            if sign == 0.0 and not col.any():
                continue
            same = [m for m in by_sign.get(sign, []) if np.array_equal(columns[m], col)]
            if same:
                where[c] = same[0]
                continue
            where[c] = len(columns)
            by_sign.setdefault(sign, []).append(len(columns))
            columns.append(col)
        index.append(where)
    matrix = np.empty((n_j, len(columns)), order="F")
    for m, col in enumerate(columns):
        matrix[:, m] = col
    return matrix, index
