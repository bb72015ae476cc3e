"""The reward table straight from the dense answer snapshot.

The snapshot holds ``value[label, annotator, case]``; the table wants one row
per answer, sorted by (case id as a number, label name, annotator name), with
case names the ids as strings. Permuting the snapshot's axes into that order
and listing the answered cells gives exactly those rows, already sorted and
unique by construction, so the sort and the duplicate check a table built from
loose columns needs (:func:`~markit_core.rewards.run_inputs.table_of`) are not
done: at 10^7 answers this is a few hundred milliseconds instead of seconds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from markit_core.annotation.snapshot import MISSING, DenseAnswers
from markit_core.rewards.table import AnnotationTable

__all__ = ["table_from_dense"]


def _by_name(positions: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """``positions`` and ``names`` reordered so the names ascend."""
    order = sorted(range(len(names)), key=names.__getitem__)
    return positions[order], [names[p] for p in order]


def _is_all(pick: np.ndarray, n: int) -> bool:
    """``pick`` is ``0, 1, ..., n - 1``: taking it would only copy."""
    return pick.shape[0] == n and bool((pick == np.arange(n)).all())


def table_from_dense(
    snap: DenseAnswers, label_names: Mapping[int, str], user_names: Mapping[int, str]
) -> AnnotationTable | None:
    """The snapshot's answers to the labels in ``label_names`` (id -> name) as a table.

    ``user_names`` maps every annotator id with an answer to its name. The
    table equals the one :func:`~markit_core.rewards.run_inputs.table_of`
    builds from the same answers as columns (None when there are none).
    """
    if snap.seconds is None:
        raise ValueError("the reward table needs the snapshot with its times")
    label_pos = np.flatnonzero(np.isin(snap.label_ids, np.fromiter(label_names, np.int64)))
    value = snap.value[label_pos]  # (K, I, J), labels in the snapshot's id order
    answered = value != MISSING
    by_annotator = answered.any(axis=(0, 2))
    by_case = answered.any(axis=(0, 1))
    if not by_case.any():
        return None
    k_axis, labels = _by_name(label_pos, [label_names[int(i)] for i in snap.label_ids[label_pos]])
    i_present = np.flatnonzero(by_annotator)
    i_axis, annotators = _by_name(
        i_present, [user_names[int(i)] for i in snap.annotator_ids[i_present]]
    )
    j_present = np.flatnonzero(by_case)
    case_ids = snap.case_ids[j_present]
    numeric = np.argsort(case_ids, kind="stable")
    j_axis, case_ids = j_present[numeric], case_ids[numeric]
    names = [str(c) for c in case_ids.tolist()]
    by_string = sorted(range(len(names)), key=names.__getitem__)
    case_code = np.empty(len(names), dtype=np.intp)  # numeric position -> code by name
    case_code[by_string] = np.arange(len(names))

    def cells(a: np.ndarray) -> np.ndarray:
        """``a`` over the table's axes as (case, label, annotator), contiguous."""
        for axis, pick in enumerate((k_axis, i_axis, j_axis)):
            if not _is_all(pick, a.shape[axis]):  # usually every case, in order: no copy
                a = np.take(a, pick, axis=axis)
        return np.ascontiguousarray(a.transpose(2, 0, 1)).ravel()

    flat_value = cells(snap.value)
    rows = np.flatnonzero(flat_value != MISSING)
    n_k, n_i = len(labels), len(annotators)
    j, rest = np.divmod(rows, n_k * n_i)
    k, i = np.divmod(rest, n_i)
    confidence = cells(snap.confidence)[rows].astype(np.float64)
    confidence[confidence == MISSING] = np.nan
    return AnnotationTable.from_codes(
        case_code[j],
        k,
        i,
        flat_value[rows] == 1,
        cases=[names[p] for p in by_string],
        labels=labels,
        annotators=annotators,
        seconds=cells(snap.seconds)[rows].astype(np.float64, copy=False),
        confidence=confidence,
        unique=True,
    )
