"""Progress tracking: how many of their cases each annotator has done."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from markit_core.access import Action, require
from markit_core.annotation.current import current_annotation_ids
from markit_core.db import require_id
from markit_core.models import Annotation, Assignment, Case, Membership, Role, User


@dataclass(frozen=True)
class AnnotatorProgress:
    username: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def project_progress(session: Session, actor: User, project_id: int) -> list[AnnotatorProgress]:
    """Per annotator: current readings done out of the cases open to them.

    A case is open to an annotator if it is assigned to them, or if the
    project has no assignments for them at all (then every case is open).
    """
    require(session, actor, project_id, Action.PROGRESS)
    n_cases = session.exec(
        select(func.count()).select_from(Case).where(Case.project_id == project_id)
    ).one()
    annotators = session.exec(
        select(User)
        .join(Membership, col(Membership.user_id) == User.id)
        .where(Membership.project_id == project_id, Membership.role == Role.ANNOTATOR.value)
        .order_by(User.username)
    ).all()
    assigned = dict(
        session.exec(
            select(Assignment.user_id, func.count())
            .where(Assignment.project_id == project_id)
            .group_by(col(Assignment.user_id))
        ).all()
    )
    done = dict(
        session.exec(
            select(Annotation.annotator_id, func.count())
            .where(col(Annotation.id).in_(current_annotation_ids(project_id)))
            .group_by(col(Annotation.annotator_id))
        ).all()
    )
    return [
        AnnotatorProgress(
            u.username, done.get(require_id(u), 0), assigned.get(require_id(u), n_cases)
        )
        for u in annotators
    ]
