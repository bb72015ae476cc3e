"""Streaming queries behind the exports: current readings and regions, chunk by chunk.

Rows come from SQL cursors with ``yield_per``, never as ORM objects or one big
list, so an export of a large project holds one chunk at a time. Attributes
added by later work (an annotation's ``source`` and whether the AI suggestion
was visible, a region's ``source`` and ``score``) are read with ``getattr``
defaults: before that work lands every reading is ``human`` and no AI
suggestion was shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from sqlalchemy import and_, func, literal
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from markit_core.models import Annotation, AnnotationValue, Case, LabelDef, Roi, User

__all__ = [
    "CHUNK",
    "ReadingRow",
    "RegionRow",
    "count_readings",
    "count_regions",
    "iter_readings",
    "iter_regions",
    "label_categories",
]

CHUNK = 5000
_AI_VISIBLE_NAMES = ("ai_suggestion_visible", "ai_visible", "ai_shown")


def _optional(model: type, names: tuple[str, ...], default: Any) -> Any:
    for name in names:
        column = getattr(model, name, None)
        if column is not None:
            return column
    return literal(default)


class ReadingRow(NamedTuple):
    case_id: int
    case_name: str
    label_id: int
    label: str
    reader: str
    annotation_id: int
    version: int
    value: bool | None
    confidence: int | None
    label_seconds: float | None
    case_seconds: float
    active_seconds: float
    idle_seconds: float
    submitted_at: Any
    source: str
    ai_suggestion_visible: bool


class RegionRow(NamedTuple):
    region_id: int
    case_id: int
    label_id: int
    label: str
    shape: str
    frame: int
    points: list
    reader: str
    annotation_id: int
    version: int
    source: str
    score: float | None


def _current(project_id: int) -> Any:
    """Current readings: not deleted and no higher version by the same reader of the case.

    A NOT EXISTS on the (case, annotator, version) unique index stays linear on large
    projects, where an IN over a grouped subquery does not (SQLite).
    """
    newer = aliased(Annotation)
    later = (
        select(col(newer.id))
        .where(
            col(newer.case_id) == col(Annotation.case_id),
            col(newer.annotator_id) == col(Annotation.annotator_id),
            col(newer.version) > col(Annotation.version),
        )
        .exists()
    )
    return and_(
        col(Annotation.project_id) == project_id,
        col(Annotation.deleted).is_(False),
        ~later,
    )


def count_readings(session: Session, project_id: int) -> int:
    """Number of (case, label, reader) rows :func:`iter_readings` yields."""
    stmt = (
        select(func.count())
        .select_from(AnnotationValue)
        .join(Annotation, col(Annotation.id) == col(AnnotationValue.annotation_id))
        .where(_current(project_id), col(AnnotationValue.value).is_not(None))
    )
    return int(session.exec(stmt).one())


def iter_readings(session: Session, project_id: int) -> Iterator[ReadingRow]:
    """Current answers, one per (case, label, reader), ordered by case, label, reader."""
    columns: list[Any] = [
        Annotation.case_id,
        Case.original_name,
        LabelDef.id,
        LabelDef.name,
        User.username,
        Annotation.id,
        Annotation.version,
        AnnotationValue.value,
        AnnotationValue.confidence,
        AnnotationValue.seconds,
        Annotation.total_seconds,
        Annotation.active_seconds,
        Annotation.idle_seconds,
        Annotation.submitted_at,
        _optional(Annotation, ("source",), "human"),
        _optional(Annotation, _AI_VISIBLE_NAMES, False),
    ]
    stmt = (
        select(*columns)
        .join(AnnotationValue, col(AnnotationValue.annotation_id) == col(Annotation.id))
        .join(LabelDef, col(LabelDef.id) == col(AnnotationValue.label_id))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .join(Case, col(Case.id) == col(Annotation.case_id))
        .where(_current(project_id), col(AnnotationValue.value).is_not(None))
        .order_by(
            col(Annotation.case_id), col(LabelDef.order), col(LabelDef.name), col(User.username)
        )
    ).execution_options(yield_per=CHUNK)
    for r in session.connection().execute(stmt):
        yield ReadingRow._make((*r[:14], r[14] or "human", bool(r[15])))


def count_regions(session: Session, project_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(Roi)
        .join(Annotation, col(Annotation.id) == col(Roi.annotation_id))
        .where(_current(project_id))
    )
    return int(session.exec(stmt).one())


def iter_regions(session: Session, project_id: int) -> Iterator[RegionRow]:
    """Regions of the current readings, ordered by case, reader, region id."""
    columns: list[Any] = [
        Roi.id,
        Annotation.case_id,
        LabelDef.id,
        LabelDef.name,
        Roi.shape,
        Roi.frame,
        Roi.points,
        User.username,
        Annotation.id,
        Annotation.version,
        _optional(Roi, ("source",), None),
        _optional(Annotation, ("source",), "human"),
        _optional(Roi, ("score",), None),
    ]
    stmt = (
        select(*columns)
        .join(Annotation, col(Annotation.id) == col(Roi.annotation_id))
        .join(LabelDef, col(LabelDef.id) == col(Roi.label_id))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .where(_current(project_id))
        .order_by(col(Annotation.case_id), col(User.username), col(Roi.id))
    ).execution_options(yield_per=CHUNK)
    for r in session.connection().execute(stmt):
        score = None if r[12] is None else float(r[12])
        yield RegionRow._make((*r[:10], r[10] or r[11] or "human", score))


def label_categories(session: Session, project_id: int) -> list[tuple[int, int, str, str]]:
    """(category id from 1, label id, name, group) for every label of the project, in order."""
    labels = session.exec(
        select(LabelDef.id, LabelDef.name, LabelDef.group)
        .where(col(LabelDef.project_id) == project_id)
        .order_by(col(LabelDef.order), col(LabelDef.name), col(LabelDef.id))
    ).all()
    return [(n, int(i or 0), name, group) for n, (i, name, group) in enumerate(labels, start=1)]
