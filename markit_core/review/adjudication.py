"""Adjudication: a reviewer's final answer for a disputed (case, label).

It becomes the consensus for that item on the review page, in calibration and
(as ``adjudicated``) in the truth rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.annotation.queue import case_in_project
from markit_core.db import require_id, rolls_back
from markit_core.errors import ValidationError
from markit_core.models import Adjudication, LabelDef, LabelKind, User, utcnow

__all__ = ["MAX_NOTE", "AdjudicationView", "adjudicate", "adjudications"]

MAX_NOTE = 2000


@dataclass(frozen=True)
class AdjudicationView:
    case_id: int
    label: str
    value: bool
    reviewer: str
    note: str
    at: str


def adjudications(session: Session, project_id: int) -> dict[tuple[int, int], AdjudicationView]:
    """The project's adjudications by (case id, label id) (a query helper)."""
    rows = session.exec(
        select(Adjudication, User.username, LabelDef.name)
        .join(User, col(User.id) == Adjudication.reviewer_id)
        .join(LabelDef, col(LabelDef.id) == Adjudication.label_id)
        .where(Adjudication.project_id == project_id)
    ).all()
    return {
        (a.case_id, a.label_id): AdjudicationView(
            a.case_id, name, a.value, user, a.note, a.at.isoformat(timespec="seconds")
        )
        for a, user, name in rows
    }


@rolls_back
def adjudicate(
    session: Session,
    actor: User,
    project_id: int,
    case_id: int,
    label_id: int,
    value: bool,
    note: str = "",
) -> AdjudicationView:
    """Store (or replace) the reviewer's final answer for a (case, label), with a ledger entry.

    The adjudication becomes the consensus for that item on the review page
    and in calibration. Raises ``ValidationError`` for a case or label not in
    the project, a region-only label, or a note over 2000 characters.
    """
    require(session, actor, project_id, Action.REVIEW)
    case_in_project(session, project_id, case_id)
    label = session.get(LabelDef, label_id)
    if label is None or label.project_id != project_id or label.archived:
        raise ValidationError(f"label {label_id} is not a label of this project")
    if label.kind != LabelKind.BINARY.value:
        raise ValidationError(f"label {label.name!r} takes regions, not a present/absent answer")
    if not isinstance(value, (bool, np.bool_)):
        raise ValidationError("the final answer must be present or absent")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError(f"note is {len(note)} characters; at most {MAX_NOTE}")
    row = session.exec(
        select(Adjudication).where(
            Adjudication.case_id == case_id, Adjudication.label_id == label_id
        )
    ).first()
    if row is None:
        row = Adjudication(
            project_id=project_id,
            case_id=case_id,
            label_id=label_id,
            value=bool(value),
            reviewer_id=require_id(actor),
            note=note,
        )
    else:
        row.value, row.reviewer_id, row.note, row.at = (
            bool(value),
            require_id(actor),
            note,
            utcnow(),
        )
    session.add(row)
    session.flush()
    ledger.append(
        session, actor=actor, project_id=project_id, action="review.adjudicate", record=row
    )
    session.commit()
    return AdjudicationView(
        case_id,
        label.name,
        row.value,
        actor.username,
        row.note,
        row.at.isoformat(timespec="seconds"),
    )
