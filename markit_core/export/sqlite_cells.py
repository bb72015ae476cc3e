"""The readings CSV on SQLite with the cells made by SQLite: the csv module writes whole chunks.

The Python writer builds a row object and a list per answer, converts booleans and
timestamps and checks the text cells, in Python. Here SQLite returns the 16 cells as the
CSV holds them (``true`` / ``false``, ISO times, formula names neutralised as
:func:`~markit_core.export.spreadsheet.safe_cell` does) and ``csv.writer.writerows`` writes
each fetched chunk in C. Numbers come as the driver returns them, so the csv module
writes their ``repr`` as before: the bytes are the Python writer's.

Taken only when its cells need nothing it cannot do (see :func:`prepared_cells_fit`): no
name holding a carriage return (such a row is quoted whole), every time stored as
SQLAlchemy's text, and no answer stored by the AI (merged by Python).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import literal_column, text
from sqlmodel import Session

from markit_core.export.rows import (
    READING_SOURCES,
    driver_chunks,
    human_readings_stmt,
    regions_stmt,
)

__all__ = [
    "prepared_cells_fit",
    "prepared_reading_chunks",
    "prepared_region_chunks",
    "prepared_regions_fit",
]

_FIT = text(
    """SELECT NOT (
    EXISTS (SELECT 1 FROM ai_label WHERE project_id = :p)
    OR EXISTS (SELECT 1 FROM "case" WHERE project_id = :p AND instr(original_name, char(13)))
    OR EXISTS (SELECT 1 FROM label_def WHERE project_id = :p AND instr(name, char(13)))
    OR EXISTS (SELECT 1 FROM user_account WHERE instr(username, char(13)))
    OR EXISTS (SELECT 1 FROM annotation WHERE project_id = :p AND NOT (
        typeof(submitted_at) = 'text' AND length(submitted_at) = 26
        AND substr(submitted_at, 11, 1) = ' ')))"""
)


def prepared_cells_fit(session: Session, project_id: int) -> bool:
    """Whether SQLite can make every cell of the project's readings CSV itself."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    return bool(session.execute(_FIT, {"p": project_id}).scalar())


def _neutral(column: str) -> str:
    """SQL of ``safe_cell`` for a text cell (no ``\\r`` left: see the fit check)."""
    return (
        f"CASE WHEN typeof({column}) = 'text' AND substr({column}, 1, 1)"
        f" IN ('=', '+', '-', '@', char(9)) THEN '''' || {column} ELSE {column} END"
    )


def _cells() -> list[Any]:
    at = "annotation.submitted_at"
    sql = [
        "annotation.case_id",
        _neutral('"case".original_name'),
        "label_def.id",
        _neutral("label_def.name"),
        _neutral("user_account.username"),
        "annotation.id",
        "annotation.version",
        "CASE WHEN annotation_value.value = 1 THEN 'true' ELSE 'false' END",
        "annotation_value.confidence",
        "annotation_value.seconds",
        "annotation.total_seconds",
        "annotation.active_seconds",
        "annotation.idle_seconds",
        # iso_time of SQLite's "YYYY-MM-DD HH:MM:SS.ffffff": isoformat() of the UTC value
        f"substr({at}, 1, 10) || 'T' || CASE WHEN substr({at}, 20) = '.000000'"
        f" THEN substr({at}, 12, 8) ELSE substr({at}, 12) END || '+00:00'",
        "'human'",
        "CASE WHEN annotation_exposure.suggestion_visible = 1 THEN 'true' ELSE 'false' END",
    ]
    assert len(sql) == len(READING_SOURCES) + 1
    return [literal_column(s) for s in sql]


def prepared_reading_chunks(session: Session, project_id: int) -> Iterator[list[tuple]]:
    """The readings CSV's rows (16 cells each, ready to write), a chunk at a time.

    Only for a project where :func:`prepared_cells_fit` holds.
    """
    return _chunks(session, human_readings_stmt(session, project_id, _cells()))


def _chunks(session: Session, stmt: Any) -> Iterator[list[tuple]]:
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect)
    values = compiled.construct_params()
    params = tuple(values[name] for name in compiled.positiontup or ())
    yield from driver_chunks(conn.connection.dbapi_connection, str(compiled), params)


_PLAIN = "(instr({c}, char(13)) OR substr({c}, 1, 1) IN ('=', '+', '-', '@', char(9)))"
_REGIONS_FIT = text(
    f"""SELECT NOT (
    EXISTS (SELECT 1 FROM label_def WHERE project_id = :p AND {_PLAIN.format(c="name")})
    OR EXISTS (SELECT 1 FROM user_account WHERE {_PLAIN.format(c="username")})
    OR EXISTS (SELECT 1 FROM roi WHERE {_PLAIN.format(c="shape")}))"""
)


def prepared_regions_fit(session: Session, project_id: int) -> bool:
    """Whether the regions CSV's text cells (label, shape, reader) need no neutralising
    and no quoting of the whole row, so SQLite's rows can be written as they come."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    return bool(session.execute(_REGIONS_FIT, {"p": project_id}).scalar())


def prepared_region_chunks(session: Session, project_id: int) -> Iterator[list[tuple]]:
    """The regions CSV's rows (12 cells, points as compact JSON), a chunk at a time, which
    are also :class:`~markit_core.export.rows.RegionRow`'s fields. Only for a project
    where :func:`prepared_regions_fit` holds."""
    columns = [
        "roi.id", "annotation.case_id", "label_def.id", "label_def.name", "roi.shape",
        "roi.frame", "replace(CAST(roi.points AS TEXT), ' ', '')", "user_account.username",
        "annotation.id", "annotation.version", "'human'", "NULL",
    ]  # fmt: skip
    return _chunks(session, regions_stmt(project_id, [literal_column(c) for c in columns]))
