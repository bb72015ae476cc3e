"""Pre-labels: when readers see the AI's suggestion, and what that does to their answers.

Per project, suggestions are ``hidden``, shown ``after`` the reader has submitted, or shown
``before`` (optionally with a one-click accept per label). Every stored answer records whether
a suggestion was visible, from which model version and with what score
(``annotation_exposure``, written in the submit's transaction), so :func:`exposure_report`
can compare readings made with and without the suggestion: how often readers take it, how
often they change an answer once they see it, and how well they agree with the AI either way —
the anchoring measure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.agreement.measures import cohen_kappa
from markit_core.annotation.current import current_annotation_ids
from markit_core.config import Settings
from markit_core.db import require_id, rolls_back
from markit_core.errors import ValidationError
from markit_core.models import (
    AiSettings,
    Annotation,
    AnnotationExposure,
    AnnotationValue,
    LabelDef,
    User,
    utcnow,
)

__all__ = [
    "MODES",
    "AiOptions",
    "Exposure",
    "Suggestions",
    "ai_options",
    "exposure_report",
    "label_scores",
    "record_exposure",
    "suggestions_for",
    "update_ai_options",
]

MODES = ("hidden", "after", "before")


@dataclass(frozen=True)
class AiOptions:
    """A project's AI settings (defaults when never set)."""

    prelabel_mode: str = "hidden"
    one_click_accept: bool = False
    annotators_may_use: bool = True
    threshold: float = 0.5
    min_training_cases: int = 20


def ai_options(session: Session, project_id: int) -> AiOptions:
    """The project's AI settings (query helper)."""
    row = session.exec(select(AiSettings).where(AiSettings.project_id == project_id)).first()
    if row is None:
        return AiOptions()
    return AiOptions(
        row.prelabel_mode,
        row.one_click_accept,
        row.annotators_may_use,
        row.threshold,
        row.min_training_cases,
    )


def _validate(options: AiOptions) -> None:
    if options.prelabel_mode not in MODES:
        raise ValidationError(
            f"pre-label mode {options.prelabel_mode!r} is not one of {', '.join(MODES)}"
        )
    if not 0.0 < float(options.threshold) < 1.0:
        raise ValidationError(
            f"threshold must lie strictly between 0 and 1, got {options.threshold}"
        )
    if not 1 <= int(options.min_training_cases) <= 1_000_000:
        raise ValidationError(
            f"minimum labelled cases for training must be at least 1, got "
            f"{options.min_training_cases}"
        )


@rolls_back
def update_ai_options(
    session: Session, actor: User, project_id: int, **changes: object
) -> AiOptions:
    """Change a project's AI settings (owners, managers); unknown names are refused."""
    require(session, actor, project_id, Action.EDIT_SETTINGS)
    unknown = set(changes) - set(AiOptions.__dataclass_fields__)
    if unknown:
        raise ValidationError(f"unknown AI setting(s): {', '.join(sorted(unknown))}")
    options = replace(ai_options(session, project_id), **changes)  # type: ignore[arg-type]
    _validate(options)
    row = session.exec(select(AiSettings).where(AiSettings.project_id == project_id)).first()
    row = row or AiSettings(project_id=project_id)
    for name in AiOptions.__dataclass_fields__:
        setattr(row, name, getattr(options, name))
    row.updated_at, row.updated_by = utcnow(), actor.id
    session.add(row)
    session.flush()
    ledger.append(session, actor=actor, project_id=project_id, action="ai.settings", record=row)
    session.commit()
    return options


# -- suggestions shown to a reader -----------------------------------------------------------


@dataclass(frozen=True)
class Suggestions:
    """The active model's scores for a case, per project label id."""

    model_name: str
    version: str
    scores: dict[int, float]
    threshold: float
    visible: bool  # whether the mode lets the reader see them now
    one_click_accept: bool
    mode: str = "hidden"

    def suggested(self, label_id: int) -> bool:
        return self.scores[label_id] >= self.threshold


def label_scores(
    outputs: Mapping[str, float],
    labels: Mapping[int, str],
    mapping: Mapping[str, str] | None = None,
) -> dict[int, float]:
    """Model outputs keyed by project label id: names matched case-insensitively.

    ``mapping`` maps a model label to a project label name (e.g. ``Effusion`` →
    ``pleural effusion``) where the names differ; a project label fed by several model labels
    takes the highest score.
    """
    by_name = {name.casefold(): lid for lid, name in labels.items()}
    out: dict[int, float] = {}
    for model_label, score in outputs.items():
        target = (mapping or {}).get(model_label, model_label)
        lid = by_name.get(str(target).casefold())
        if lid is not None:  # several model labels feeding one project label: the highest
            out[lid] = max(float(score), out.get(lid, float("-inf")))
    return out


def suggestions_for(
    session: Session,
    actor: User,
    settings: Settings,
    project_id: int,
    case_id: int,
    *,
    answered: bool,
    load=None,  # noqa: ANN001 - a service.Loader; default the registry's
) -> Suggestions | None:
    """The active pathology model's suggestions for a case, or None when hidden / no model.

    ``answered`` says whether the reader has already submitted this case: in ``after`` mode
    suggestions become visible only then.
    """
    from markit_core.inference import service

    options = ai_options(session, project_id)
    if options.prelabel_mode == "hidden":
        return None
    active = service.active_model(session, project_id, "pathologies")
    if active is None:
        return None
    kwargs = {"load": load} if load is not None else {}
    prediction = service.predict_case(
        session, actor, settings, project_id, case_id, active[0], active[1], **kwargs
    )
    labels = {
        require_id(lb): lb.name
        for lb in session.exec(select(LabelDef).where(LabelDef.project_id == project_id))
    }
    scores = label_scores(prediction.outputs, labels, _label_map(prediction.info.name))
    visible = options.prelabel_mode == "before" or answered
    return Suggestions(
        active[0],
        active[1],
        scores,
        options.threshold,
        visible,
        options.one_click_accept and options.prelabel_mode == "before",
        options.prelabel_mode,
    )


def _label_map(model_name: str) -> dict[str, str]:
    """The editable model-label -> project-label table of a model (``models/label_maps/``).

    torchxrayvision models use ``xrv-to-demo.json``; MarkIt's own models need none (their
    labels are the project's). Names not in a table still match case-insensitively.
    """
    from markit_core.inference.label_map import LABEL_MAPS_DIR, read_label_map

    path = LABEL_MAPS_DIR / ("xrv-to-demo.json" if model_name.startswith("xrv-") else "")
    return read_label_map(path) if path.is_file() else {}


# -- exposure recorded with each answer ------------------------------------------------------


@dataclass(frozen=True)
class Exposure:
    """What the reader saw for one label when they submitted."""

    suggestion_visible: bool
    model_name: str = ""
    version: str = ""
    score: float | None = None
    accepted: bool = False
    mode: str = "hidden"


def record_exposure(
    session: Session,
    actor: User,
    project_id: int,
    annotation_id: int,
    exposures: Mapping[int, Exposure],
) -> None:
    """Store the exposure of each answered label, with ledger entries (caller commits)."""
    for label_id, exp in exposures.items():
        if exp.mode not in MODES:
            raise ValidationError(f"label {label_id}: exposure mode {exp.mode!r} is unknown")
        if exp.score is not None and not np.isfinite(exp.score):
            raise ValidationError(f"label {label_id}: suggestion score is not a number")
        row = AnnotationExposure(
            annotation_id=annotation_id,
            label_id=label_id,
            suggestion_visible=exp.suggestion_visible,
            mode=exp.mode,
            model_name=exp.model_name,
            version=exp.version,
            score=exp.score,
            accepted=exp.accepted and exp.suggestion_visible,
        )
        session.add(row)
        session.flush()
        ledger.append(
            session, actor=actor, project_id=project_id, action="annotation.exposure", record=row
        )


# -- the anchoring report --------------------------------------------------------------------


@dataclass(frozen=True)
class ExposureRow:
    """One label's figures for readings with and without the suggestion visible."""

    label: str
    n_with: int
    n_without: int
    acceptance_rate: float  # visible readings that equal the suggestion
    one_click_rate: float  # visible readings taken with the one-click accept
    change_rate: float  # answers changed in a later version once the suggestion was seen
    agree_with: float  # share equal to the AI answer, suggestion visible
    agree_without: float  # same, suggestion not visible
    kappa_with: float
    kappa_without: float


def _rate(num: int, den: int) -> float:
    return num / den if den else float("nan")


def _history(session: Session, project_id: int) -> list[tuple]:
    """(case, annotator, label, version, value, visible, score, accepted, current) per answer."""
    current = set(session.exec(current_annotation_ids(project_id)).all())
    rows = session.execute(  # nine columns: SQLAlchemy's select (SQLModel's types stop at four)
        sa_select(
            col(Annotation.id),
            col(Annotation.case_id),
            col(Annotation.annotator_id),
            col(AnnotationValue.label_id),
            col(Annotation.version),
            col(AnnotationValue.value),
            col(AnnotationExposure.suggestion_visible),
            col(AnnotationExposure.score),
            col(AnnotationExposure.accepted),
        )
        .join(AnnotationValue, col(AnnotationValue.annotation_id) == col(Annotation.id))
        .join(
            AnnotationExposure,
            (col(AnnotationExposure.annotation_id) == col(Annotation.id))
            & (col(AnnotationExposure.label_id) == col(AnnotationValue.label_id)),
            isouter=True,
        )
        .where(col(Annotation.project_id) == project_id, col(AnnotationValue.value).is_not(None))
        .order_by(col(Annotation.case_id), col(Annotation.annotator_id), col(Annotation.version))
    ).all()
    return [(*r[1:6], bool(r[6]), r[7], bool(r[8]), r[0] in current) for r in rows]


def _changes(history: list[tuple], label_id: int) -> tuple[int, int]:
    """(changed, seen): answers first given unseen, then re-submitted with the suggestion."""
    first_unseen: dict[tuple[int, int], bool] = {}
    changed = seen = 0
    for case, annotator, lid, _v, value, visible, _s, _a, _c in history:
        if lid != label_id:
            continue
        key = (case, annotator)
        if not visible:
            first_unseen.setdefault(key, bool(value))
        elif key in first_unseen:
            seen += 1
            changed += int(bool(value) != first_unseen.pop(key))
    return changed, seen


def exposure_report(
    session: Session, actor: User, project_id: int, *, threshold: float | None = None
) -> list[ExposureRow]:
    """Per label: acceptance and change rates, and agreement with the AI with / without it shown.

    The AI answer is the stored score the reader was shown (visible readings) or the active
    model's stored prediction (others), thresholded at the project's threshold.
    """
    require(session, actor, project_id, Action.REVIEW)
    from markit_core.review.answers import load_ai_reference

    cut = ai_options(session, project_id).threshold if threshold is None else threshold
    ai = load_ai_reference(session, project_id) or {}
    history = _history(session, project_id)
    labels = session.exec(
        select(LabelDef).where(LabelDef.project_id == project_id, LabelDef.archived.is_(False))  # type: ignore[attr-defined]
    ).all()
    out = []
    for lb in labels:
        if lb.kind != "binary":
            continue
        rows = [h for h in history if h[2] == lb.id and h[8]]
        groups: dict[bool, tuple[list[int], list[int]]] = {True: ([], []), False: ([], [])}
        accepted = equal_suggestion = 0
        for case, _ann, _lid, _v, value, visible, score, took, _c in rows:
            ref = (score >= cut) if (visible and score is not None) else ai.get((case, lb.name))
            if visible and score is not None:
                equal_suggestion += int(bool(value) == (score >= cut))
                accepted += int(took)
            if ref is not None:
                groups[visible][0].append(int(bool(value)))
                groups[visible][1].append(int(bool(ref)))
        n_with = sum(1 for r in rows if r[5])
        changed, seen = _changes(history, require_id(lb))
        stats = {}
        for vis, (answers, refs) in groups.items():
            a, r = np.asarray(answers, dtype=np.int8), np.asarray(refs, dtype=np.int8)
            stats[vis] = (
                float((a == r).mean()) if a.size else float("nan"),
                cohen_kappa(a, r) if a.size else float("nan"),
            )
        out.append(
            ExposureRow(
                lb.name,
                n_with,
                len(rows) - n_with,
                _rate(equal_suggestion, n_with),
                _rate(accepted, n_with),
                _rate(changed, seen),
                stats[True][0],
                stats[False][0],
                stats[True][1],
                stats[False][1],
            )
        )
    return out
