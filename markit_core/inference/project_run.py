"""Running a model over a whole project in a background thread.

The run's state lives in its ``ai_run`` row (status, done / total, error), so a page polls it
and the run goes on when the page is closed. Work is done in batches: one batched forward pass,
then the batch's predictions and the run's progress are committed together with their ledger
entries. Cases that already have a prediction of the model version are skipped, which makes a
run resumable: after a crash or a restart, :func:`resume_run` picks up where the last committed
batch ended. Cancelling sets a flag the worker reads between batches.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.config import Settings
from markit_core.db import require_id, rolls_back
from markit_core.db import session as new_session
from markit_core.errors import ConflictError, MarkitError, NotFoundError, ValidationError
from markit_core.inference import registry
from markit_core.inference.service import (
    Loader,
    load_task,
    model_input,
    register_trained_versions,
    require_ai,
    task_for,
)
from markit_core.inference.store import predicted_case_ids, save_prediction
from markit_core.models import AiRun, Case, User, utcnow

__all__ = [
    "RunStatus",
    "cancel_run",
    "latest_run",
    "resume_run",
    "run_status",
    "start_project_run",
    "wait_for_run",
]

ACTIVE = ("queued", "running")
STALE_AFTER = timedelta(minutes=2)  # a running row not updated for this long has no worker
MAX_BATCH = 256

_threads: dict[int, threading.Thread] = {}
_threads_lock = threading.Lock()


@dataclass(frozen=True)
class RunStatus:
    """What a page shows about a run."""

    run_id: int
    model_key: str
    status: str  # queued | running | done | cancelled | failed | interrupted
    done: int
    total: int
    failed: int
    error: str
    updated_at: datetime

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def resumable(self) -> bool:
        return self.status in ("interrupted", "failed")


def _alive(run_id: int) -> bool:
    with _threads_lock:
        thread = _threads.get(run_id)
    return thread is not None and thread.is_alive()


def _status(run: AiRun) -> RunStatus:
    status = run.status
    if status in ACTIVE and not _alive(require_id(run)):
        updated = run.updated_at if run.updated_at.tzinfo else run.updated_at.replace(tzinfo=None)
        now = utcnow() if run.updated_at.tzinfo else utcnow().replace(tzinfo=None)
        if now - updated > STALE_AFTER:
            status = "interrupted"
    return RunStatus(
        require_id(run),
        f"{run.model_name}@{run.version}",
        status,
        run.done,
        run.total,
        run.failed,
        run.error,
        run.updated_at,
    )


def _project_cases(session: Session, project_id: int) -> list[int]:
    ids = session.exec(
        select(col(Case.id)).where(Case.project_id == project_id).order_by(col(Case.id))
    ).all()
    return [int(c) for c in ids if c is not None]


def _log(session: Session, actor: User | None, run: AiRun, action: str) -> None:
    run.updated_at = utcnow()
    session.add(run)
    session.flush()
    ledger.append(session, actor=actor, project_id=run.project_id, action=action, record=run)


def _launch(engine: Engine, settings: Settings, run_id: int, load: Loader) -> None:
    thread = threading.Thread(
        target=_work, args=(engine, settings, run_id, load), name=f"markit-ai-run-{run_id}"
    )
    thread.daemon = True
    with _threads_lock:
        _threads[run_id] = thread
    thread.start()


@rolls_back
def start_project_run(
    session: Session,
    actor: User,
    settings: Settings,
    project_id: int,
    model_name: str,
    version: str | None = None,
    *,
    batch_size: int = 16,
    load: Loader = load_task,
) -> int:
    """Start predicting every case of the project with a model version; returns the run id.

    The model is loaded here, so a missing weights file or an unknown model is reported at
    once and no run is recorded. A second run of the same model version while one is going
    is refused.
    """
    require_ai(session, actor, project_id)
    require(session, actor, project_id, Action.VIEW)
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValidationError(f"batch size must be 1..{MAX_BATCH}, got {batch_size}")
    register_trained_versions(session, project_id, settings)
    info = registry.entry(model_name, version).info
    task_for(load, info.name, info.version, settings)  # fail now, not in the thread
    going = session.exec(
        select(AiRun).where(
            AiRun.project_id == project_id,
            AiRun.model_name == info.name,
            AiRun.version == info.version,
            AiRun.status.in_(ACTIVE),  # type: ignore[attr-defined]
        )
    ).all()
    for other in going:
        if _status(other).status != "interrupted":
            raise ConflictError(
                f"model {info.key} is already running over this project (run {other.id})"
            )
    cases = _project_cases(session, project_id)
    run = AiRun(
        project_id=project_id,
        model_name=info.name,
        version=info.version,
        total=len(cases),
        done=len(predicted_case_ids(session, project_id, info.name, info.version)),
        batch_size=batch_size,
        started_by=require_id(actor),
    )
    session.add(run)
    _log(session, actor, run, "ai.run.start")
    session.commit()
    _launch(session.get_bind(), settings, require_id(run), load)  # type: ignore[arg-type]
    return require_id(run)


def _get_run(session: Session, project_id: int, run_id: int) -> AiRun:
    run = session.get(AiRun, run_id)
    if run is None or run.project_id != project_id:
        raise NotFoundError(f"AI run {run_id} not found in this project")
    return run


@rolls_back
def resume_run(
    session: Session,
    actor: User,
    settings: Settings,
    project_id: int,
    run_id: int,
    *,
    load: Loader = load_task,
) -> None:
    """Restart an interrupted or failed run; cases predicted before are not redone."""
    require_ai(session, actor, project_id)
    run = _get_run(session, project_id, run_id)
    if not _status(run).resumable:
        raise ConflictError(
            f"AI run {run_id} is {_status(run).status}; only an interrupted or "
            "failed run can be resumed"
        )
    register_trained_versions(session, project_id, settings)
    task_for(load, run.model_name, run.version, settings)
    run.status, run.error, run.cancel_requested = "queued", "", False
    run.total = len(_project_cases(session, project_id))
    _log(session, actor, run, "ai.run.resume")
    session.commit()
    _launch(session.get_bind(), settings, run_id, load)  # type: ignore[arg-type]


@rolls_back
def cancel_run(session: Session, actor: User, project_id: int, run_id: int) -> None:
    """Ask a run to stop after its current batch (what it stored so far is kept)."""
    require_ai(session, actor, project_id)
    run = _get_run(session, project_id, run_id)
    if run.status not in ACTIVE:
        raise ConflictError(f"AI run {run_id} is {run.status}, not running")
    run.cancel_requested = True
    if not _alive(run_id):
        run.status, run.finished_at = "cancelled", utcnow()
    _log(session, actor, run, "ai.run.cancel")
    session.commit()


def run_status(session: Session, actor: User, project_id: int, run_id: int) -> RunStatus:
    """The stored state of a run (for polling)."""
    require_ai(session, actor, project_id)
    return _status(_get_run(session, project_id, run_id))


def latest_run(session: Session, actor: User, project_id: int) -> RunStatus | None:
    """The project's newest run, or None."""
    require_ai(session, actor, project_id)
    run = session.exec(
        select(AiRun).where(AiRun.project_id == project_id).order_by(AiRun.id.desc())  # type: ignore[union-attr]
    ).first()
    return _status(run) if run is not None else None


def wait_for_run(run_id: int, timeout: float = 60.0) -> bool:
    """Block until the run's worker thread in this process ends (CLI and tests)."""
    with _threads_lock:
        thread = _threads.get(run_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


# -- the worker ------------------------------------------------------------------------------


def _batch(
    session: Session, settings: Settings, run: AiRun, actor: User, task, ids: list[int]
) -> list[int]:
    """Predict one batch and store it; returns the cases that could not be read."""
    info = registry.entry(run.model_name, run.version).info
    images, kept, failed = [], [], []
    for case_id in ids:
        case = session.get(Case, case_id)
        try:
            images.append(model_input(settings, case, info))  # type: ignore[arg-type]
            kept.append(case_id)
        except MarkitError as e:
            failed.append(case_id)
            run.error = f"case {case_id}: {e}"[:2000]
    if kept:
        outputs = np.asarray(task(np.stack(images)))
        for case_id, row in zip(kept, outputs, strict=True):
            save_prediction(
                session,
                actor,
                project_id=run.project_id,
                case_id=case_id,
                model_name=run.model_name,
                version=run.version,
                outputs={
                    lb: float(v) for lb, v in zip(info.labels, np.reshape(row, -1), strict=True)
                },
                run_id=run.id,
            )
    return failed


def _work(engine: Engine, settings: Settings, run_id: int, load: Loader) -> None:
    with new_session(engine) as s:
        run = s.get(AiRun, run_id)
        if run is None:
            return
        actor = s.get(User, run.started_by)
        try:
            task = task_for(load, run.model_name, run.version, settings)
            run.status = "running"
            _log(s, actor, run, "ai.run.progress")
            s.commit()
            _loop(s, settings, run, actor, task)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - a worker must record why it stopped
            s.rollback()
            run = s.get(AiRun, run_id)
            run.status, run.error, run.finished_at = "failed", f"{type(e).__name__}: {e}", utcnow()  # type: ignore[union-attr]
            _log(s, actor, run, "ai.run.fail")  # type: ignore[arg-type]
            s.commit()
        finally:
            with _threads_lock:
                _threads.pop(run_id, None)


def _loop(s: Session, settings: Settings, run: AiRun, actor: User, task) -> None:
    failed: set[int] = set()
    while True:
        s.refresh(run)
        if run.cancel_requested:
            run.status, run.finished_at = "cancelled", utcnow()
            _log(s, actor, run, "ai.run.cancel")
            s.commit()
            return
        cases = _project_cases(s, run.project_id)
        done = predicted_case_ids(s, run.project_id, run.model_name, run.version)
        todo = [c for c in cases if c not in done and c not in failed][: run.batch_size]
        run.total = len(cases)
        if not todo:
            run.done, run.status, run.finished_at = len(done & set(cases)), "done", utcnow()
            _log(s, actor, run, "ai.run.done")
            s.commit()
            return
        bad = _batch(s, settings, run, actor, task, todo)
        failed.update(bad)
        run.failed = len(failed)
        run.done = len(predicted_case_ids(s, run.project_id, run.model_name, run.version))
        _log(s, actor, run, "ai.run.progress")
        s.commit()
        time.sleep(0)  # let the page's polling thread in
