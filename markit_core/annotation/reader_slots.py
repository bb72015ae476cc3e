"""The reader cap: how many annotators may read a case, counted in the database.

A project's ``required_annotators`` caps the readers per case (0: no cap). The
count lives in one ``CaseReaders`` row per case, updated with a conditional
``UPDATE`` inside the submit's transaction, so concurrent submits from any number
of processes never give a case more readers than the cap; a deletion frees the place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col

from markit_core.errors import PermissionDenied
from markit_core.models import CaseReaders

__all__ = ["release_reader_slot", "take_reader_slot"]


def take_reader_slot(session: Session, case_id: int, cap: int) -> None:
    """Count a new reader of the case, refusing when it already has ``cap`` (0: no cap).

    The case's counter row is made if missing (``INSERT ... ON CONFLICT DO
    NOTHING``), then one conditional ``UPDATE ... SET readers = readers + 1 WHERE
    readers < cap``: the database serialises concurrent submits on that row
    (PostgreSQL's row lock re-checks the condition, SQLite's write lock admits one
    writer), so however many processes submit at once, no case gets more than
    ``cap`` readers. These are the transaction's first writes, so nothing else is
    written when it is refused.
    """
    session.execute(_counter_row(session.get_bind().dialect.name, case_id))
    stmt = (
        update(CaseReaders)
        .where(col(CaseReaders.case_id) == case_id)
        .values(readers=col(CaseReaders.readers) + 1)
    )
    if cap > 0:
        stmt = stmt.where(col(CaseReaders.readers) < cap)
    done: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        stmt.execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise PermissionDenied(
            f"case {case_id} already has the {cap} readers it needs; it is no longer in your queue"
        )


def _counter_row(dialect: str, case_id: int) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` of a case's counter row (SQLite, PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(CaseReaders).values(case_id=case_id).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(CaseReaders).values(case_id=case_id).on_conflict_do_nothing()


def release_reader_slot(session: Session, case_id: int) -> None:
    """A reading was deleted: its reader no longer counts towards the cap."""
    stmt = (
        update(CaseReaders)
        .where(col(CaseReaders.case_id) == case_id, col(CaseReaders.readers) > 0)
        .values(readers=col(CaseReaders.readers) - 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(stmt)
