"""Streaming queries behind the exports: current readings and regions, chunk by chunk.

Rows come from SQL cursors with ``yield_per``, never as ORM objects or one big
list, so an export of a large project holds one chunk at a time. Whether the AI's
suggestion was shown comes from the reading's exposure record; answers a confident
model stored itself (``AiLabel``, active learning) are rows of source ``ai`` whose
reader is the model, merged into the same order.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import String, and_, cast, func
from sqlmodel import Session, col, select

from markit_core.annotation.current import current_readings
from markit_core.models import (
    AiLabel,
    Annotation,
    AnnotationExposure,
    AnnotationValue,
    Case,
    LabelDef,
    Roi,
    User,
)

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


class ReadingRow(NamedTuple):
    """One answer; the fields up to ``ai_suggestion_visible`` are the CSV's columns."""

    case_id: int
    case_name: str
    label_id: int
    label: str
    reader: str  # the annotator, or "model@version" for an AI label
    annotation_id: int | None  # None for an AI label
    version: int
    value: bool | None
    confidence: int | None
    label_seconds: float | None
    case_seconds: float
    active_seconds: float
    idle_seconds: float
    submitted_at: str  # ISO 8601 (see iso_time)
    source: str
    ai_suggestion_visible: bool
    ai_label_id: int | None = None  # the AiLabel row of a source "ai" answer


class RegionRow(NamedTuple):
    """One region of a current reading; the fields are the regions CSV's columns."""

    region_id: int
    case_id: int
    label_id: int
    label: str
    shape: str
    frame: int
    points_json: str  # as stored: JSON [[x, y], ...] in image pixels
    reader: str
    annotation_id: int
    version: int
    source: str
    score: float | None

    @property
    def points(self) -> list[list[float]]:
        """The points, parsed (the CSV writes the stored text without parsing it)."""
        return json.loads(self.points_json)

    @property
    def compact_points(self) -> str:
        """``points_json`` without whitespace (JSON of numbers only: exact)."""
        return self.points_json.replace(" ", "")


def _driver_rows(session: Session, stmt: Any) -> Iterator[Any]:
    """The rows of ``stmt``, streamed.

    On SQLite straight from the driver's cursor: SQLAlchemy's per-row work (a Row object,
    a type processor per datetime and boolean) is about half of a large export there, so
    values come as SQLite stores them (0/1, datetime text) and the caller converts the
    few it needs. Elsewhere through SQLAlchemy with ``yield_per``, which streams from a
    server-side cursor (a driver cursor would load the whole result into memory).
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield from conn.execute(stmt.execution_options(yield_per=CHUNK))
        return
    compiled = stmt.compile(dialect=conn.dialect)
    values = compiled.construct_params()
    params = tuple(values[name] for name in compiled.positiontup or ())
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:  # a closed connection: let SQLAlchemy say so
        yield from conn.execute(stmt)
        return
    for rows in driver_chunks(dbapi, str(compiled), params):
        yield from rows


def driver_chunks(dbapi: Any, sql: str, params: Any) -> Iterator[list[Any]]:
    """The rows of ``sql`` on a DB-API connection, ``CHUNK`` rows at a time."""
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            yield rows
    finally:
        cursor.close()


def _by_code_point(session: Session, column: Any) -> Any:
    """``column`` ordered as Python orders str (code points): ``COLLATE "C"`` on PostgreSQL,
    whose default collation may not; SQLite's BINARY already is. The merge with the AI's
    answers (``heapq.merge`` on Python keys) and the COPY export rely on it."""
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def iso_time(value: datetime | str | None) -> str:
    """A timestamp as ISO 8601 text, what ``datetime.isoformat`` of the aware UTC value gives
    (converted to UTC whatever the session's time zone; a naive value is UTC). SQLite's
    stored text (UTC without an offset, always with microseconds) is rewritten as text,
    without building a datetime."""
    if value is None:
        return ""
    if not isinstance(value, str):  # aware in the session's time zone, or naive UTC
        return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if len(value) == 26 and value[10] == " ":  # "YYYY-MM-DD HH:MM:SS.ffffff"
        date, time = value[:10], value[11:]
        return f"{date}T{time[:8] if time.endswith('.000000') else time}+00:00"
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def count_readings(session: Session, project_id: int, *, include_ai: bool = True) -> int:
    """Number of rows :func:`iter_readings` yields."""
    stmt = (
        select(func.count())
        .select_from(AnnotationValue)
        .join(Annotation, col(Annotation.id) == col(AnnotationValue.annotation_id))
        .where(current_readings(project_id), col(AnnotationValue.value).is_not(None))
    )
    humans = int(session.exec(stmt).one())
    if not include_ai:
        return humans
    ai = select(func.count()).select_from(AiLabel).where(col(AiLabel.project_id) == project_id)
    return humans + int(session.exec(ai).one())


def iter_readings(
    session: Session, project_id: int, *, include_ai: bool = True
) -> Iterator[ReadingRow]:
    """Current answers, one per (case, label, reader), ordered by case, label, reader.

    With ``include_ai`` the model's own answers (source ``ai``) are merged in.
    """
    humans = _human_readings(session, project_id)
    ai = select(col(AiLabel.id)).where(col(AiLabel.project_id) == project_id).limit(1)
    if not include_ai or session.exec(ai).first() is None:
        yield from humans
        return
    order = dict(
        session.exec(
            select(col(LabelDef.id), col(LabelDef.order)).where(
                col(LabelDef.project_id) == project_id
            )
        ).all()
    )

    def key(r: ReadingRow) -> tuple[int, int, str, str]:  # the queries' ORDER BY
        return (r.case_id, order[r.label_id], r.label, r.reader)

    yield from heapq.merge(humans, _ai_readings(session, project_id), key=key)


READING_SOURCES: tuple[Any, ...] = (
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
    AnnotationExposure.suggestion_visible,
)


def human_readings_stmt(session: Session, project_id: int, columns: Sequence[Any]) -> Any:
    """SELECT ``columns`` (over :data:`READING_SOURCES`' tables) of the current human
    answers, in the export's order."""
    return (
        select(*columns)
        .select_from(Annotation)
        .join(AnnotationValue, col(AnnotationValue.annotation_id) == col(Annotation.id))
        .join(LabelDef, col(LabelDef.id) == col(AnnotationValue.label_id))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .join(Case, col(Case.id) == col(Annotation.case_id))
        .outerjoin(
            AnnotationExposure,
            and_(
                col(AnnotationExposure.annotation_id) == col(Annotation.id),
                col(AnnotationExposure.label_id) == col(AnnotationValue.label_id),
            ),
        )
        .where(current_readings(project_id), col(AnnotationValue.value).is_not(None))
        .order_by(
            col(Annotation.case_id),
            col(LabelDef.order),
            _by_code_point(session, col(LabelDef.name)),
            _by_code_point(session, col(User.username)),
        )
    )


def _human_readings(session: Session, project_id: int) -> Iterator[ReadingRow]:
    stmt = human_readings_stmt(session, project_id, READING_SOURCES)
    make = ReadingRow._make
    as_text = iso_time
    for r in _driver_rows(session, stmt):
        value = r[7]
        yield make(
            (
                *r[:7],
                None if value is None else value == 1,
                *r[8:13],
                as_text(r[13]),
                "human",
                r[14] == 1,
                None,
            )
        )


def _ai_readings(session: Session, project_id: int) -> Iterator[ReadingRow]:
    """The model's own answers (active learning), in the human rows' order."""
    columns: list[Any] = [
        AiLabel.id,
        AiLabel.case_id,
        Case.original_name,
        LabelDef.id,
        LabelDef.name,
        AiLabel.model_name,
        AiLabel.version,
        AiLabel.value,
        AiLabel.at,
    ]
    stmt = (
        select(*columns)
        .join(LabelDef, col(LabelDef.id) == col(AiLabel.label_id))
        .join(Case, col(Case.id) == col(AiLabel.case_id))
        .where(col(AiLabel.project_id) == project_id)
        .order_by(
            col(AiLabel.case_id), col(LabelDef.order), _by_code_point(session, col(LabelDef.name))
        )
    ).execution_options(yield_per=CHUNK)
    for (
        ai_id,
        case_id,
        name,
        label_id,
        label,
        model,
        version,
        value,
        at,
    ) in session.connection().execute(stmt):
        reader = f"{model}@{version}"
        yield ReadingRow(
            case_id, name, label_id, label, reader, None, 1, bool(value), None, None,
            0.0, 0.0, 0.0, iso_time(at), "ai", False, ai_id,
        )  # fmt: skip


def count_regions(session: Session, project_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(Roi)
        .join(Annotation, col(Annotation.id) == col(Roi.annotation_id))
        .where(current_readings(project_id))
    )
    return int(session.exec(stmt).one())


def iter_regions(session: Session, project_id: int) -> Iterator[RegionRow]:
    """Regions of the current readings, ordered by case, reader, region id.

    Points come as the stored JSON text (``CAST``, so no driver parses them): the
    CSV copies it and only what needs coordinates parses it. Every region today is
    a reader's (source ``human``, no score); the columns stay for AI regions.
    """
    columns: list[Any] = [
        Roi.id,
        Annotation.case_id,
        LabelDef.id,
        LabelDef.name,
        Roi.shape,
        Roi.frame,
        cast(col(Roi.points), String),
        User.username,
        Annotation.id,
        Annotation.version,
    ]
    make = RegionRow._make
    for r in _driver_rows(session, regions_stmt(project_id, columns)):
        yield make((*r, "human", None))


def regions_stmt(project_id: int, columns: Sequence[Any]) -> Any:
    """SELECT ``columns`` of the regions of the current readings, in the export's order."""
    return (
        select(*columns)
        .select_from(Roi)
        .join(Annotation, col(Annotation.id) == col(Roi.annotation_id))
        .join(LabelDef, col(LabelDef.id) == col(Roi.label_id))
        .join(User, col(User.id) == col(Annotation.annotator_id))
        .where(current_readings(project_id))
        .order_by(col(Annotation.case_id), col(User.username), col(Roi.id))
    )


def label_categories(session: Session, project_id: int) -> list[tuple[int, int, str, str]]:
    """(category id from 1, label id, name, group) for every label of the project, in order."""
    labels = session.exec(
        select(LabelDef.id, LabelDef.name, LabelDef.group)
        .where(col(LabelDef.project_id) == project_id)
        .order_by(col(LabelDef.order), col(LabelDef.name), col(LabelDef.id))
    ).all()
    return [(n, int(i or 0), name, group) for n, (i, name, group) in enumerate(labels, start=1)]
