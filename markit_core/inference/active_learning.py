"""Active learning: score the unread cases, put the uncertain ones first, accept the sure ones.

The semi-automatic-labelling loop (see ``benchmarks/active_learning.py``): the project's active
pathology model predicts every case nobody has read yet; its confidence ``c`` is the max
class likelihood (the smallest over labels of ``max(p, 1 - p)``), or entropy on request.
Every annotator's queue is then ordered most uncertain first (``case_priority``, read by
:func:`markit_core.annotation.queue.build_queue`). Optionally the cases with ``c >= t`` are
accepted as **AI labels** (``ai_label``, source ``ai``): kept in their own table, flagged in
the UI and in their own export, and never read by agreement, review or rewards, which only
see human readings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.annotation.current import current_annotation_ids
from markit_core.config import Settings
from markit_core.db import require_id, rolls_back
from markit_core.errors import ValidationError
from markit_core.export.spreadsheet import csv_writer
from markit_core.inference import registry
from markit_core.inference.prelabels import _label_map, ai_options, label_scores
from markit_core.inference.service import (
    Loader,
    active_model,
    load_task,
    model_input,
    register_trained_versions,
    require_ai,
    task_for,
)
from markit_core.inference.store import project_predictions, save_prediction
from markit_core.inference.strategy import max_class_likelihood, strategy
from markit_core.models import (
    AiLabel,
    Annotation,
    Case,
    CasePriority,
    ExportRecord,
    LabelDef,
    User,
    utcnow,
)

__all__ = [
    "AiLabelRow",
    "ActiveLearningResult",
    "ai_labels",
    "export_ai_labels_csv",
    "score_unread",
]

METHODS = ("max-class-likelihood", "entropy")
AI_LABEL_COLUMNS = ("case_id", "label", "value", "score", "source", "model", "threshold", "at")


@dataclass(frozen=True)
class ActiveLearningResult:
    """What one active-learning pass did."""

    model_key: str
    method: str
    threshold: float
    scored: int  # unread cases scored
    to_humans: int  # confidence below the threshold: first in every queue
    confident: int  # at or above it
    accepted: int  # AI labels stored (label answers), when accepting

    @property
    def human_share(self) -> float:
        return self.to_humans / self.scored if self.scored else 0.0


def _unread(session: Session, project_id: int) -> list[int]:
    read = set(
        session.exec(
            select(Annotation.case_id).where(
                col(Annotation.id).in_(current_annotation_ids(project_id))
            )
        ).all()
    )
    cases = session.exec(
        select(col(Case.id)).where(Case.project_id == project_id).order_by(col(Case.id))
    )
    return [int(c) for c in cases if c is not None and c not in read]


def _predict_missing(
    session: Session,
    actor: User,
    settings: Settings,
    project_id: int,
    name: str,
    version: str,
    ids: list[int],
    load: Loader,
) -> None:
    have = project_predictions(session, project_id, name, version)
    todo = [c for c in ids if c not in have]
    if not todo:
        return
    task = task_for(load, name, version, settings)
    info = registry.entry(name, version).info
    for start in range(0, len(todo), 32):
        chunk = todo[start : start + 32]
        batch = np.stack([model_input(settings, _stored_case(session, c), info) for c in chunk])
        for case_id, row in zip(chunk, np.asarray(task(batch)), strict=True):
            outputs = {lb: float(v) for lb, v in zip(info.labels, row, strict=True)}
            save_prediction(
                session,
                actor,
                project_id=project_id,
                case_id=case_id,
                model_name=name,
                version=version,
                outputs=outputs,
            )


def _stored_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:  # deleted while the run was going
        raise ValidationError(f"case {case_id} was deleted during the run; run it again")
    return case


def _set_priority(
    session: Session,
    actor: User,
    project_id: int,
    case_id: int,
    uncertainty: float,
    method: str,
    name: str,
    version: str,
) -> None:
    row = session.exec(select(CasePriority).where(CasePriority.case_id == case_id)).first()
    if row is None:
        row = CasePriority(
            project_id=project_id,
            case_id=case_id,
            uncertainty=0.0,
            model_name=name,
            version=version,
        )
    row.uncertainty, row.method, row.model_name, row.version = (
        float(uncertainty),
        method,
        name,
        version,
    )
    row.at = utcnow()
    session.add(row)
    session.flush()
    ledger.append(session, actor=actor, project_id=project_id, action="ai.priority", record=row)


def _accept(
    session: Session,
    actor: User,
    project_id: int,
    case_id: int,
    scores: Mapping[int, float],
    cut: float,
    threshold: float,
    name: str,
    version: str,
) -> int:
    """Store the model's answers of a confident case as AI labels; how many were new."""
    stored = 0
    existing = {
        lid
        for lid in session.exec(select(AiLabel.label_id).where(AiLabel.case_id == case_id)).all()
    }
    for label_id, score in scores.items():
        if label_id in existing:
            continue
        row = AiLabel(
            project_id=project_id,
            case_id=case_id,
            label_id=label_id,
            value=score >= cut,
            score=float(score),
            model_name=name,
            version=version,
            threshold=threshold,
            accepted_by=require_id(actor),
        )
        session.add(row)
        session.flush()
        ledger.append(session, actor=actor, project_id=project_id, action="ai.label", record=row)
        stored += 1
    return stored


@rolls_back
def score_unread(
    session: Session,
    actor: User,
    settings: Settings,
    project_id: int,
    *,
    threshold: float = 0.9,
    method: str = "max-class-likelihood",
    accept: bool = False,
    load: Loader = load_task,
) -> ActiveLearningResult:
    """Score the unread cases with the active pathology model and order every queue by them.

    Parameters
    ----------
    threshold : float
        ``t`` in (0.5, 1): a case whose max class likelihood is below it goes to humans.
    method : str
        Queue order: ``max-class-likelihood`` (1 - c) or ``entropy``.
    accept : bool
        Store the confident cases' answers as AI labels (source AI).
    """
    require(session, actor, project_id, Action.EDIT_SETTINGS)
    require_ai(session, actor, project_id)
    if not 0.5 < float(threshold) < 1.0:
        raise ValidationError(f"threshold must lie between 0.5 and 1 (exclusive), got {threshold}")
    uncertainty_of = strategy(method)
    register_trained_versions(session, project_id, settings)
    active = active_model(session, project_id, "pathologies")
    if active is None:
        raise ValidationError(
            "the project has no active pathology model: choose one on the AI-assist page first"
        )
    name, version = active
    info = registry.entry(name, version).info
    ids = _unread(session, project_id)
    _predict_missing(session, actor, settings, project_id, name, version, ids, load)
    preds = project_predictions(session, project_id, name, version)
    labels = {
        require_id(lb): lb.name
        for lb in session.exec(
            select(LabelDef).where(LabelDef.project_id == project_id, LabelDef.kind == "binary")
        )
    }
    options, mapping = ai_options(session, project_id), _label_map(name)
    to_humans = confident = accepted = 0
    if ids:
        outputs = np.asarray([[preds[c][lb] for lb in info.labels] for c in ids])
        conf = max_class_likelihood(outputs, info.task_type)
        unc = uncertainty_of(outputs, info.task_type)
        for case_id, c, u in zip(ids, conf, unc, strict=True):
            _set_priority(
                session, actor, project_id, case_id, u, uncertainty_of.name, name, version
            )
            if c < threshold:
                to_humans += 1
                continue
            confident += 1
            if accept:
                scores = label_scores(preds[case_id], labels, mapping)
                accepted += _accept(
                    session,
                    actor,
                    project_id,
                    case_id,
                    scores,
                    options.threshold,
                    float(threshold),
                    name,
                    version,
                )
    session.commit()
    return ActiveLearningResult(
        info.key, uncertainty_of.name, float(threshold), len(ids), to_humans, confident, accepted
    )


@dataclass(frozen=True)
class AiLabelRow:
    """An AI label as the UI and exports show it (always flagged source = ai)."""

    case_id: int
    label: str
    value: bool
    score: float
    source: str
    model_key: str
    threshold: float
    at: datetime


def ai_labels(session: Session, actor: User, project_id: int) -> list[AiLabelRow]:
    """The project's AI labels (viewers of the project may see them)."""
    require(session, actor, project_id, Action.VIEW)
    rows = session.exec(
        select(AiLabel, LabelDef.name)
        .join(LabelDef, col(LabelDef.id) == col(AiLabel.label_id))
        .where(AiLabel.project_id == project_id)
        .order_by(col(AiLabel.case_id), col(LabelDef.order), col(LabelDef.name))
    ).all()
    return [
        AiLabelRow(
            r.case_id,
            name,
            r.value,
            r.score,
            r.source,
            f"{r.model_name}@{r.version}",
            r.threshold,
            r.at,
        )
        for r, name in rows
    ]


@rolls_back
def export_ai_labels_csv(session: Session, actor: User, project_id: int) -> str:
    """The AI labels as their own CSV (column ``source`` = ``ai``); recorded and ledgered.

    Kept out of the readings export on purpose: an AI label is not a reading and must not be
    fed into agreement or rewards by accident.
    """
    import hashlib
    import io

    require(session, actor, project_id, Action.EXPORT)
    buf = io.StringIO()
    writer = csv_writer(buf)
    writer.writerow(AI_LABEL_COLUMNS)
    rows = ai_labels(session, actor, project_id)
    for r in rows:
        writer.writerow(
            [
                r.case_id,
                r.label,
                "true" if r.value else "false",
                f"{r.score:.6f}",
                r.source,
                r.model_key,
                f"{r.threshold:g}",
                r.at.isoformat(),
            ]
        )
    text = buf.getvalue()
    record = ExportRecord(
        project_id=project_id,
        user_id=require_id(actor),
        format="ai_csv",
        rows=len(rows),
        content_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    session.add(record)
    ledger.append(
        session, actor=actor, project_id=project_id, action="export.ai_csv", record=record
    )
    session.commit()
    return text
