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

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from markit_core.agreement.measures import MISSING
from markit_core.rewards.algorithm1 import answer_terms

if TYPE_CHECKING:
    from markit_core.rewards.weighted import WeightedSetup

__all__ = ["EXTRA", "distinct_columns", "per_case_terms"]

EXTRA = 8  # per-case columns after the I annotator columns (see per_case_terms)


@dataclass(frozen=True, eq=False)
class _LabelParts:
    """One label's per-case parts of the terms (see :func:`per_case_terms`)."""

    dr: np.ndarray  # (J, I) sum of D~ r~ per annotator
    pseudo: np.ndarray  # (J,) positive pseudo answer
    answered: np.ndarray  # (J,)
    seconds: np.ndarray | None  # (J,) sum of the timed answers' seconds
    timed: np.ndarray | None  # (J,) number of timed answers


def per_case_terms(s: WeightedSetup, k: int, dropped: np.ndarray) -> np.ndarray:
    """(J, I + 8) per-case terms of label k with the annotators in ``dropped`` excluded.

    Columns: the sum of D~ r~ per annotator; then positive pseudo answer,
    answered, seconds sum, timed count; then the AI-vs-pseudo-answer 2x2
    cells (11, 10, 01, 00; AI first) for the trust judgement.
    """
    parts = _label_parts(s, k, dropped) if dropped.any() else _every_label(s)[k]
    n_i = len(s.table.annotators)
    out = np.zeros((len(s.table.cases), n_i + EXTRA), order="F")  # filled column by column
    out[:, :n_i] = parts.dr
    out[:, n_i] = parts.pseudo
    out[:, n_i + 1] = parts.answered
    if parts.seconds is not None and parts.timed is not None:
        out[:, n_i + 2] = parts.seconds
        out[:, n_i + 3] = parts.timed
    if s.ai is not None:
        ai = s.ai[:, k]
        both = parts.answered & (ai != MISSING)
        a_pos, pseudo = ai == 1, parts.pseudo
        out[:, n_i + 4] = both & a_pos & pseudo
        out[:, n_i + 5] = both & a_pos & ~pseudo
        out[:, n_i + 6] = both & ~a_pos & pseudo
        out[:, n_i + 7] = both & ~a_pos & ~pseudo
    return out


def _pseudo_answers(
    s: WeightedSetup,
    n_true: np.ndarray,
    n_all: np.ndarray,
    fixed: np.ndarray,
    adj: np.ndarray | None,
) -> np.ndarray:
    """Positive pseudo answers of items (majority, or Dawid-Skene held fixed; adjudication
    where given), False where unanswered."""
    pseudo = n_true > n_all - n_true if s.truth_rule == "majority" else fixed == 1
    if adj is not None:
        pseudo = np.where(adj != MISSING, adj == 1, pseudo)
    return pseudo & (n_all > 0)


def _label_parts(s: WeightedSetup, k: int, dropped: np.ndarray) -> _LabelParts:
    """Label k's parts on its answers from the annotators not ``dropped``."""
    t = s.table
    n_j, n_i = len(t.cases), len(t.annotators)
    idx = s.label_rows[k]
    rows = idx[~dropped[t.annotator[idx]]]
    case, annot, value = t.case[rows], t.annotator[rows], t.value[rows]
    n_all = np.bincount(case, minlength=n_j)
    n_true = np.bincount(case[value], minlength=n_j)
    answered = n_all > 0
    # Dawid-Skene: held fixed at the full-data fit (module docstring).
    adj = None if s.adjudicated is None else s.adjudicated[:, k]
    pseudo = _pseudo_answers(s, n_true, n_all, s.fixed_truth[:, k], adj)
    majority = np.where(pseudo, n_true, n_all - n_true)
    d_scaled = 2.0 * (0.5 - np.divide(majority, n_all, out=np.zeros(n_j), where=answered))
    credit = np.zeros(case.shape[0])
    np.divide(1.0, majority[case], out=credit, where=value == pseudo[case])
    terms = d_scaled[case] * 4.0 * (0.25 - credit)
    dr = np.bincount(case * n_i + annot, terms, n_j * n_i).reshape(n_j, n_i)
    if t.seconds is None:
        return _LabelParts(dr, pseudo, answered, None, None)
    secs = t.seconds[rows]
    timed = ~np.isnan(secs)
    return _LabelParts(
        dr,
        pseudo,
        answered,
        np.bincount(case[timed], secs[timed], n_j),
        np.bincount(case[timed], minlength=n_j),
    )


def _every_label(s: WeightedSetup) -> list[_LabelParts]:
    """Every label's parts with nobody excluded, from one pass over the table in its own
    order: one label's rows are spread over the whole table (rows are sorted by case),
    so gathering them label by label read every column once per label.

    The same operations on the same numbers as :func:`_label_parts`, per item
    instead of per case of one label. Kept for the bootstrap's later blocks.
    """
    with s.lock:
        cached: list[_LabelParts] | None = s.cache.get("every_label")
        if cached is None:
            cached = s.cache["every_label"] = _all_parts(s)
    return cached


def _all_parts(s: WeightedSetup) -> list[_LabelParts]:
    t = s.table
    n_j, n_i, n_k = len(t.cases), len(t.annotators), len(t.labels)
    n_items = n_j * n_k
    votes = np.bincount(t.answer_code(), minlength=2 * n_items).reshape(n_items, 2)
    n_true, n_all = votes[:, 1], votes[:, 0] + votes[:, 1]
    answered = n_all > 0
    adj = None if s.adjudicated is None else s.adjudicated.ravel()
    pseudo = _pseudo_answers(s, n_true, n_all, s.fixed_truth.ravel(), adj)
    majority = np.where(pseudo, n_true, n_all - n_true)
    d_scaled = 2.0 * (0.5 - np.divide(majority, n_all, out=np.zeros(n_items), where=answered))
    per_answer = answer_terms(d_scaled, majority, pseudo)  # 4 * x is exact: same numbers
    dr = np.zeros(n_items * n_i)
    dr[t.answer_key()] = per_answer.ravel()[t.answer_code()]  # one answer per key
    dr3 = dr.reshape(n_j, n_k, n_i)
    pseudo2, answered2 = pseudo.reshape(n_j, n_k), answered.reshape(n_j, n_k)
    secs2 = timed2 = None
    if t.seconds is not None:
        timed = ~np.isnan(t.seconds)
        item = t.item_index()[timed]
        secs2 = np.bincount(item, t.seconds[timed], n_items).reshape(n_j, n_k)
        timed2 = np.bincount(item, minlength=n_items).reshape(n_j, n_k)
    return [
        _LabelParts(
            dr3[:, k, :],
            pseudo2[:, k],
            answered2[:, k],
            None if secs2 is None else secs2[:, k],
            None if timed2 is None else timed2[:, k],
        )
        for k in range(n_k)
    ]


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
