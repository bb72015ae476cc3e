"""Reading and writing the stored answer snapshot (``answer_snapshot``, one row per project).

The arrays are stored as raw bytes (zlib level 1, fast both ways) beside the
ledger stamp they cover. The row is a cache: a row that does not decode is
ignored (and rebuilt by :mod:`markit_core.annotation.snapshot`), and a write that
cannot get the database at once is skipped rather than making a reader wait.
"""

from __future__ import annotations

import io
import logging
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Engine, or_
from sqlalchemy import select as sa_select  # five columns: beyond sqlmodel's typed overloads
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from markit_core.models import AnswerSnapshotRow, utcnow

if TYPE_CHECKING:
    from markit_core.annotation.snapshot import DenseAnswers

__all__ = ["engine_of", "load", "save"]

log = logging.getLogger(__name__)
_T = AnswerSnapshotRow.__table__  # type: ignore[attr-defined]
_SQLITE_WAIT_MS = 200  # a snapshot write never holds a reader up longer than this


def _axes_bytes(snap: DenseAnswers) -> bytes:
    out = io.BytesIO()
    np.savez(out, cases=snap.case_ids, readers=snap.annotator_ids, labels=snap.label_ids)
    return out.getvalue()


def _stored_row(session: Session, project_id: int, *, seconds: bool) -> tuple[Any, ...] | None:
    """(seq, hash, max annotation id, axes, grades[, seconds]) of the project's row."""
    columns = [_T.c.ledger_seq, _T.c.ledger_hash, _T.c.max_annotation_id, _T.c.axes, _T.c.grades]
    stmt = sa_select(*columns, *([_T.c.seconds] if seconds else [])).where(
        _T.c.project_id == project_id
    )
    conn = session.connection()
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name != "postgresql" or dbapi is None:
        row = conn.execute(stmt).first()
        return None if row is None else tuple(row)
    # PostgreSQL sends bytea as hex text unless asked for binary: twice the bytes plus a
    # decode, 0.4 s instead of 0.1 s for the 27 MB of times of 10^7 answers.
    compiled = stmt.compile(dialect=conn.dialect)
    cursor = dbapi.cursor(binary=True)
    try:
        cursor.execute(str(compiled), compiled.construct_params())
        found = cursor.fetchone()
    finally:
        cursor.close()
    return None if found is None else tuple(found)


def load(session: Session, project_id: int, *, seconds: bool) -> DenseAnswers | None:
    """The stored snapshot of the project (times only if ``seconds``), or None."""
    from markit_core.annotation.snapshot import DenseAnswers

    row = _stored_row(session, project_id, seconds=seconds)
    if row is None:
        return None
    seq, entry_hash, top, axes_raw, grades_raw = row[:5]
    try:
        with np.load(io.BytesIO(axes_raw), allow_pickle=False) as axes:
            cases, readers, labels = axes["cases"], axes["readers"], axes["labels"]
        shape = (len(labels), len(readers), len(cases))
        with ThreadPoolExecutor(max_workers=1) as pool:  # zlib releases the GIL
            unpacked = pool.submit(zlib.decompress, grades_raw)
            secs = None
            if seconds:
                secs = np.frombuffer(zlib.decompress(row[5]), dtype=np.float64).reshape(shape)
            grades = np.frombuffer(unpacked.result(), dtype=np.int8).reshape((2, *shape))
    except (ValueError, KeyError, OSError, zlib.error) as e:
        log.warning("answer snapshot of project %s does not decode (%s); rebuilding", project_id, e)
        return None
    return DenseAnswers(
        int(seq), entry_hash, int(top), cases, readers, labels, grades[0], grades[1], secs
    )


def engine_of(session: Session) -> Engine:
    """The engine behind ``session``: snapshots are written on a connection of their own."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def save(engine: Engine, project_id: int, snap: DenseAnswers) -> bool:
    """Store ``snap`` unless a newer one is stored; False when the database was busy.

    Written on a connection of its own, so the caller's session (often a
    read-only page rerun) neither commits nor waits for it.
    """
    assert snap.seconds is not None, "a stored snapshot carries the times"
    values = {
        "project_id": project_id,
        "ledger_seq": snap.seq,
        "ledger_hash": snap.ledger_hash,
        "max_annotation_id": snap.max_annotation_id,
        "answers": snap.answers,
        "built_at": utcnow(),
        "axes": _axes_bytes(snap),
        "grades": zlib.compress(snap.value.tobytes() + snap.confidence.tobytes(), 1),
        "seconds": zlib.compress(np.ascontiguousarray(snap.seconds).tobytes(), 1),
    }
    sqlite = engine.dialect.name == "sqlite"
    stmt = (sqlite_insert if sqlite else pg_insert)(_T).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id"],
        set_={k: stmt.excluded[k] for k in values if k != "project_id"},
        where=or_(
            _T.c.ledger_seq <= stmt.excluded.ledger_seq,
            _T.c.ledger_hash != stmt.excluded.ledger_hash,
        ),
    )
    try:
        with engine.begin() as conn:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {_SQLITE_WAIT_MS}")
            try:
                conn.execute(stmt)
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA busy_timeout = 30000")
    except OperationalError as e:  # busy or gone: the next reader stores it
        log.info("answer snapshot of project %s not stored now: %s", project_id, e)
        return False
    except Exception:  # a cache write must never take a page down (it runs in a thread too)
        log.exception("answer snapshot of project %s not stored", project_id)
        return False
    return True
