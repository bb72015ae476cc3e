"""Stored predictions and the Grad-CAM cache, per (case, model version).

A prediction is stored once per (case, model name, version) in ``ai_prediction``, with a
ledger entry, so the project's AI reference (review kappa vs AI, the rewards' AI quality
control) can be audited like any reading. Grad-CAM maps are derived data: they are kept as
``.npy`` files under the cache folder and rebuilt when missing. Query helpers here do not
check permissions; :mod:`markit_core.inference.service` does.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlmodel import Session, select

from markit_core import ledger
from markit_core.config import Settings
from markit_core.db import require_id
from markit_core.errors import ValidationError
from markit_core.models import AiPrediction, User

__all__ = [
    "StoredPrediction",
    "cam_path",
    "load_cam",
    "predicted_case_ids",
    "project_predictions",
    "save_cam",
    "save_prediction",
    "stored_prediction",
]


@dataclass(frozen=True)
class StoredPrediction:
    """A model version's outputs for one case, as stored."""

    case_id: int
    model_name: str
    version: str
    outputs: dict[str, float]
    created_at: datetime
    run_id: int | None = None


def _plain(row: AiPrediction) -> StoredPrediction:
    return StoredPrediction(
        row.case_id,
        row.model_name,
        row.version,
        {str(k): float(v) for k, v in row.outputs.items()},
        row.created_at,
        row.run_id,
    )


def stored_prediction(
    session: Session, case_id: int, model_name: str, version: str
) -> StoredPrediction | None:
    """The stored outputs of ``model_name`` ``version`` for a case, or None."""
    row = session.exec(
        select(AiPrediction).where(
            AiPrediction.case_id == case_id,
            AiPrediction.model_name == model_name,
            AiPrediction.version == version,
        )
    ).first()
    return _plain(row) if row is not None else None


def _clean_outputs(outputs: Mapping[str, float]) -> dict[str, float]:
    clean: dict[str, float] = {}
    for label, value in outputs.items():
        number = float(value)
        if not math.isfinite(number):
            raise ValidationError(f"model output for {label!r} is not a finite number: {value!r}")
        clean[str(label)] = number
    if not clean:
        raise ValidationError("a prediction needs at least one output")
    return clean


def save_prediction(
    session: Session,
    actor: User,
    *,
    project_id: int,
    case_id: int,
    model_name: str,
    version: str,
    outputs: Mapping[str, float],
    run_id: int | None = None,
) -> StoredPrediction:
    """Store one prediction with its ledger entry, inside the caller's transaction.

    An existing row for the same (case, model, version) is returned unchanged: a model version
    is deterministic, so the first stored answer stands. The caller commits.
    """
    existing = stored_prediction(session, case_id, model_name, version)
    if existing is not None:
        return existing
    row = AiPrediction(
        project_id=project_id,
        case_id=case_id,
        model_name=model_name,
        version=version,
        outputs=_clean_outputs(outputs),
        run_id=run_id,
    )
    session.add(row)
    session.flush()
    ledger.append(session, actor=actor, project_id=project_id, action="ai.predict", record=row)
    return _plain(row)


def project_predictions(
    session: Session, project_id: int, model_name: str, version: str
) -> dict[int, dict[str, float]]:
    """``{case id: {model label: output}}`` of one model version over a project."""
    rows = session.exec(
        select(AiPrediction.case_id, AiPrediction.outputs).where(
            AiPrediction.project_id == project_id,
            AiPrediction.model_name == model_name,
            AiPrediction.version == version,
        )
    ).all()
    return {int(c): {str(k): float(v) for k, v in out.items()} for c, out in rows}


def predicted_case_ids(
    session: Session, project_id: int, model_name: str, version: str, among: Iterable[int] = ()
) -> set[int]:
    """Cases of the project that already have a stored prediction of this model version."""
    stmt = select(AiPrediction.case_id).where(
        AiPrediction.project_id == project_id,
        AiPrediction.model_name == model_name,
        AiPrediction.version == version,
    )
    wanted = list(among)
    if wanted:
        stmt = stmt.where(AiPrediction.case_id.in_(wanted))  # type: ignore[attr-defined]
    return {int(c) for c in session.exec(stmt).all()}


# -- Grad-CAM cache (derived files) ---------------------------------------------------------


def cam_path(settings: Settings, case_id: int, model_name: str, version: str, label: str) -> Path:
    """Where the Grad-CAM map of (case, model version, label) is cached.

    The file name is a hash, so labels and model names with any characters are safe.
    """
    key = hashlib.sha256(f"{case_id}\0{model_name}\0{version}\0{label}".encode()).hexdigest()
    return settings.cache_dir / "ai_cam" / key[:2] / f"{key}.npy"


def save_cam(
    settings: Settings, case_id: int, model_name: str, version: str, label: str, cam: np.ndarray
) -> None:
    """Cache a map (written to a temporary name first, so a reader never sees half a file)."""
    path = cam_path(settings, case_id, model_name, version, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, np.asarray(cam, dtype=np.float32), allow_pickle=False)
    tmp.replace(path)


def load_cam(
    settings: Settings, case_id: int, model_name: str, version: str, label: str
) -> np.ndarray | None:
    """The cached map, or None when it was never made or cannot be read."""
    path = cam_path(settings, case_id, model_name, version, label)
    if not path.exists():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):  # a damaged cache file is rebuilt, not fatal
        return None


# -- the project's AI reference --------------------------------------------------------------


def ai_reference(session: Session, project_id: int) -> dict[tuple[int, str], bool] | None:
    """``{(case id, project label name): bool}`` from the active pathology model's predictions.

    A stored output at or above the project's threshold is True. None when the project has
    no active model or it has predicted nothing yet. Query helper (no permission check).
    """
    from markit_core.inference.prelabels import _label_map, ai_options, label_scores
    from markit_core.models import ActiveModel, LabelDef

    active = session.exec(
        select(ActiveModel).where(
            ActiveModel.project_id == project_id, ActiveModel.task == "pathologies"
        )
    ).first()
    if active is None:
        return None
    predictions = project_predictions(session, project_id, active.model_name, active.version)
    if not predictions:
        return None
    labels = {
        require_id(lb): lb.name
        for lb in session.exec(select(LabelDef).where(LabelDef.project_id == project_id))
    }
    cut = ai_options(session, project_id).threshold
    mapping = _label_map(active.model_name)
    out: dict[tuple[int, str], bool] = {}
    for case_id, outputs in predictions.items():
        for label_id, score in label_scores(outputs, labels, mapping).items():
            out[(case_id, labels[label_id])] = score >= cut
    return out or None
