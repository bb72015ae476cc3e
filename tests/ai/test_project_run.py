"""Whole-project runs in a background thread: progress in the DB, resumable, cancellable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.errors import ConflictError, ValidationError
from markit_core.inference import project_run, service
from markit_core.inference.errors import ModelNotFound
from markit_core.models import AiPrediction, AiRun, utcnow
from tests.ai.conftest import MODEL


def _predicted(session) -> list[int]:
    return sorted(session.exec(select(AiPrediction.case_id)).all())


def test_run_predicts_every_case_in_batches(session, settings, ai_world, tiny_model):
    w = ai_world
    run_id = project_run.start_project_run(
        session, w.manager, settings, w.project_id, MODEL, batch_size=4
    )
    assert project_run.wait_for_run(run_id, timeout=120)
    session.expire_all()
    status = project_run.run_status(session, w.manager, w.project_id, run_id)
    assert (status.status, status.done, status.total) == ("done", 6, 6)
    assert _predicted(session) == sorted(w.cases)
    actions = [e["action"] for e in ledger.recent(session, w.owner, w.project_id, limit=200)]
    assert actions.count("ai.predict") == 6
    assert actions.count("ai.run.progress") >= 3  # running + two batches of 4 and 2
    assert ledger.verify(session, w.owner, w.project_id).ok


def test_interrupted_run_resumes_without_redoing_cases(session, settings, ai_world, tiny_model):
    w = ai_world
    for case_id in w.cases[:2]:  # done before the "crash"
        service.predict_case(session, w.manager, settings, w.project_id, case_id, MODEL)
    run = AiRun(
        project_id=w.project_id,
        model_name=MODEL,
        version="1",
        status="running",
        total=6,
        done=2,
        started_by=w.manager.id,
        updated_at=utcnow() - timedelta(minutes=10),
    )
    session.add(run)
    session.commit()
    status = project_run.latest_run(session, w.manager, w.project_id)
    assert status.status == "interrupted" and status.resumable
    before = {p.case_id: p.id for p in session.exec(select(AiPrediction)).all()}
    project_run.resume_run(session, w.manager, settings, w.project_id, run.id)
    assert project_run.wait_for_run(run.id, timeout=120)
    session.expire_all()
    assert project_run.run_status(session, w.manager, w.project_id, run.id).status == "done"
    after = {p.case_id: p.id for p in session.exec(select(AiPrediction)).all()}
    assert sorted(after) == sorted(w.cases)
    assert all(after[c] == before[c] for c in before)  # kept, not recomputed


def test_cancel_stops_a_run_and_keeps_what_it_stored(session, settings, ai_world, tiny_model):
    w = ai_world
    run = AiRun(project_id=w.project_id, model_name=MODEL, version="1", started_by=w.manager.id)
    session.add(run)
    session.commit()
    project_run.cancel_run(session, w.manager, w.project_id, run.id)
    assert project_run.run_status(session, w.manager, w.project_id, run.id).status == "cancelled"
    with pytest.raises(ConflictError, match="not running"):
        project_run.cancel_run(session, w.manager, w.project_id, run.id)


def test_worker_reads_the_cancel_flag_between_batches(session, settings, ai_world, tiny_model):
    w = ai_world
    run = AiRun(
        project_id=w.project_id,
        model_name=MODEL,
        version="1",
        started_by=w.manager.id,
        batch_size=2,
        cancel_requested=True,
    )
    session.add(run)
    session.commit()
    project_run._work(session.get_bind(), settings, run.id, service.load_task)
    session.expire_all()
    assert session.get(AiRun, run.id).status == "cancelled"
    assert _predicted(session) == []


def test_bad_requests_record_no_run(session, settings, ai_world, tiny_model):
    w = ai_world
    with pytest.raises(ModelNotFound):
        project_run.start_project_run(session, w.manager, settings, w.project_id, "missing")
    with pytest.raises(ValidationError, match="batch size"):
        project_run.start_project_run(
            session, w.manager, settings, w.project_id, MODEL, batch_size=0
        )
    with pytest.raises(Exception, match="MARKIT_WEIGHTS_DIR"):
        project_run.start_project_run(
            session, w.manager, settings, w.project_id, "xrv-densenet121-all"
        )
    assert session.exec(select(AiRun)).all() == []
