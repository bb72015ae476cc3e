"""Project statistics: how many cases, how far the annotation has got, who is in it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from markit_core.access import Action, require
from markit_core.annotation.current import current_annotation_ids
from markit_core.models import Annotation, Case, LabelDef, Membership, Role, User


@dataclass(frozen=True)
class ProjectSummary:
    project: str
    cases: int
    annotated_cases: int
    annotations: int
    labels: int
    members_by_role: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def project_summary(session: Session, actor: User, project_id: int) -> ProjectSummary:
    """Counts for the stats command and the admin page.

    ``annotations`` counts current, non-deleted readings (one per annotator and
    case, whatever the number of edits); ``annotated_cases`` counts cases with
    at least one.
    """
    project = require(session, actor, project_id, Action.STATS)
    current = (
        select(Annotation.case_id)
        .where(col(Annotation.id).in_(current_annotation_ids(project_id)))
        .subquery()
    )
    n_annotations = session.exec(select(func.count()).select_from(current)).one()
    n_annotated = session.exec(select(func.count(func.distinct(current.c.case_id)))).one()
    n_cases = session.exec(
        select(func.count()).select_from(Case).where(Case.project_id == project_id)
    ).one()
    n_labels = session.exec(
        select(func.count())
        .select_from(LabelDef)
        .where(LabelDef.project_id == project_id, col(LabelDef.archived).is_(False))
    ).one()
    by_role = dict.fromkeys((r.value for r in Role), 0)
    for role, n in session.exec(
        select(Membership.role, func.count())
        .where(Membership.project_id == project_id)
        .group_by(Membership.role)
    ):
        by_role[role] = n
    return ProjectSummary(project.name, n_cases, n_annotated, n_annotations, n_labels, by_role)
