"""The annotator's work queue: which cases are theirs, and what comes next.

A case is open to an annotator when it is assigned to them, or, if the
project assigns nothing to them, when it is in the project at all. When the
project sets a number of readers per case (0, the default, means every
annotator reads every case), a case that already has that many readings is no
longer offered to annotators who have not read it (their own cases stay
revisitable).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, can, require
from markit_core.accounts import get_user
from markit_core.annotation.current import current_readings
from markit_core.db import require_id, rolls_back
from markit_core.errors import ValidationError
from markit_core.models import Annotation, Assignment, Case, CasePriority, User


@dataclass(frozen=True)
class Queue:
    """An annotator's cases in order, and which of them they have done."""

    case_ids: tuple[int, ...]
    done: frozenset[int]

    @property
    def total(self) -> int:
        return len(self.case_ids)

    @property
    def done_count(self) -> int:
        return len(self.done)

    def next_after(self, case_id: int | None) -> int | None:
        """The next case not yet done, after ``case_id`` (wrapping), or None when all are done."""
        ids = self.case_ids
        start = ids.index(case_id) + 1 if case_id in ids else 0
        for cid in ids[start:] + ids[:start]:
            if cid not in self.done:
                return cid
        return None

    def previous(self, case_id: int | None) -> int | None:
        """The case before ``case_id`` in the queue (done or not), or None at the start."""
        ids = self.case_ids
        if case_id not in ids:
            return ids[-1] if ids else None
        i = ids.index(case_id)
        return ids[i - 1] if i > 0 else None


def _cases_done(session: Session, project_id: int, user_id: int | None) -> set[int]:
    """Cases on which ``user_id`` holds a current reading."""
    rows = session.exec(
        select(Annotation.case_id).where(
            current_readings(project_id), col(Annotation.annotator_id) == user_id
        )
    ).all()
    return set(rows)


def _readers_per_case(session: Session, project_id: int) -> dict[int, int]:
    """How many annotators hold a current reading of each read case (counted in SQL)."""
    rows = session.exec(
        select(Annotation.case_id, func.count())
        .where(current_readings(project_id))
        .group_by(col(Annotation.case_id))
    ).all()
    return {case_id: int(n) for case_id, n in rows}


def _project_case_ids(session: Session, project_id: int) -> list[int]:
    """The project's case ids in id order; PostgreSQL sends them as one array (one row, not
    one row per case: 10^5 cases in a fraction of the time)."""
    if session.get_bind().dialect.name == "postgresql":
        ordered = aggregate_order_by(col(Case.id), col(Case.id))
        ids = session.exec(
            select(func.array_agg(ordered)).where(Case.project_id == project_id)
        ).one()
        return [cid for cid in ids or () if cid is not None]  # primary keys: never None
    rows = session.exec(
        select(Case.id).where(Case.project_id == project_id).order_by(col(Case.id))
    ).all()
    return [cid for cid in rows if cid is not None]  # a primary key: never None


def _by_priority(session: Session, project_id: int, case_ids: list[int]) -> list[int]:
    """Most uncertain first where active learning scored the cases (issue 10), else by id."""
    score = dict(
        session.exec(
            select(CasePriority.case_id, CasePriority.uncertainty).where(
                CasePriority.project_id == project_id
            )
        ).all()
    )
    if not score:
        return case_ids
    return sorted(case_ids, key=lambda c: (c not in score, -score.get(c, 0.0), c))


#: Ordered case ids of recent projects: {(database, project): (fingerprint, ids)}.
_ORDERED: OrderedDict[tuple[str, int], tuple[tuple[Any, ...], tuple[int, ...]]] = OrderedDict()
_ORDERED_PROJECTS = 8


def _order_fingerprint(session: Session, project_id: int) -> tuple[Any, ...]:
    """What the project-wide queue order depends on: its cases and their priorities.

    Cases are only ever added, with growing ids (newest id: one probe of the
    (project, id) index); priorities are rewritten in place with a new time (count
    and newest time). Instead of listing 10^5 cases on every page run.
    """
    newest_case = session.exec(select(func.max(Case.id)).where(Case.project_id == project_id)).one()
    scores = session.exec(
        select(func.count(), func.max(CasePriority.at)).where(CasePriority.project_id == project_id)
    ).one()
    return (newest_case, *scores)


def project_queue_order(session: Session, project_id: int) -> tuple[int, ...]:
    """Every case of the project in queue order (priority, then id), memoised per process
    for as long as :func:`_order_fingerprint` does not change."""
    key = (str(session.get_bind().engine.url), project_id)
    fingerprint = _order_fingerprint(session, project_id)
    memo = _ORDERED.get(key)
    if memo is not None and memo[0] == fingerprint:
        _ORDERED.move_to_end(key)
        return memo[1]
    ordered = tuple(_by_priority(session, project_id, _project_case_ids(session, project_id)))
    _ORDERED[key] = (fingerprint, ordered)
    while len(_ORDERED) > _ORDERED_PROJECTS:
        _ORDERED.popitem(last=False)
    return ordered


def build_queue(session: Session, actor: User, project_id: int) -> Queue:
    """The queue of ``actor`` in the project (requires the annotate permission)."""
    project = require(session, actor, project_id, Action.ANNOTATE)
    assigned = session.exec(
        select(Assignment.case_id).where(
            Assignment.project_id == project_id, Assignment.user_id == actor.id
        )
    ).all()
    candidates: tuple[int, ...] = (
        tuple(_by_priority(session, project_id, sorted(set(assigned))))
        if assigned
        else project_queue_order(session, project_id)
    )
    mine = _cases_done(session, project_id, actor.id)
    done = mine if not assigned else mine.intersection(candidates)  # project cases: all in it
    needed = project.required_annotators  # 0: no cap, every annotator reads every case
    if not needed:
        open_ids = candidates
    else:
        readers = _readers_per_case(session, project_id)
        open_ids = tuple(cid for cid in candidates if cid in done or readers.get(cid, 0) < needed)
    return Queue(open_ids, frozenset(done))


def case_in_project(session: Session, project_id: int, case_id: int) -> Case:
    """The case if it belongs to the project; a clear error otherwise."""
    case = session.get(Case, case_id)
    if case is None or case.project_id != project_id:
        raise ValidationError(f"case {case_id} is not in this project")
    return case


@rolls_back
def assign_cases(
    session: Session, actor: User, project_id: int, username: str, case_ids: Iterable[int]
) -> int:
    """Assign cases to an annotator (owners and managers); returns how many were new."""
    require(session, actor, project_id, Action.EDIT_SETTINGS)
    target = get_user(session, username)
    if not can(session, target, project_id, Action.ANNOTATE):
        raise ValidationError(
            f"{username!r} is not an annotator of this project; grant the annotator role first"
        )
    wanted = sorted(set(case_ids))
    for cid in wanted:
        case_in_project(session, project_id, cid)
    have = set(
        session.exec(
            select(Assignment.case_id).where(
                Assignment.project_id == project_id, Assignment.user_id == target.id
            )
        ).all()
    )
    new = 0
    for cid in wanted:
        if cid in have:
            continue
        row = Assignment(project_id=project_id, case_id=cid, user_id=require_id(target))
        session.add(row)
        session.flush()
        ledger.append(session, actor=actor, project_id=project_id, action="case.assign", record=row)
        new += 1
    session.commit()
    return new


def parse_case_ids(text: str) -> list[int]:
    """Case ids from text such as ``"1-20, 25 31"`` (ranges inclusive), for assignment forms."""
    ids: list[int] = []
    for part in text.replace(",", " ").split():
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValidationError(f"{part!r} is not a case id or a range like 3-9") from None
        if first > last or last - first > 100_000:
            raise ValidationError(f"range {part!r} is empty or too large")
        ids.extend(range(first, last + 1))
    if not ids:
        raise ValidationError("no case ids given")
    return ids
