"""What a reward run is computed on: the project's current answers as an
``AnnotationTable``, the reviewers' adjudications and the AI reference in the
table's codes, and the record of the input stored with the run (sizes, names and
the SHA-256 of the exact answers).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
from sqlmodel import Session, col, select

from markit_core.annotation.current import current_answer_columns
from markit_core.db import require_id
from markit_core.labels import active_binary_labels
from markit_core.models import Adjudication, LabelDef, User
from markit_core.review.answers import AiReference
from markit_core.rewards.table import AnnotationTable

__all__ = [
    "adjudication_matrix",
    "ai_reference_matrix",
    "answers_frame",
    "answers_table",
    "input_digest",
    "input_params",
    "table_of",
]


def answers_frame(session: Session, project_id: int) -> pd.DataFrame:
    """Current answers to active binary labels, sorted (case, label, annotator)."""
    labels = {require_id(lb): lb.name for lb in active_binary_labels(session, project_id)}
    cols = current_answer_columns(session, project_id, list(labels))
    present = [int(u) for u in np.unique(cols.annotator_id)]
    users = dict(
        session.exec(select(User.id, User.username).where(col(User.id).in_(present))).all()
    )
    frame = pd.DataFrame(
        {
            "case_id": cols.case_id,
            "label": pd.Series(cols.label_id).map(labels).to_numpy(object),
            "annotator": pd.Series(cols.annotator_id).map(users).to_numpy(object),
            "value": cols.value,
            "confidence": cols.confidence,
            "seconds": cols.seconds,
        }
    )
    del cols
    return frame.sort_values(["case_id", "label", "annotator"], kind="stable").reset_index(
        drop=True
    )


def answers_table(session: Session, project_id: int) -> AnnotationTable | None:
    """The project's current answers as an ``AnnotationTable`` (None when there are none).

    Query helper (callers check permissions). Case ids become strings, as in
    the CLI's CSV input, so a run and ``python -m markit_core rewards`` on an
    export of the same answers see identical tables.
    """
    return table_of(answers_frame(session, project_id))


def table_of(frame: pd.DataFrame) -> AnnotationTable | None:
    """``answers_frame``'s rows as an ``AnnotationTable`` (None for no rows)."""
    if frame.empty:
        return None
    return AnnotationTable.from_columns(
        frame["case_id"].astype(str).to_numpy(),
        frame["label"].to_numpy(str),
        frame["annotator"].to_numpy(str),
        frame["value"].to_numpy(bool),
        seconds=pd.to_numeric(frame["seconds"], errors="coerce").to_numpy(float),
        confidence=pd.to_numeric(frame["confidence"], errors="coerce").to_numpy(float),
    )


def input_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of the answers a run used: ``case,label,annotator,value`` lines, sorted."""
    text = (
        frame[["case_id", "label", "annotator", "value"]]
        .astype({"case_id": "int64", "value": bool})
        .to_csv(index=False, header=False, lineterminator="\n")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


def input_params(table: AnnotationTable, frame: pd.DataFrame) -> dict[str, Any]:
    """What the run was computed on, stored with it: sizes, names and the input's digest."""
    return {
        "answers": table.n_annotations,
        "cases": len(table.cases),
        "labels": list(table.labels),
        "annotators": list(table.annotators),
        "input_sha256": input_digest(frame),
    }
