"""The readings and regions CSV files of an export (columns documented in docs/export.md).

On PostgreSQL the readings CSV is formatted by the server and streamed with COPY
(:mod:`markit_core.export.copy_csv`); otherwise both are written row by row from the
streaming queries of
:mod:`markit_core.export.rows` through the formula-neutralising
:func:`~markit_core.export.spreadsheet.csv_writer`, UTF-8, ``\\n`` line ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlmodel import Session

from markit_core.export.copy_csv import copy_readings_csv, copy_supported
from markit_core.export.rows import (
    RegionRow,
    count_readings,
    count_regions,
    iter_readings,
    iter_regions,
)
from markit_core.export.spreadsheet import csv_writer
from markit_core.export.sqlite_cells import prepared_cells_fit, prepared_reading_chunks

__all__ = [
    "READING_COLUMNS",
    "REGION_COLUMNS",
    "Progress",
    "RegionsCsv",
    "Written",
    "write_readings_csv",
    "write_regions_csv",
    "bool_cell",
    "num_cell",
    "points_cell",
]

Progress = Callable[[int, int, str], None]

READING_COLUMNS = (
    "case_id",
    "case_name",
    "label_id",
    "label",
    "reader",
    "annotation_id",
    "version",
    "answer",
    "confidence",
    "label_seconds",
    "case_seconds",
    "active_seconds",
    "idle_seconds",
    "submitted_at",
    "source",
    "ai_suggestion_visible",
)
REGION_COLUMNS = (
    "region_id",
    "case_id",
    "label_id",
    "label",
    "shape",
    "frame",
    "points",
    "reader",
    "annotation_id",
    "version",
    "source",
    "score",
)
_READING_CELLS = len(READING_COLUMNS)
# cells that can hold text someone typed (case, label and reader names); the others are
# numbers, ISO times or MarkIt's own words, never a formula
_READING_TEXT = tuple(READING_COLUMNS.index(c) for c in ("case_name", "label", "reader"))
_REGION_TEXT = tuple(REGION_COLUMNS.index(c) for c in ("label", "shape", "reader"))
_EVERY = 2000  # rows between progress calls


@dataclass
class Written:
    """What one exported file holds: its row count and the records it came from."""

    path: Path
    rows: int = 0
    annotation_ids: set[int] = field(default_factory=set)
    ai_label_ids: set[int] = field(default_factory=set)  # the model's own answers


_BOOL = {True: "true", False: "false", None: ""}
_POINTS = json.JSONEncoder(separators=(",", ":")).encode


def bool_cell(value: bool | None) -> str:
    return _BOOL[value]


def num_cell(value: float | int | None) -> float | int | str:
    """A number as itself (the csv module writes its ``repr``, which reads back exactly)."""
    return "" if value is None else value


def points_cell(points: list) -> str:
    """Stored points as compact JSON ``[[x,y],...]`` (image pixels, as stored)."""
    return _POINTS(points)


def _noop(done: int, total: int, what: str) -> None:
    return None


def write_readings_csv(
    session: Session,
    project_id: int,
    path: Path,
    progress: Progress = _noop,
    *,
    server_side: bool = True,
) -> Written:
    """One row per current (case, label, reader) answer.

    On PostgreSQL (psycopg 3) the server formats the lines and streams them with COPY
    (:mod:`markit_core.export.copy_csv`), byte for byte what the Python loop below writes;
    on SQLite the database makes the cells and the csv module writes whole chunks
    (:mod:`markit_core.export.sqlite_cells`) where the names allow it.
    ``server_side=False`` takes the Python loop everywhere (the parity tests compare).
    """
    out = Written(path)
    if server_side and copy_supported(session):
        header = ",".join(READING_COLUMNS) + "\n"
        out.rows, out.annotation_ids, out.ai_label_ids = copy_readings_csv(
            session, project_id, path, header, progress
        )
        return out
    total = count_readings(session, project_id)
    if server_side and prepared_cells_fit(session, project_id):
        return _write_prepared_readings(session, project_id, out, total, progress)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv_writer(f, _READING_TEXT)
        writer.writerow(READING_COLUMNS)
        write, seen, seen_ai, rows = writer.writerow, out.annotation_ids.add, out.ai_label_ids, 0
        for r in iter_readings(session, project_id):  # the hot loop of a large export
            cells = list(r[:_READING_CELLS])  # numbers stay numbers; None: an empty cell
            cells[7] = _BOOL[r.value]
            cells[15] = _BOOL[r.ai_suggestion_visible]
            write(cells)
            rows += 1
            if r.annotation_id is not None:
                seen(r.annotation_id)
            if r.ai_label_id is not None:
                seen_ai.add(r.ai_label_id)
            if rows % _EVERY == 0:
                progress(rows, total, "readings")
        out.rows = rows
    progress(out.rows, total, "readings")
    return out


def _write_prepared_readings(
    session: Session, project_id: int, out: Written, total: int, progress: Progress
) -> Written:
    """SQLite's ready cells (:mod:`markit_core.export.sqlite_cells`), a chunk per write."""
    with open(out.path, "w", encoding="utf-8", newline="") as f:
        writer = csv_writer(f, _READING_TEXT)
        writer.writerow(READING_COLUMNS)
        seen = out.annotation_ids
        for rows in prepared_reading_chunks(session, project_id):
            writer.writerows_prepared(rows)
            seen.update([r[5] for r in rows])
            out.rows += len(rows)
            progress(out.rows, total, "readings")
    progress(out.rows, total, "readings")
    return out


class RegionsCsv:
    """The regions CSV, written a row at a time: by :func:`write_regions_csv`, or by the
    COCO writer in the same pass over the regions (one query for both files)."""

    def __init__(self, stream: TextIO, path: Path) -> None:
        self.written = Written(path)
        self._writer = csv_writer(stream, _REGION_TEXT)
        self._writer.writerow(REGION_COLUMNS)

    def add(self, r: RegionRow) -> None:
        # the stored JSON, not re-encoded
        self._writer.writerow([*r[:6], r.points_json.replace(" ", ""), *r[7:]])
        self.written.rows += 1
        self.written.annotation_ids.add(r.annotation_id)

    def add_prepared(self, rows: list[tuple]) -> None:
        """Rows of cells ready to write (see ``sqlite_cells.prepared_region_chunks``)."""
        self._writer.writerows_prepared(rows)
        self.written.rows += len(rows)
        self.written.annotation_ids.update([r[8] for r in rows])


def write_regions_csv(
    session: Session, project_id: int, path: Path, progress: Progress = _noop
) -> Written:
    """One row per region of a current reading, points in image pixels as JSON."""
    total = count_regions(session, project_id)
    with open(path, "w", encoding="utf-8", newline="") as f:
        table = RegionsCsv(f, path)
        for r in iter_regions(session, project_id):
            table.add(r)
            if table.written.rows % _EVERY == 0:
                progress(table.written.rows, total, "regions")
    progress(table.written.rows, total, "regions")
    return table.written
