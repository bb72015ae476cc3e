"""Per-project reading options: blinded reading (readers do not see the report).

Kept in a table of their own (``ProjectReadingOptions``) rather than as project
columns, so existing project rows, and the ledger digests of them, are unchanged.
"""

from __future__ import annotations

from sqlmodel import Session, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.db import rolls_back
from markit_core.models import ProjectReadingOptions, User

__all__ = ["set_show_report", "show_report"]


def _row(session: Session, project_id: int) -> ProjectReadingOptions | None:
    return session.exec(
        select(ProjectReadingOptions).where(ProjectReadingOptions.project_id == project_id)
    ).first()


def show_report(session: Session, actor: User, project_id: int) -> bool:
    """Whether readers of the project see the radiology report (anyone in the project may ask).

    Parameters
    ----------
    session : Session
        Database session.
    actor : User
        A member of the project.
    project_id : int
        The project.
    """
    require(session, actor, project_id, Action.VIEW)
    row = _row(session, project_id)
    return True if row is None else bool(row.show_report)


@rolls_back
def set_show_report(session: Session, actor: User, project_id: int, show: bool) -> None:
    """Show or hide the report from readers (owners and managers); one ledger entry.

    Parameters
    ----------
    session : Session
        Database session.
    actor : User
        An owner or manager of the project.
    project_id : int
        The project.
    show : bool
        False for blinded reading.
    """
    require(session, actor, project_id, Action.EDIT_SETTINGS)
    row = _row(session, project_id) or ProjectReadingOptions(project_id=project_id)
    row.show_report = bool(show)
    session.add(row)
    session.flush()
    ledger.append(
        session, actor=actor, project_id=project_id, action="project.reading_options", record=row
    )
    session.commit()
