"""Permission-checked AI services: the models a project may use, predict and explain a case.

Pages call these, never the registry directly: each checks ``Action.USE_AI`` (annotators
only where the project allows), stores new predictions with a ledger entry in one transaction,
and returns plain data. Results are cached per (case, model version): the outputs in the
database (:mod:`markit_core.inference.store`), Grad-CAM maps as files under the cache folder.
Models are loaded once per process by the registry; the Streamlit side passes a
``st.cache_resource`` loader in ``load``. With ``MARKIT_INFERENCE_URL`` set, :func:`task_for`
hands out the model server's version instead (:mod:`markit_core.inference.remote`): the
checks and caches above stay here, only the forward passes move.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require, roles_of
from markit_core.config import Settings
from markit_core.db import require_id, rolls_back
from markit_core.errors import PermissionDenied, ValidationError
from markit_core.imaging.stored import decoded_case_image
from markit_core.inference import registry
from markit_core.inference.base import InferTask, ModelInfo, TaskType
from markit_core.inference.store import (
    load_cam,
    save_cam,
    save_prediction,
    stored_prediction,
)
from markit_core.models import ActiveModel, AiSettings, Case, ModelVersion, Role, User, utcnow

__all__ = [
    "CaseExplanation",
    "CasePrediction",
    "Loader",
    "ModelChoice",
    "active_model",
    "explain_case",
    "load_task",
    "model_choices",
    "predict_case",
    "require_ai",
    "set_active_model",
    "task_for",
    "task_of",
]

Loader = Callable[[str, str, Settings], InferTask]
"""``load(name, version, settings) -> InferTask`` (the UI passes a cached one)."""

_RASTER_MODALITIES = ("", "OT")  # raster uploads carry no modality
_TASK_SUFFIXES = ("pathologies", "view", "sex", "age")


def load_task(name: str, version: str, settings: Settings) -> InferTask:
    """The registry's loaded model (one copy per process)."""
    return registry.get(name, version, weights_dir=settings.resolved_weights_dir)


def task_for(load: Loader, name: str, version: str, settings: Settings) -> InferTask:
    """The model to run: on the model server when ``MARKIT_INFERENCE_URL`` is set, else ``load``.

    With a server configured nothing is loaded here (the app host needs no weights); the
    remote task raises ``InferenceError`` when the server is down, slow or wrong.
    """
    if settings.inference_url:
        from markit_core.inference.remote import remote_task

        return remote_task(settings, name, version)
    return load(name, version, settings)


def task_of(info: ModelInfo) -> str:
    """The paper task a model serves: pathologies, view, sex or age."""
    explicit = getattr(info, "task", "")
    if explicit:
        return str(explicit)
    for suffix in _TASK_SUFFIXES:
        if info.name.endswith(f"-{suffix}") or f"-{suffix}-" in info.name:
            return suffix
    return "pathologies" if info.task_type == TaskType.MULTILABEL else info.name


def require_ai(session: Session, actor: User, project_id: int) -> AiSettings | None:
    """Check that ``actor`` may use AI here; return the project's AI settings row (or None).

    Owners, managers and reviewers may; annotators only while the project allows it.
    """
    require(session, actor, project_id, Action.USE_AI)
    options = session.exec(select(AiSettings).where(AiSettings.project_id == project_id)).first()
    if actor.is_admin or options is None or options.annotators_may_use:
        return options
    roles = roles_of(session, actor, project_id)
    if roles <= {Role.ANNOTATOR, Role.DATA_OWNER}:
        raise PermissionDenied(
            f"{actor.username!r}: this project does not let annotators use AI assist"
        )
    return options


# -- models a project may use --------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """A model version offered on the AI-assist page."""

    info: ModelInfo
    task: str
    trained_here: bool
    active: bool
    external_weights: bool
    weights_file: str
    metrics: dict[str, float] = field(default_factory=dict)


def register_trained_versions(
    session: Session, project_id: int | None = None, settings: Settings | None = None
) -> None:
    """Put the versions trained by MarkIt (``model_version`` rows) into the registry.

    With ``settings`` (every caller that loads a model passes them) an entry made for
    another data folder is replaced, so weights are read from this one's.
    """
    from markit_core.inference.training_run import registry_entry, trained_weights_path

    stmt = select(ModelVersion)
    if project_id is not None:
        stmt = stmt.where(ModelVersion.project_id == project_id)
    known = {(e.name, e.version): e for e in registry.list_models()}
    for row in session.exec(stmt):
        entry = known.get((row.model_name, row.version))
        if entry is None:
            registry.register(registry_entry(row, settings))
        elif settings is not None and entry.weights_path != str(
            trained_weights_path(row, settings)
        ):
            registry.register(registry_entry(row, settings), replace=True)


def _trained_here(session: Session, project_id: int) -> dict[tuple[str, str], ModelVersion]:
    rows = session.exec(select(ModelVersion).where(ModelVersion.project_id == project_id))
    return {(r.model_name, r.version): r for r in rows}


def model_choices(session: Session, actor: User, project_id: int) -> list[ModelChoice]:
    """The shipped models and this project's trained versions (others' are not shown)."""
    require_ai(session, actor, project_id)
    register_trained_versions(session, project_id)
    mine = _trained_here(session, project_id)
    every_project = {(r.model_name, r.version) for r in session.exec(select(ModelVersion)).all()}
    active = {
        (a.model_name, a.version)
        for a in session.exec(select(ActiveModel).where(ActiveModel.project_id == project_id))
    }
    out = []
    for e in registry.list_models():
        key = (e.name, e.version)
        if key in every_project and key not in mine:
            continue
        out.append(
            ModelChoice(
                e.info,
                task_of(e.info),
                key in mine,
                key in active,
                e.external_weights,
                e.weights_file,
                dict(mine[key].metrics) if key in mine else {},
            )
        )
    return out


def active_model(session: Session, project_id: int, task: str) -> tuple[str, str] | None:
    """``(model name, version)`` the project uses for ``task``, or None (query helper)."""
    row = session.exec(
        select(ActiveModel).where(ActiveModel.project_id == project_id, ActiveModel.task == task)
    ).first()
    return (row.model_name, row.version) if row is not None else None


@rolls_back
def set_active_model(
    session: Session, actor: User, project_id: int, model_name: str, version: str
) -> str:
    """Make a model version the project's active one for its task (owners, managers)."""
    require(session, actor, project_id, Action.EDIT_SETTINGS)
    register_trained_versions(session, project_id)
    info = registry.entry(model_name, version).info
    trained = session.exec(
        select(ModelVersion).where(
            ModelVersion.model_name == model_name, ModelVersion.version == version
        )
    ).first()
    if trained is not None and trained.project_id != project_id:
        raise ValidationError(f"model {info.key} was trained in another project")
    task = task_of(info)
    row = session.exec(
        select(ActiveModel).where(ActiveModel.project_id == project_id, ActiveModel.task == task)
    ).first()
    if row is None:
        row = ActiveModel(project_id=project_id, task=task, model_name=model_name, version=version)
    row.model_name, row.version, row.set_by, row.set_at = model_name, version, actor.id, utcnow()
    session.add(row)
    session.flush()
    ledger.append(session, actor=actor, project_id=project_id, action="ai.activate", record=row)
    session.commit()
    return task


# -- predict and explain ---------------------------------------------------------------------


@dataclass(frozen=True)
class CasePrediction:
    """A model's outputs for one case (probabilities, or values for regression)."""

    case_id: int
    info: ModelInfo
    outputs: dict[str, float]
    cached: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseExplanation(CasePrediction):
    """Outputs plus Grad-CAM maps ``{label: (H, W) float32 in 0..1}`` at the model's input."""

    cams: dict[str, np.ndarray] = field(default_factory=dict)


def _case(session: Session, project_id: int, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None or case.project_id != project_id:
        raise ValidationError(f"case {case_id} is not in this project")
    return case


def modality_warnings(case: Case, info: ModelInfo) -> tuple[str, ...]:
    """A warning when the case is not of a modality the model was made for (not a refusal)."""
    modality = (case.modality or "").upper()
    made_for = tuple(getattr(info, "modalities", ("CR", "DX")))
    if modality in (*made_for, *_RASTER_MODALITIES):
        return ()
    return (
        f"case {case.id} is modality {modality}, but {info.key} was made for "
        f"{'/'.join(made_for)}: its output may mean nothing here",
    )


def model_input(settings: Settings, case: Case, info: ModelInfo) -> np.ndarray:
    """The preprocessed ``(C, H, W)`` tensor of a stored case for ``info``'s input spec."""
    from markit_core.inference.preprocess import preprocess

    decoded = decoded_case_image(settings, case.stored_path)
    return np.asarray(preprocess(decoded, info.input), dtype=np.float32)


def _resolve(name: str, version: str | None) -> ModelInfo:
    return registry.entry(name, version).info


def _outputs(info: ModelInfo, row: np.ndarray) -> dict[str, float]:
    return {
        label: float(v) for label, v in zip(info.labels, np.asarray(row).reshape(-1), strict=True)
    }


@rolls_back
def predict_case(
    session: Session,
    actor: User,
    settings: Settings,
    project_id: int,
    case_id: int,
    model_name: str,
    version: str | None = None,
    *,
    load: Loader = load_task,
) -> CasePrediction:
    """Outputs of a model version for one case, stored (and ledgered) the first time.

    Raises
    ------
    ModelNotFound
        No such model or version.
    WeightsError
        Its weights are absent or unusable (the message says where to put them).
    ValidationError
        The case is not in the project.
    """
    require_ai(session, actor, project_id)
    register_trained_versions(session, project_id, settings)
    info = _resolve(model_name, version)
    case = _case(session, project_id, case_id)
    warnings = modality_warnings(case, info)
    stored = stored_prediction(session, case_id, info.name, info.version)
    if stored is not None:
        return CasePrediction(case_id, info, stored.outputs, True, warnings)
    task = task_for(load, info.name, info.version, settings)
    outputs = _outputs(info, task(model_input(settings, case, info)[None])[0])
    save_prediction(
        session,
        actor,
        project_id=project_id,
        case_id=case_id,
        model_name=info.name,
        version=info.version,
        outputs=outputs,
    )
    session.commit()
    return CasePrediction(case_id, info, outputs, False, warnings)


@rolls_back
def explain_case(
    session: Session,
    actor: User,
    settings: Settings,
    project_id: int,
    case_id: int,
    model_name: str,
    labels: Sequence[str],
    version: str | None = None,
    *,
    load: Loader = load_task,
) -> CaseExplanation:
    """Outputs and Grad-CAM maps for ``labels`` of one case, from one forward pass.

    Maps already cached for (case, model version, label) are not recomputed; the missing
    ones come from one batched backward pass together with the outputs.
    """
    require_ai(session, actor, project_id)
    register_trained_versions(session, project_id, settings)
    info = _resolve(model_name, version)
    unknown = [lb for lb in labels if lb not in info.labels]
    if unknown:
        raise ValidationError(
            f"model {info.key} has no label {', '.join(map(repr, unknown))}; "
            f"its labels: {', '.join(info.labels)}"
        )
    case = _case(session, project_id, case_id)
    warnings = modality_warnings(case, info)
    cams: dict[str, np.ndarray] = {}
    missing: list[str] = []
    for lb in labels:
        cam = load_cam(settings, case_id, info.name, info.version, lb)
        if cam is None:
            missing.append(lb)
        else:
            cams[lb] = cam
    stored = stored_prediction(session, case_id, info.name, info.version)
    if not missing and stored is not None:
        return CaseExplanation(case_id, info, stored.outputs, True, warnings, cams)
    task = task_for(load, info.name, info.version, settings)
    image = model_input(settings, case, info)
    if missing:
        raw, maps = task.explain(image, [info.labels.index(lb) for lb in missing])
        for lb, made in zip(missing, maps, strict=True):
            cams[lb] = np.asarray(made, dtype=np.float32)
            save_cam(settings, case_id, info.name, info.version, lb, cams[lb])
        cams = {lb: cams[lb] for lb in labels}  # in the order asked for
    else:
        raw = task(image[None])[0]
    outputs = stored.outputs if stored is not None else _outputs(info, raw)
    if stored is None:
        save_prediction(
            session,
            actor,
            project_id=project_id,
            case_id=case_id,
            model_name=info.name,
            version=info.version,
            outputs=outputs,
        )
        session.commit()
    return CaseExplanation(case_id, info, outputs, stored is not None, warnings, cams)


def project_cases(session: Session, actor: User, project_id: int) -> list[tuple[int, str, str]]:
    """``(case id, display name, modality)`` of the project's cases, for the case picker."""
    from markit_core.review.answers import case_name

    require_ai(session, actor, project_id)
    rows = session.exec(select(Case).where(Case.project_id == project_id).order_by(col(Case.id)))
    return [(require_id(c), case_name(c), c.modality) for c in rows]


def case_row(session: Session, actor: User, project_id: int, case_id: int) -> Case:
    """The case (checked to be in the project), for rendering on the page."""
    require_ai(session, actor, project_id)
    return _case(session, project_id, case_id)
