"""Read-side queries over annotations: the current answer of every annotator.

An annotator's current reading of a case is the highest version of their
annotation (edits add versions); a ``deleted`` newest version means no
reading. Export, statistics, review and rewards all read through here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from markit_core.db import require_id
from markit_core.models import Annotation, AnnotationValue, LabelDef, User


@dataclass(frozen=True)
class CurrentAnswer:
    """One annotator's current answer for one (case, label)."""

    case_id: int
    label: str
    annotator: str
    value: bool | None
    confidence: int | None
    seconds: float | None


def current_annotation_ids(project_id: int):
    """Subquery of the ids of current, non-deleted annotations in a project."""
    latest = (
        select(Annotation.case_id, Annotation.annotator_id, func.max(Annotation.version).label("v"))
        .where(Annotation.project_id == project_id)
        .group_by(col(Annotation.case_id), col(Annotation.annotator_id))
        .subquery()
    )
    return (
        select(Annotation.id)
        .join(
            latest,
            (col(Annotation.case_id) == latest.c.case_id)
            & (col(Annotation.annotator_id) == latest.c.annotator_id)
            & (col(Annotation.version) == latest.c.v),
        )
        .where(col(Annotation.deleted).is_(False))
    )


def current_answers(session: Session, project_id: int) -> list[CurrentAnswer]:
    """Every current binary answer in the project, ordered by case, label, annotator.

    Callers check permissions; this is a query helper, not a service.
    """
    ids = current_annotation_ids(project_id).subquery()
    rows = session.exec(
        select(Annotation.case_id, LabelDef.name, User.username, AnnotationValue)
        .join(AnnotationValue, col(AnnotationValue.annotation_id) == Annotation.id)
        .join(LabelDef, col(LabelDef.id) == AnnotationValue.label_id)
        .join(User, col(User.id) == Annotation.annotator_id)
        .where(col(Annotation.id).in_(select(ids.c.id)))
        .order_by(
            col(Annotation.case_id), col(LabelDef.order), col(LabelDef.name), col(User.username)
        )
    ).all()
    return [
        CurrentAnswer(case_id, label, user, v.value, v.confidence, v.seconds)
        for case_id, label, user, v in rows
    ]


def cases_read_by(session: Session, project_id: int, user_id: int) -> set[int]:
    """Cases of the project on which ``user_id`` has a current (submitted, not deleted) reading."""
    ids = current_annotation_ids(project_id).subquery()
    rows = session.exec(
        select(Annotation.case_id).where(
            Annotation.id.in_(select(ids.c.id)),  # type: ignore[union-attr]
            Annotation.annotator_id == user_id,
        )
    ).all()
    return set(rows)


def visible_cases(session: Session, viewer: object, project_id: int) -> set[int] | None:
    """Cases whose readings ``viewer`` may see: None (all) unless they annotate in the project.

    A user holding the annotator role reads independently, whatever other roles
    they hold, so every read path limits them to the cases they have read.
    """
    from markit_core.access import reads_blind
    from markit_core.models import User

    if not isinstance(viewer, User) or not reads_blind(session, viewer, project_id):
        return None
    return cases_read_by(session, project_id, require_id(viewer))
