"""What a reward run is computed on: the project's current answers as an
``AnnotationTable``, the reviewers' adjudications and the AI reference in the
table's codes, and the record of the input stored with the run (sizes, names and
the SHA-256 of the exact answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from markit_core.annotation.current import AnswerColumns
from markit_core.annotation.snapshot import dense_answers
from markit_core.db import require_id
from markit_core.labels import active_binary_labels
from markit_core.models import Adjudication, LabelDef, User
from markit_core.review.answers import AiReference
from markit_core.rewards.dense_table import table_from_dense
from markit_core.rewards.digest import answers_digest
from markit_core.rewards.table import AnnotationTable, fits_dense, sorted_order

__all__ = [
    "NamedAnswers",
    "adjudication_matrix",
    "ai_reference_matrix",
    "answers_table",
    "input_params",
    "table_of",
]


@dataclass(frozen=True, eq=False)
class NamedAnswers:
    """Answers as id columns (e.g. ``query_answer_columns``) with the names of their labels
    and annotators: the input of :func:`table_of`."""

    columns: AnswerColumns
    labels: dict[int, str]
    users: dict[int, str]


def answers_table(session: Session, project_id: int) -> AnnotationTable | None:
    """The project's current answers to active binary labels as an ``AnnotationTable``
    (None when there are none), read from the answer snapshot.

    Query helper (callers check permissions). Case ids become strings, as in
    the CLI's CSV input, so a run and ``python -m markit_core rewards`` on an
    export of the same answers see identical tables.
    """
    labels = {require_id(lb): lb.name for lb in active_binary_labels(session, project_id)}
    if not labels:
        return None
    snap = dense_answers(session, project_id, seconds=True)
    ids = snap.annotator_ids.tolist()  # a project's readers: a short list
    rows = session.exec(select(User.id, User.username).where(col(User.id).in_(ids))).all()
    return table_from_dense(snap, labels, {u: name for u, name in rows if u is not None})


def _codes(
    ids: np.ndarray, name_of: dict[int, str] | None
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(code of each row, the names sorted, numeric rank of each code) of database ids.

    Names are ``name_of[id]`` (``str(id)`` without a map). Ids are a
    project's own, so a lookup array over their range usually replaces a sort
    of every row.
    """
    lookup_size = int(ids.max()) + 1
    dense = int(ids.min()) >= 0 and fits_dense(lookup_size, ids.shape[0])
    if dense:  # ids index a lookup array directly: one scatter, one gather
        present = np.zeros(lookup_size, dtype=bool)
        present[ids] = True
        uniq = np.flatnonzero(present)  # numeric order
    else:
        uniq, row_pos = np.unique(ids, return_inverse=True)
    id_list = uniq.tolist()
    names = [str(i) for i in id_list] if name_of is None else [name_of[i] for i in id_list]
    by_name = sorted(range(len(names)), key=names.__getitem__)
    code = np.empty(len(names), dtype=np.intp)
    code[by_name] = np.arange(len(names))
    if dense:
        lookup = np.zeros(lookup_size, dtype=np.intp)
        lookup[uniq] = code
        row_code = lookup[ids]
    else:
        row_code = code[row_pos.ravel()]
    return row_code, [names[p] for p in by_name], np.asarray(by_name, dtype=np.intp)


def table_of(answers: NamedAnswers) -> AnnotationTable | None:
    """The answers as an ``AnnotationTable`` (None for no rows), from integer codes.

    Rows are sorted by (case id as a number, label, annotator) and case names
    are the ids as strings, sorted as strings: the table the CLI builds from
    an export of the same answers. The case ids' range is that of one
    project's cases, so the lookups stay small. Runs read the same table from
    the answer snapshot instead (:func:`answers_table`).
    """
    cols = answers.columns
    if not len(cols):
        return None
    case, cases, case_rank = _codes(cols.case_id, None)
    label, labels, _ = _codes(cols.label_id, answers.labels)
    annot, annotators, _ = _codes(cols.annotator_id, answers.users)
    numeric = case_rank.astype(np.int64)  # each case code's position by number
    n_k, n_i = len(labels), len(annotators)
    key = (numeric[case] * n_k + label) * n_i + annot
    order = sorted_order(key, len(cases) * n_k * n_i)
    return AnnotationTable.from_codes(
        case[order],
        label[order],
        annot[order],
        cols.value[order],
        cases=cases,
        labels=labels,
        annotators=annotators,
        seconds=cols.seconds[order],
        confidence=cols.confidence[order],
    )


def adjudication_matrix(session: Session, project_id: int, table: AnnotationTable) -> np.ndarray:
    """Reviewers' final answers in the table's codes (-1 where none)."""
    rows = session.exec(
        select(Adjudication.case_id, LabelDef.name, Adjudication.value)
        .join(LabelDef, col(LabelDef.id) == Adjudication.label_id)
        .where(Adjudication.project_id == project_id)
    ).all()
    return table.reference_matrix(
        [str(c) for c, _, _ in rows], [lab for _, lab, _ in rows], [bool(v) for _, _, v in rows]
    )


def ai_reference_matrix(table: AnnotationTable, ai: AiReference | None) -> np.ndarray | None:
    """The AI reference as the table's (case, label) matrix; None without one."""
    if not ai:
        return None
    keys = list(ai)
    return table.reference_matrix(
        [str(c) for c, _ in keys], [lab for _, lab in keys], [bool(ai[k]) for k in keys]
    )


def input_params(table: AnnotationTable) -> dict[str, Any]:
    """What the run was computed on, stored with it: sizes, names and the input's digest
    (:func:`~markit_core.rewards.digest.answers_digest`)."""
    return {
        "answers": table.n_annotations,
        "cases": len(table.cases),
        "labels": list(table.labels),
        "annotators": list(table.annotators),
        "input_sha256": answers_digest(table),
    }
