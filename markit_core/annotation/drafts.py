"""Drafts: an annotator's unsaved work on one case, and its server-side copy.

A *draft* is one attempt at reading one case by one user: the answers with
their confidence grades, the regions being drawn, the submit token, the
reading the attempt started from, when the image was first displayed and
every interaction since. The annotate page keeps the draft it is editing in
session state (fast) and writes it here whenever its content changes, so a
reload, a second tab, a browser crash or a server restart does not lose it.

Drafts are scratch work, not a recorded state change: saving or discarding
one is **not** appended to the ledger. The ledger covers submitted readings
(``annotations.submit``), which is where a draft ends up.

Timing stays honest across a reload: ``shown_at`` is an absolute wall-clock
time and interactions are seconds since it, so the time a page was closed is
one long gap without interaction, which ``timing.compute_timing`` counts as
idle beyond its threshold.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from markit_core.access import Action, require
from markit_core.annotation.queue import case_in_project
from markit_core.annotation.regions import same_regions
from markit_core.annotation.submit import Answer, RegionInput
from markit_core.annotation.timing import Interaction, Timing, compute_timing
from markit_core.db import require_id, rolls_back
from markit_core.errors import ValidationError
from markit_core.labels import active_labels
from markit_core.models import AnnotationDraft, User, utcnow

DEFAULT_GRADE = 100
_FORMAT = 1


def new_token() -> str:
    """A fresh submit token (one per attempt)."""
    return uuid.uuid4().hex


@dataclass
class DraftAnswer:
    """A label's answer being edited: ``value`` stays None until marked present or absent.

    A grade may be set before the value, so this is not yet an ``Answer``.
    """

    value: bool | None = None
    grade: int = DEFAULT_GRADE


def _draft_answer(item: DraftAnswer | list | tuple) -> DraftAnswer:
    """A ``DraftAnswer``, also from the ``[value, grade]`` pair drafts were kept as."""
    if isinstance(item, DraftAnswer):
        return item
    value, grade = item
    return DraftAnswer(None if value is None else bool(value), int(grade))


@dataclass
class Draft:
    """One attempt at one case. ``answers`` maps label id -> its ``DraftAnswer``."""

    user_id: int
    project_id: int
    case_id: int
    token: str = field(default_factory=new_token)
    answers: dict[int, DraftAnswer] = field(default_factory=dict)
    regions: list[RegionInput] = field(default_factory=list)
    base: tuple | None = None  # snapshot of the stored reading this attempt started from
    version: int | None = None  # that reading's version
    shown_at: float | None = None  # time.time() when the image was first displayed
    interactions: list[Interaction] = field(default_factory=list)
    canvas_rev: int = 0
    cursor: int = 0
    submit_pending: bool = False  # a submit was started but not confirmed
    synced: str | None = field(default=None, compare=False)  # content() last written to the server

    def __post_init__(self) -> None:
        self.answers = {int(lid): _draft_answer(a) for lid, a in self.answers.items()}

    # -- answers ------------------------------------------------------------------

    def value(self, label_id: int) -> bool | None:
        return self.answers.get(label_id, DraftAnswer()).value

    def grade(self, label_id: int) -> int:
        return self.answers.get(label_id, DraftAnswer()).grade

    def set_value(self, label_id: int, value: bool | None) -> None:
        self.answers.setdefault(label_id, DraftAnswer()).value = value
        self.touch(label_id)

    def set_grade(self, label_id: int, grade: int) -> None:
        self.answers.setdefault(label_id, DraftAnswer()).grade = int(grade)
        self.touch(label_id)

    def answered(self) -> dict[int, Answer]:
        """The answers to submit: labels marked present or absent, with their grade."""
        return {
            lid: Answer(a.value, a.grade) for lid, a in self.answers.items() if a.value is not None
        }

    def empty(self) -> bool:
        return not self.answered() and not self.regions

    # -- timing -------------------------------------------------------------------

    def displayed(self) -> None:
        """Mark the image as displayed (the first time only, per attempt)."""
        if self.shown_at is None:
            self.shown_at = time.time()

    def touch(self, label_id: int | None = None) -> None:
        """Record an interaction (a label change carries its label id)."""
        if self.shown_at is not None:
            self.interactions.append(Interaction(max(0.0, time.time() - self.shown_at), label_id))

    def timing(self, idle_threshold: float) -> Timing:
        """Timing of this attempt up to now (display -> submit), idle excluded."""
        if self.shown_at is None:
            return Timing(0.0, 0.0, 0.0)
        last = max((e.at for e in self.interactions), default=0.0)
        elapsed = max(time.time() - self.shown_at, last)
        return compute_timing(elapsed, self.interactions, idle_threshold)

    # -- snapshots ----------------------------------------------------------------

    def snapshot(self) -> tuple:
        answers = tuple(sorted((lid, a.value, a.confidence) for lid, a in self.answered().items()))
        return answers, tuple(self.regions)

    def unchanged(self) -> bool:
        """True when this attempt started from a stored reading and nothing differs."""
        if self.base is None:
            return False
        answers, regions = self.snapshot()
        return answers == self.base[0] and same_regions(regions, self.base[1])

    def dirty(self) -> bool:
        return not self.empty() and not self.unchanged()

    def content(self) -> str:
        """A fingerprint of what the annotator entered (answers, grades, regions)."""
        return json.dumps(
            [
                sorted([lid, a.value, a.grade] for lid, a in self.answers.items()),
                [_region_json(r) for r in self.regions],
            ]
        )

    def worth_keeping(self) -> bool:
        """Whether the server should hold this draft: something entered that differs
        from the stored reading (a grade set on an unanswered label counts)."""
        return bool(self.answers or self.regions) and not self.unchanged()

    # -- JSON ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict; :meth:`from_json` gives back an equal draft."""
        base = None
        if self.base is not None:
            base = {
                "answers": [list(a) for a in self.base[0]],
                "regions": [_region_json(r) for r in self.base[1]],
            }
        return {
            "format": _FORMAT,
            "user_id": self.user_id,
            "project_id": self.project_id,
            "case_id": self.case_id,
            "token": self.token,
            # [label id, value or None, grade]: the format drafts have always been stored in
            "answers": [[lid, a.value, a.grade] for lid, a in self.answers.items()],
            "regions": [_region_json(r) for r in self.regions],
            "base": base,
            "version": self.version,
            "shown_at": self.shown_at,
            "interactions": [[e.at, e.label_id] for e in self.interactions],
            "canvas_rev": self.canvas_rev,
            "cursor": self.cursor,
            "submit_pending": self.submit_pending,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Draft:
        """The draft :meth:`to_json` wrote; ``ValidationError`` for anything else."""
        try:
            if data.get("format") != _FORMAT:
                raise ValueError(f"unknown draft format {data.get('format')!r}")
            base = data.get("base")
            return cls(
                user_id=int(data["user_id"]),
                project_id=int(data["project_id"]),
                case_id=int(data["case_id"]),
                token=str(data["token"]),
                answers={int(lid): _draft_answer((v, g)) for lid, v, g in data["answers"]},
                regions=[_region_from(r) for r in data["regions"]],
                base=None
                if base is None
                else (
                    tuple((int(lid), bool(v), int(g)) for lid, v, g in base["answers"]),
                    tuple(_region_from(r) for r in base["regions"]),
                ),
                version=None if data["version"] is None else int(data["version"]),
                shown_at=None if data["shown_at"] is None else _finite(data["shown_at"]),
                interactions=[
                    Interaction(_finite(at), None if lid is None else int(lid))
                    for at, lid in data["interactions"]
                ],
                canvas_rev=int(data["canvas_rev"]),
                cursor=int(data["cursor"]),
                submit_pending=bool(data["submit_pending"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValidationError(f"not a stored draft: {e}") from e


def _region_json(r: RegionInput) -> dict[str, Any]:
    return {
        "label_id": r.label_id,
        "shape": r.shape,
        "frame": r.frame,
        "points": [[float(x), float(y)] for x, y in r.points],
    }


def _finite(value: Any) -> float:
    """A finite float (a stored draft with NaN/inf times or points is not a draft)."""
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{value!r} is not a finite number")
    return x


def _region_from(d: dict[str, Any]) -> RegionInput:
    return RegionInput(
        int(d["label_id"]),
        str(d["shape"]),
        tuple((_finite(x), _finite(y)) for x, y in d["points"]),
        int(d["frame"]),
    )


# -- server-side persistence -------------------------------------------------------------


def _row(session: Session, actor: User, case_id: int) -> AnnotationDraft | None:
    return session.exec(
        select(AnnotationDraft).where(
            AnnotationDraft.case_id == case_id, AnnotationDraft.annotator_id == actor.id
        )
    ).first()


def _check(session: Session, actor: User, project_id: int, case_id: int) -> None:
    require(session, actor, project_id, Action.ANNOTATE)
    case_in_project(session, project_id, case_id)


@rolls_back
def save_draft(session: Session, actor: User, project_id: int, case_id: int, draft: Draft) -> None:
    """Store ``actor``'s draft of a case, replacing the one stored before.

    Parameters
    ----------
    session, actor
        Database session and the annotator (needs ``Action.ANNOTATE``).
    project_id, case_id
        The case, which must be in the project; the draft must be for it and for ``actor``.
    draft
        The draft; not appended to the ledger (scratch work, see the module docstring).
    """
    _check(session, actor, project_id, case_id)
    if (draft.user_id, draft.project_id, draft.case_id) != (actor.id, project_id, case_id):
        raise ValidationError("this draft belongs to another user or case")
    payload = draft.to_json()
    for attempt in range(2):
        row = _row(session, actor, case_id)
        if row is None:
            row = AnnotationDraft(
                project_id=project_id,
                case_id=case_id,
                annotator_id=require_id(actor),
                payload=payload,
            )
        else:
            row.payload, row.project_id, row.updated_at = payload, project_id, utcnow()
        session.add(row)
        try:
            session.commit()
            return
        except IntegrityError:  # another tab inserted the row meanwhile: update it instead
            session.rollback()
            if attempt:
                raise


def load_draft(session: Session, actor: User, project_id: int, case_id: int) -> Draft | None:
    """``actor``'s stored draft of a case, or None; only ever one's own draft."""
    _check(session, actor, project_id, case_id)
    row = _row(session, actor, case_id)
    if row is None or row.project_id != project_id:
        return None
    draft = Draft.from_json(row.payload)
    draft.synced = draft.content()
    # a label deleted since the draft was saved would make the submit fail: drop its parts
    known = {lb.id for lb in active_labels(session, project_id)}
    draft.answers = {lid: a for lid, a in draft.answers.items() if lid in known}
    draft.regions = [r for r in draft.regions if r.label_id in known]
    return draft


@rolls_back
def discard_draft(session: Session, actor: User, project_id: int, case_id: int) -> None:
    """Remove ``actor``'s stored draft of a case (after a submit); no-op when there is none."""
    _check(session, actor, project_id, case_id)
    row = _row(session, actor, case_id)
    if row is not None:
        session.delete(row)
        session.commit()
