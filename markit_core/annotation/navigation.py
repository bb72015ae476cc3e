"""Every case of an annotator's queue with its status, for a case list and prev/next.

The queue (:mod:`.queue`) says what is open to the annotator and what they have
done; this adds what a reader needs to find their way back to any case: a
saved draft, and (where the project shows other readers' answers after a
submit) whether their reading disagrees with someone else's. Nothing here
depends on the queue being unfinished, so a reader whose queue is done can still
jump to any case and edit it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from markit_core.access import Action, require
from markit_core.annotation.current import current_annotation_ids
from markit_core.annotation.queue import Queue, build_queue
from markit_core.db import require_id
from markit_core.models import Annotation, AnnotationDraft, AnnotationValue, Case, User

__all__ = ["STATUSES", "CaseEntry", "case_list", "neighbours", "upcoming"]

#: In the order a filter offers them.
STATUSES: tuple[str, ...] = ("unread", "draft", "submitted", "disagreement")


@dataclass(frozen=True)
class CaseEntry:
    """One case of the annotator's list.

    Attributes
    ----------
    case_id : int
        The case.
    position : int
        1-based place in the queue order.
    name : str
        Neutral display name (``#id`` and the de-identified name).
    status : str
        ``unread`` (no reading, no draft), ``draft`` (a saved draft, nothing submitted),
        ``submitted`` or ``disagreement`` (submitted, and another reader's current
        answer differs on some label; only where the project shows others' readings
        after a submit).
    has_draft : bool
        A draft is saved (also for a submitted case being edited).
    """

    case_id: int
    position: int
    name: str
    status: str
    has_draft: bool


def _disagreeing_cases(session: Session, project_id: int, user_id: int) -> set[int]:
    ids = current_annotation_ids(project_id).subquery()
    rows = session.exec(
        select(
            Annotation.case_id,
            Annotation.annotator_id,
            AnnotationValue.label_id,
            AnnotationValue.value,
        )
        .join(AnnotationValue, col(AnnotationValue.annotation_id) == col(Annotation.id))
        .where(col(Annotation.id).in_(select(ids.c.id)))
        .where(col(AnnotationValue.value).is_not(None))
    ).all()
    mine: dict[tuple[int, int], bool] = {}
    theirs: dict[tuple[int, int], set[bool]] = {}
    for case_id, annotator_id, label_id, value in rows:
        if annotator_id == user_id:
            mine[(case_id, label_id)] = bool(value)
        else:
            theirs.setdefault((case_id, label_id), set()).add(bool(value))
    return {key[0] for key, value in mine.items() if theirs.get(key, {value}) - {value}}


def case_list(session: Session, actor: User, project_id: int) -> list[CaseEntry]:
    """The annotator's cases in queue order with their status (annotate permission).

    Parameters
    ----------
    session : Session
        Database session.
    actor : User
        The annotator.
    project_id : int
        The project.

    Returns
    -------
    list[CaseEntry]
        One entry per case open to ``actor`` (see :func:`.queue.build_queue`).
    """
    from markit_core.review.answers import case_display_name  # here: review imports annotation

    project = require(session, actor, project_id, Action.ANNOTATE)
    queue = build_queue(session, actor, project_id)
    if not queue.case_ids:
        return []
    drafts = set(
        session.exec(
            select(AnnotationDraft.case_id).where(
                AnnotationDraft.project_id == project_id, AnnotationDraft.annotator_id == actor.id
            )
        ).all()
    )
    disagree = (
        _disagreeing_cases(session, project_id, require_id(actor))
        if project.show_others_after_submit
        else set()
    )
    names = dict(
        session.exec(select(Case.id, Case.original_name).where(Case.project_id == project_id)).all()
    )
    entries = []
    for position, case_id in enumerate(queue.case_ids, start=1):
        if case_id in queue.done:
            status = "disagreement" if case_id in disagree else "submitted"
        else:
            status = "draft" if case_id in drafts else "unread"
        entries.append(
            CaseEntry(
                case_id,
                position,
                case_display_name(case_id, names[case_id]),
                status,
                case_id in drafts,
            )
        )
    return entries


def neighbours(entries: Iterable[CaseEntry], case_id: int) -> tuple[int | None, int | None]:
    """(previous, next) case ids around ``case_id`` in the whole list (None at the ends)."""
    ids = [e.case_id for e in entries]
    if case_id not in ids:
        return None, (ids[0] if ids else None)
    i = ids.index(case_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def upcoming(queue: Queue, case_id: int, n: int) -> list[int]:
    """The cases a reader will most likely open after ``case_id``, nearest first (at most n).

    The not-yet-done cases after it (wrapping, as Next goes), then the ones after it
    in queue order (once every case is done, Next walks the list); for prefetching.
    """
    ids = queue.case_ids
    start = ids.index(case_id) + 1 if case_id in ids else 0
    ring = [cid for cid in ids[start:] + ids[:start] if cid != case_id]
    ordered = [cid for cid in ring if cid not in queue.done] + list(ids[start:])
    return [cid for cid in dict.fromkeys(ordered) if cid != case_id][: max(0, n)]
