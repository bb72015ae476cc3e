"""Every case of an annotator's queue with its status, for a case list and prev/next.

The queue (:mod:`.queue`) says what is open to the annotator and what they have
done; this adds what a reader needs to find their way back to any case: a
saved draft, and (where the project shows other readers' answers after a
submit) whether their reading disagrees with someone else's. Nothing here
depends on the queue being unfinished, so a reader whose queue is done can still
jump to any case and edit it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlmodel import Session, col, select

from markit_core.access import Action, require
from markit_core.annotation.queue import Queue, build_queue
from markit_core.db import require_id
from markit_core.models import AnnotationDraft, Case, User

__all__ = [
    "STATUSES",
    "WINDOW",
    "CaseEntry",
    "CaseWindow",
    "case_list",
    "case_window",
    "neighbours",
    "queue_neighbours",
    "upcoming",
]

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
    """Cases where ``user_id``'s current answer to some label differs from another reader's.

    Read from the answer snapshot (:mod:`.snapshot`): one comparison over the dense
    arrays instead of every answer of the project through Python.
    """
    from markit_core.annotation.snapshot import MISSING, dense_answers

    snap = dense_answers(session, project_id)
    at = np.flatnonzero(snap.annotator_ids == user_id)
    if not len(at):
        return set()
    mine = snap.value[:, at[0], :]  # (labels, cases)
    others = np.delete(snap.value, at[0], axis=1)  # (labels, other readers, cases)
    differs = (others != MISSING) & (mine[:, None, :] != MISSING) & (others != mine[:, None, :])
    return {int(c) for c in snap.case_ids[differs.any(axis=(0, 1))]}


@dataclass(frozen=True)
class _Statuses:
    """What decides each case's status: the queue, the saved drafts and the disagreements."""

    queue: Queue
    drafts: frozenset[int]
    disagree: frozenset[int]

    def of(self, case_id: int) -> str:
        if case_id in self.queue.done:
            return "disagreement" if case_id in self.disagree else "submitted"
        return "draft" if case_id in self.drafts else "unread"

    def counts(self) -> dict[str, int]:
        """Cases per status over the whole queue, from set sizes (no pass over the cases)."""
        done = self.queue.done
        pending = self.drafts - done
        drafts = len(pending & set(self.queue.case_ids)) if pending else 0
        disagree = len(self.disagree & done)
        open_ids = self.queue.case_ids
        return {
            "unread": len(open_ids) - len(done) - drafts,
            "draft": drafts,
            "submitted": len(done) - disagree,
            "disagreement": disagree,
        }


def _statuses(session: Session, actor: User, project_id: int) -> _Statuses:
    project = require(session, actor, project_id, Action.ANNOTATE)
    queue = build_queue(session, actor, project_id)
    drafts = frozenset(
        session.exec(
            select(AnnotationDraft.case_id).where(
                AnnotationDraft.project_id == project_id, AnnotationDraft.annotator_id == actor.id
            )
        ).all()
    )
    disagree = (
        _disagreeing_cases(session, project_id, require_id(actor))
        if project.show_others_after_submit and queue.done
        else set()
    )
    return _Statuses(queue, drafts, frozenset(disagree))


def _entries(session: Session, st: _Statuses, positions: Sequence[int]) -> list[CaseEntry]:
    """Entries for the cases at these 0-based queue positions, names read for them only."""
    from markit_core.review.answers import case_display_name  # here: review imports annotation

    ids = [st.queue.case_ids[p] for p in positions]
    names: dict[int, str] = {}
    for n in range(0, len(ids), 5000):
        found = session.exec(
            select(Case.id, Case.original_name).where(col(Case.id).in_(ids[n : n + 5000]))
        )
        names.update((int(cid or 0), name) for cid, name in found)
    return [
        CaseEntry(
            cid,
            p + 1,
            case_display_name(cid, names.get(cid)),
            st.of(cid),
            cid in st.drafts,
        )
        for p, cid in zip(positions, ids, strict=True)
    ]


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
        One entry per case open to ``actor`` (see :func:`.queue.build_queue`); for
        a page, :func:`case_window` lists only the cases around one.
    """
    st = _statuses(session, actor, project_id)
    return _entries(session, st, range(len(st.queue.case_ids)))


#: Entries a case window lists at most.
WINDOW = 200


@dataclass(frozen=True)
class CaseWindow:
    """Part of the annotator's case list: the entries around one case, and the whole
    list's size and counts per status (what a page shows without listing 10^5 cases)."""

    entries: list[CaseEntry]
    total: int
    matching: int
    counts: dict[str, int]


def case_window(
    session: Session,
    actor: User,
    project_id: int,
    *,
    around: int | None = None,
    statuses: Iterable[str] | None = None,
    size: int | None = None,
) -> CaseWindow:
    """At most ``size`` (default :data:`WINDOW`) entries of the case list with a status in
    ``statuses`` (default all), centred on ``around`` (annotate permission).

    ``matching`` counts the whole list's cases with those statuses; ``counts`` every
    status. Names are read for the listed cases only.
    """
    size = WINDOW if size is None else size
    st = _statuses(session, actor, project_id)
    ids = st.queue.case_ids
    wanted = set(STATUSES if statuses is None else statuses)
    if wanted >= set(STATUSES):
        matching: Sequence[int] = range(len(ids))
    else:
        matching = [p for p, cid in enumerate(ids) if st.of(cid) in wanted or cid == around]
    centre = 0
    if around is not None and around in ids:
        at = ids.index(around)
        centre = at if isinstance(matching, range) else bisect.bisect_left(matching, at)
    start = max(0, min(centre - size // 2, len(matching) - size))
    shown = matching[start : start + max(0, size)]
    return CaseWindow(_entries(session, st, list(shown)), len(ids), len(matching), st.counts())


def neighbours(entries: Iterable[CaseEntry], case_id: int) -> tuple[int | None, int | None]:
    """(previous, next) case ids around ``case_id`` in the whole list (None at the ends)."""
    return queue_neighbours(tuple(e.case_id for e in entries), case_id)


def queue_neighbours(ids: Sequence[int], case_id: int) -> tuple[int | None, int | None]:
    """(previous, next) case ids around ``case_id`` in queue order (None at the ends)."""
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
