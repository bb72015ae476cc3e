"""Training a new model version from a project's annotations.

Labels per (case, label): the reviewer's adjudication where there is one, else the project's
truth rule over the current human readings (majority or Dawid–Skene; AI labels never count).
Only cases with an answer for every trained label are used. The held-out split is stratified
(on the rarest positive label of each case) and fixed by the seed. The run's status and its
per-epoch loss and validation AUC are kept in its ``training_run`` row, so the page can poll
it and the CLI can print it; a cancel flag is read after every epoch. A ``model_version`` row
is registered only when training finished, with its metrics; the manager then chooses
whether it becomes the active version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.agreement.truth import normalise_truth
from markit_core.config import Settings
from markit_core.db import require_id, rolls_back
from markit_core.db import session as new_session
from markit_core.errors import ConflictError, MarkitError, NotFoundError, ValidationError
from markit_core.inference import registry
from markit_core.inference.base import ModelInfo, TaskType, TrainingData
from markit_core.inference.training_data import (
    TRAINABLE,
    VAL_SHARE,
    PreparedData,
    prepare_training,
    stratified_split,
)
from markit_core.models import Case, ModelVersion, TrainingRun, User, utcnow

__all__ = [
    "TRAINABLE",
    "TrainingStatus",
    "cancel_training",
    "latest_training",
    "prepare_training",
    "registry_entry",
    "run_training",
    "start_training",
    "stratified_split",
    "wait_for_training",
    "PreparedData",
]

MAX_EPOCHS = 500

_threads: dict[int, threading.Thread] = {}
_lock = threading.Lock()


class TrainingCancelled(MarkitError):
    """The manager cancelled the run."""

    default_message = "training cancelled"


@dataclass(frozen=True)
class TrainingStatus:
    run_id: int
    task: str
    status: str  # queued | running | done | cancelled | failed
    epoch: int
    epochs: int
    history: tuple[dict, ...]
    metrics: dict
    error: str
    model_key: str  # name@version when registered, else ""

    @property
    def fraction(self) -> float:
        return self.epoch / self.epochs if self.epochs else 0.0


def _status(run: TrainingRun, session: Session) -> TrainingStatus:
    key = ""
    if run.status == "done":
        mv = session.exec(
            select(ModelVersion).where(ModelVersion.training_run_id == run.id)
        ).first()
        key = f"{mv.model_name}@{mv.version}" if mv else ""
    return TrainingStatus(
        require_id(run),
        run.task,
        run.status,
        run.epoch,
        run.epochs,
        tuple(run.history),
        dict(run.metrics),
        run.error,
        key,
    )


def _log(session: Session, actor: User | None, run: TrainingRun, action: str) -> None:
    run.updated_at = utcnow()
    session.add(run)
    session.flush()
    ledger.append(session, actor=actor, project_id=run.project_id, action=action, record=run)


@rolls_back
def create_training(
    session: Session,
    actor: User,
    project_id: int,
    task: str = "pathologies",
    *,
    epochs: int = 10,
    seed: int = 0,
    truth: str = "majority",
) -> int:
    """Check the request and record a queued run (refusals store nothing); returns its id."""
    from markit_core.inference.prelabels import ai_options

    require(session, actor, project_id, Action.EDIT_SETTINGS)
    if not 1 <= int(epochs) <= MAX_EPOCHS:
        raise ValidationError(f"epochs must be 1..{MAX_EPOCHS}, got {epochs}")
    minimum = ai_options(session, project_id).min_training_cases
    data = prepare_training(session, project_id, task, truth=truth, seed=seed, minimum=minimum)
    going = session.exec(
        select(TrainingRun).where(
            TrainingRun.project_id == project_id,
            TrainingRun.status.in_(("queued", "running")),  # type: ignore[attr-defined]
        )
    ).all()
    if any(_alive(require_id(r)) for r in going):
        raise ConflictError("a training run is already going in this project")
    run = TrainingRun(
        project_id=project_id,
        task=task,
        epochs=int(epochs),
        started_by=require_id(actor),
        params={
            "seed": int(seed),
            "truth": normalise_truth(truth),
            "labels": list(data.labels),
            "n_train": int(data.train_idx.size),
            "n_val": int(data.val_idx.size),
            "val_share": VAL_SHARE,
            "base_model": TRAINABLE[task],
        },
    )
    session.add(run)
    _log(session, actor, run, "ai.train.start")
    session.commit()
    return require_id(run)


def _alive(run_id: int) -> bool:
    with _lock:
        t = _threads.get(run_id)
    return t is not None and t.is_alive()


def _images(session: Session, settings: Settings, info: ModelInfo, case_ids) -> np.ndarray:
    from markit_core.inference.service import model_input

    return np.stack([model_input(settings, session.get(Case, c), info) for c in case_ids])  # type: ignore[arg-type]


def _trained_info(run: TrainingRun) -> ModelInfo:
    base = registry.entry(run.params["base_model"]).info
    return ModelInfo(
        f"project{run.project_id}-{run.task}",
        f"{run.id}",
        TaskType.MULTILABEL if len(run.params["labels"]) > 1 else TaskType.BINARY,
        tuple(run.params["labels"]),
        base.input,
        f"MarkIt CNN trained from project {run.project_id}'s annotations (run {run.id})",
        task=run.task,
        modalities=base.modalities,
    )


def run_training(
    engine: Engine,
    settings: Settings,
    run_id: int,
    progress: Callable[[int, int, dict], None] | None = None,
) -> TrainingStatus:
    """Train a queued run to the end (CLI: in the foreground; page: in a thread)."""
    with new_session(engine) as s:
        run = s.get(TrainingRun, run_id)
        if run is None:
            raise NotFoundError(f"training run {run_id} not found")
        actor = s.get(User, run.started_by)
        try:
            _train(s, settings, run, actor, progress)  # type: ignore[arg-type]
        except TrainingCancelled:
            s.rollback()
            run = s.get(TrainingRun, run_id)
            run.status, run.finished_at = "cancelled", utcnow()  # type: ignore[union-attr]
            _log(s, actor, run, "ai.train.cancel")  # type: ignore[arg-type]
            s.commit()
        except Exception as e:  # noqa: BLE001 - the run records why it stopped
            s.rollback()
            run = s.get(TrainingRun, run_id)
            run.status, run.finished_at = "failed", utcnow()  # type: ignore[union-attr]
            run.error = f"{type(e).__name__}: {e}"[:2000]  # type: ignore[union-attr]
            _log(s, actor, run, "ai.train.fail")  # type: ignore[arg-type]
            s.commit()
        return _status(s.get(TrainingRun, run_id), s)  # type: ignore[arg-type]


def _train(s: Session, settings: Settings, run: TrainingRun, actor: User, progress) -> None:
    from markit_core.inference.train import trainer_for

    p = run.params
    data = prepare_training(
        s, run.project_id, run.task, truth=p["truth"], seed=p["seed"], minimum=1
    )
    if list(data.labels) != p["labels"]:
        raise ConflictError("the project's labels changed since the run was queued")
    info = _trained_info(run)
    images = _images(s, settings, info, data.case_ids)
    train = TrainingData(
        images[data.train_idx],
        data.targets[data.train_idx],
        tuple(np.asarray(data.case_ids)[data.train_idx].tolist()),
    )
    val = TrainingData(
        images[data.val_idx],
        data.targets[data.val_idx],
        tuple(np.asarray(data.case_ids)[data.val_idx].tolist()),
    )
    run.status = "running"
    _log(s, actor, run, "ai.train.progress")
    s.commit()

    def on_epoch(epoch: int, epochs: int, metrics: dict[str, float]) -> None:
        s.refresh(run)
        run.epoch = epoch
        run.history = [*run.history, {"epoch": epoch, **{k: float(v) for k, v in metrics.items()}}]
        _log(s, actor, run, "ai.train.progress")
        s.commit()
        if progress is not None:
            progress(epoch, epochs, metrics)
        if run.cancel_requested:
            raise TrainingCancelled(f"training run {run.id} cancelled after epoch {epoch}")

    out_dir = settings.data_dir / "models" / f"project{run.project_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    result = trainer_for(info)(
        train, out_dir=str(out_dir), epochs=run.epochs, seed=p["seed"], progress=on_epoch, val=val
    )
    _register(s, settings, run, actor, info, result)


def _register(s: Session, settings: Settings, run: TrainingRun, actor: User, info, result) -> None:
    from markit_core.inference.weights import sha256_of

    path = Path(result.weights_path)
    final = path.with_name(f"{info.name}-{info.version}.pt")
    path.replace(final)
    row = ModelVersion(
        project_id=run.project_id,
        model_name=info.name,
        version=info.version,
        task=run.task,
        labels=list(info.labels),
        metrics={k: float(v) for k, v in result.metrics.items()},
        weights_path=_relative_to_data(final, settings),
        weights_sha256=sha256_of(final),
        training_run_id=run.id,
        created_by=actor.id,
    )
    s.add(row)
    s.flush()
    ledger.append(s, actor=actor, project_id=run.project_id, action="ai.model.register", record=row)
    run.status, run.finished_at, run.metrics = "done", utcnow(), dict(row.metrics)
    _log(s, actor, run, "ai.train.done")
    s.commit()
    registry.register(registry_entry(row, settings), replace=True)


def _relative_to_data(path: Path, settings: Settings) -> str:
    """A path under the data folder as relative to it, so a moved or restored folder keeps
    its models; anything else absolute."""
    try:
        return path.resolve().relative_to(settings.data_dir.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def trained_weights_path(row: ModelVersion, settings: Settings) -> Path:
    """Where a trained version's weights are for these settings (absolute paths stay)."""
    return settings.data_dir / row.weights_path


def registry_entry(row: ModelVersion, settings: Settings | None = None) -> registry.ModelEntry:
    """A registry entry that loads a trained version's weights (checked against its SHA-256)."""
    from markit_core.config import load_settings
    from markit_core.inference.cnn import load_project_cnn
    from markit_core.inference.errors import WeightsError
    from markit_core.inference.weights import sha256_of

    base = registry.entry(TRAINABLE.get(row.task, "demo-pathologies")).info
    info = ModelInfo(
        row.model_name,
        row.version,
        TaskType.MULTILABEL if len(row.labels) > 1 else TaskType.BINARY,
        tuple(row.labels),
        base.input,
        f"trained from project {row.project_id}'s annotations",
        task=row.task,
        modalities=base.modalities,
    )
    path = trained_weights_path(row, settings or load_settings())
    digest = row.weights_sha256

    def load(info: ModelInfo, _weights_dir: Path, device: str):
        if path.exists() and sha256_of(path) != digest:
            raise WeightsError(f"{path}: SHA-256 does not match the one recorded at training")
        return load_project_cnn(info, path, device)

    return registry.ModelEntry(info, load, weights_file=path.name, weights_path=str(path))


@rolls_back
def start_training(
    session: Session,
    actor: User,
    settings: Settings,
    project_id: int,
    task: str = "pathologies",
    *,
    epochs: int = 10,
    seed: int = 0,
    truth: str = "majority",
) -> int:
    """Queue a run and train it in a background thread (the page); returns the run id."""
    run_id = create_training(
        session, actor, project_id, task, epochs=epochs, seed=seed, truth=truth
    )
    engine = session.get_bind()
    thread = threading.Thread(
        target=run_training,
        args=(engine, settings, run_id),
        name=f"markit-train-{run_id}",
        daemon=True,
    )
    with _lock:
        _threads[run_id] = thread
    thread.start()
    return run_id


@rolls_back
def cancel_training(session: Session, actor: User, project_id: int, run_id: int) -> None:
    """Ask a run to stop after its current epoch; nothing is registered."""
    require(session, actor, project_id, Action.EDIT_SETTINGS)
    run = session.get(TrainingRun, run_id)
    if run is None or run.project_id != project_id:
        raise NotFoundError(f"training run {run_id} not found in this project")
    if run.status not in ("queued", "running"):
        raise ConflictError(f"training run {run_id} is {run.status}, not running")
    run.cancel_requested = True
    if not _alive(run_id):
        run.status, run.finished_at = "cancelled", utcnow()
    _log(session, actor, run, "ai.train.cancel")
    session.commit()


def latest_training(session: Session, actor: User, project_id: int) -> TrainingStatus | None:
    """The project's newest training run (for polling)."""
    require(session, actor, project_id, Action.EDIT_SETTINGS)
    run = session.exec(
        select(TrainingRun)
        .where(TrainingRun.project_id == project_id)
        .order_by(TrainingRun.id.desc())  # type: ignore[union-attr]
    ).first()
    return _status(run, session) if run is not None else None


def wait_for_training(run_id: int, timeout: float = 120.0) -> bool:
    """Block until a background training thread ends (tests)."""
    with _lock:
        t = _threads.get(run_id)
    if t is not None:
        t.join(timeout)
        return not t.is_alive()
    return True
