"""Submitting, editing and deleting readings, with their regions and timings.

A reading is stored as an ``Annotation`` version with one ``AnnotationValue``
per binary label and any number of ``Roi`` regions, in image pixel
coordinates. Edits and deletes add versions; nothing is overwritten. Each
submit carries a client-made token, so a double submit (a double click, a
resubmit after a timed-out session) returns the first result instead of
writing twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, can, reads_blind, require
from markit_core.annotation.queue import build_queue, case_in_project
from markit_core.annotation.reader_slots import release_reader_slot, take_reader_slot
from markit_core.annotation.timing import Timing, check_timing
from markit_core.db import require_id, rolls_back
from markit_core.errors import ConflictError, PermissionDenied, ValidationError
from markit_core.labels import active_labels
from markit_core.models import (
    Annotation,
    AnnotationValue,
    Case,
    LabelDef,
    LabelKind,
    Roi,
    User,
)

if TYPE_CHECKING:
    from markit_core.inference.prelabels import Exposure

CONFIDENCE_GRADES = (0, 20, 40, 60, 80, 100)
ROI_SHAPES = ("rect", "path", "polygon")
_MIN_POINTS = {"rect": 2, "path": 2, "polygon": 3}


@dataclass(frozen=True)
class Answer:
    """A binary label's answer: present or absent, with a confidence grade in percent."""

    value: bool
    confidence: int = 100


@dataclass(frozen=True)
class RegionInput:
    """A region to store: ``points`` are (x, y) in image pixels."""

    label_id: int
    shape: str
    points: Sequence[tuple[float, float]]
    frame: int = 0


@dataclass(frozen=True)
class SubmitResult:
    annotation_id: int
    version: int
    duplicate: bool = False


@dataclass(frozen=True)
class Reading:
    """An annotator's current reading of a case, as the annotate page shows it."""

    annotator: str
    version: int
    answers: dict[int, Answer] = field(default_factory=dict)
    regions: tuple[RegionInput, ...] = ()
    active_seconds: float = 0.0


def _labels(session: Session, project_id: int) -> dict[int, LabelDef]:
    return {require_id(lb): lb for lb in active_labels(session, project_id)}


def _check_answers(answers: Mapping[int, Answer], labels: dict[int, LabelDef]) -> None:
    for label_id, answer in answers.items():
        label = labels.get(label_id)
        if label is None:
            raise ValidationError(f"label {label_id} is not a label of this project")
        if label.kind != LabelKind.BINARY.value:
            raise ValidationError(
                f"label {label.name!r} takes regions, not a present/absent answer"
            )
        if not isinstance(answer.value, bool):
            raise ValidationError(f"label {label.name!r}: answer must be present or absent")
        if isinstance(answer.confidence, bool) or answer.confidence not in CONFIDENCE_GRADES:
            raise ValidationError(
                f"label {label.name!r}: confidence {answer.confidence!r} is not one "
                f"of {', '.join(map(str, CONFIDENCE_GRADES))} %"
            )


def _check_region(
    n: int, region: RegionInput, labels: dict[int, LabelDef], case: Case
) -> list[list[float]]:
    where = f"region {n}"
    if region.label_id not in labels:
        raise ValidationError(f"{where}: label {region.label_id} is not a label of this project")
    if region.shape not in ROI_SHAPES:
        raise ValidationError(
            f"{where}: shape {region.shape!r} is not one of {', '.join(ROI_SHAPES)}"
        )
    if not 0 <= region.frame < max(case.n_frames, 1):
        raise ValidationError(f"{where}: frame {region.frame} is outside 0..{case.n_frames - 1}")
    points = [list(map(float, p)) for p in region.points]
    if len(points) < _MIN_POINTS[region.shape]:
        raise ValidationError(
            f"{where}: a {region.shape} needs at least {_MIN_POINTS[region.shape]} "
            f"points, got {len(points)}"
        )
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValidationError(f"{where}: point ({x}, {y}) is not a number")
        if not (0 <= x <= case.cols and 0 <= y <= case.rows):
            raise ValidationError(
                f"{where}: point ({x:.1f}, {y:.1f}) lies outside the {case.cols}x{case.rows} image"
            )
    return points


def _add_values_and_regions(
    session: Session,
    annotation_id: int,
    answers: Mapping[int, Answer],
    timing: Timing,
    regions: Sequence[RegionInput],
    points: Sequence[list[list[float]]],
) -> None:
    """The child rows of a new annotation version (checked already)."""
    for label_id, answer in answers.items():
        session.add(
            AnnotationValue(
                annotation_id=annotation_id,
                label_id=label_id,
                value=answer.value,
                confidence=answer.confidence,
                seconds=timing.label_seconds.get(label_id),
            )
        )
    for region, pts in zip(regions, points, strict=True):
        session.add(
            Roi(
                annotation_id=annotation_id,
                label_id=region.label_id,
                shape=region.shape,
                frame=region.frame,
                points=pts,
            )
        )


@rolls_back
def submit(
    session: Session,
    actor: User,
    project_id: int,
    case_id: int,
    *,
    answers: Mapping[int, Answer],
    regions: Sequence[RegionInput] = (),
    timing: Timing | None = None,
    token: str,
    exposure: Mapping[int, Exposure] | None = None,
) -> SubmitResult:
    """Store a new version of ``actor``'s reading of a case and its ledger entry in one transaction.

    Raises ``ValidationError`` (nothing stored) for a label not in the
    project, a grade outside the six values, a region outside the image or
    with too few points, or a case from another project. ``exposure`` records, per label,
    whether an AI suggestion was visible (``markit_core.inference.prelabels``).
    """
    project = require(session, actor, project_id, Action.ANNOTATE)
    earlier = _earlier(session, actor, case_id, token)
    if earlier is not None:
        return SubmitResult(require_id(earlier), earlier.version, duplicate=True)
    case = case_in_project(session, project_id, case_id)
    if case_id not in build_queue(session, actor, project_id).case_ids:
        raise PermissionDenied(
            f"case {case_id} is not in your queue (assigned to others, or it "
            "already has the readers it needs)"
        )
    labels = _labels(session, project_id)
    _check_answers(answers, labels)
    points = [_check_region(n, r, labels, case) for n, r in enumerate(regions, start=1)]
    if not answers and not regions:
        raise ValidationError("nothing to submit: answer at least one label or draw a region")
    timing = timing or Timing(0.0, 0.0, 0.0)
    check_timing(timing)
    latest = _latest_own(session, case_id, actor)
    version = (latest.version if latest else 0) + 1
    if latest is None or latest.deleted:  # a new reader of this case
        take_reader_slot(session, case_id, project.required_annotators)
    row = Annotation(
        project_id=project_id,
        case_id=case_id,
        annotator_id=require_id(actor),
        version=version,
        submit_token=token,
        total_seconds=timing.total_seconds,
        active_seconds=timing.active_seconds,
        idle_seconds=timing.idle_seconds,
    )
    try:
        session.add(row)
        session.flush()
        _add_values_and_regions(session, require_id(row), answers, timing, regions, points)
        session.flush()
        ledger.append(
            session,
            actor=actor,
            project_id=project_id,
            action="annotation.submit" if version == 1 else "annotation.edit",
            record=row,
        )
        if exposure:
            from markit_core.inference.prelabels import record_exposure

            record_exposure(
                session,
                actor,
                project_id,
                require_id(row),
                {k: exposure[k] for k in answers if k in exposure},
            )
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise ConflictError(
            "this reading was saved from another window at the same moment; "
            "reload the case and submit again"
        ) from e
    return SubmitResult(require_id(row), version)


def _earlier(session: Session, actor: User, case_id: int, token: str) -> Annotation | None:
    """The version an earlier call with this token stored (a double submit), if any."""
    if not token or len(token) > 64:
        raise ValidationError("submit token missing or longer than 64 characters")
    earlier = session.exec(select(Annotation).where(Annotation.submit_token == token)).first()
    if earlier is not None and (earlier.annotator_id, earlier.case_id) != (actor.id, case_id):
        raise ConflictError("submit token already used for another reading")
    return earlier


def _latest_own(session: Session, case_id: int, actor: User) -> Annotation | None:
    """``actor``'s latest version of the case (a deletion tombstone included), or None."""
    return session.exec(
        select(Annotation)
        .where(Annotation.case_id == case_id, Annotation.annotator_id == actor.id)
        .order_by(col(Annotation.version).desc())
    ).first()


@rolls_back
def delete_reading(
    session: Session, actor: User, project_id: int, case_id: int, *, token: str
) -> int:
    """Delete ``actor``'s reading of a case by adding a tombstone version; returns it."""
    require(session, actor, project_id, Action.ANNOTATE)
    earlier = _earlier(session, actor, case_id, token)
    if earlier is not None:
        if not earlier.deleted:
            raise ConflictError("submit token already used for a reading, not a deletion")
        return earlier.version
    case_in_project(session, project_id, case_id)
    current = my_reading(session, actor, project_id, case_id)
    if current is None:
        raise ValidationError(f"you have no reading of case {case_id} to delete")
    row = Annotation(
        project_id=project_id,
        case_id=case_id,
        annotator_id=require_id(actor),
        version=current.version + 1,
        deleted=True,
        submit_token=token,
    )
    release_reader_slot(session, case_id)
    session.add(row)
    session.flush()
    ledger.append(
        session, actor=actor, project_id=project_id, action="annotation.delete", record=row
    )
    session.commit()
    return row.version


def _reading(session: Session, row: Annotation, username: str) -> Reading:
    values = session.exec(
        select(AnnotationValue).where(AnnotationValue.annotation_id == row.id)
    ).all()
    rois = session.exec(select(Roi).where(Roi.annotation_id == row.id).order_by(col(Roi.id))).all()
    return Reading(
        annotator=username,
        version=row.version,
        answers={
            v.label_id: Answer(bool(v.value), v.confidence if v.confidence is not None else 100)
            for v in values
            if v.value is not None
        },
        regions=tuple(
            RegionInput(r.label_id, r.shape, [tuple(p) for p in r.points], r.frame) for r in rois
        ),
        active_seconds=row.active_seconds,
    )


def _latest_rows(session: Session, case_id: int) -> list[tuple[Annotation, str]]:
    rows = session.exec(
        select(Annotation, User.username)
        .join(User, col(User.id) == Annotation.annotator_id)
        .where(Annotation.case_id == case_id)
        .order_by(col(Annotation.annotator_id), col(Annotation.version).desc())
    ).all()
    latest: dict[int, tuple[Annotation, str]] = {}
    for row, username in rows:
        latest.setdefault(row.annotator_id, (row, username))
    return [v for v in latest.values() if not v[0].deleted]


def my_reading(session: Session, actor: User, project_id: int, case_id: int) -> Reading | None:
    """``actor``'s current reading of the case, or None."""
    require(session, actor, project_id, Action.ANNOTATE)
    case_in_project(session, project_id, case_id)
    for row, username in _latest_rows(session, case_id):
        if row.annotator_id == actor.id:
            return _reading(session, row, username)
    return None


def others_readings(session: Session, actor: User, project_id: int, case_id: int) -> list[Reading]:
    """Other annotators' current readings.

    Anyone holding the annotator role in the project (whatever else they
    hold) reads independently: they see the others only after submitting
    their own reading, and only when the project allows it. Reviewers, owners
    and managers who do not annotate see them always.
    """
    project = require(session, actor, project_id, Action.VIEW)
    case_in_project(session, project_id, case_id)
    rows = _latest_rows(session, case_id)
    reads_independently = reads_blind(session, actor, project_id) or not can(
        session, actor, project_id, Action.REVIEW
    )
    if reads_independently:
        if not project.show_others_after_submit:
            return []
        if not any(r.annotator_id == actor.id for r, _ in rows):
            return []
    return [_reading(session, r, u) for r, u in rows if r.annotator_id != actor.id]


def history(
    session: Session, actor: User, project_id: int, case_id: int
) -> list[tuple[int, bool, str]]:
    """Every version of ``actor``'s reading of the case, oldest first.

    Returns (version, deleted, ISO time) tuples.
    """
    require(session, actor, project_id, Action.ANNOTATE)
    rows = session.exec(
        select(Annotation)
        .where(Annotation.case_id == case_id, Annotation.annotator_id == actor.id)
        .order_by(col(Annotation.version))
    ).all()
    return [(r.version, r.deleted, r.submitted_at.isoformat(timespec="seconds")) for r in rows]
