"""Eight processes read the same cases in the same order under a cap of two readers.

Shared by the SQLite test (``tests/test_reader_cap.py``) and the PostgreSQL
integration test. Each worker is a separate process with its own engine, as
separate Streamlit servers or CLI runs would be.
"""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import func
from sqlmodel import select

from markit_core.accounts import create_user, get_user
from markit_core.annotation.submit import Answer, submit
from markit_core.db import make_engine, session
from markit_core.errors import ConflictError, PermissionDenied
from markit_core.labels import add_labels, list_labels
from markit_core.models import Annotation, Case, CaseReaders, Role
from markit_core.projects import create_project, grant_role, update_settings

PASSWORD = "a long enough password"
WORKERS = 8
CAP = 2


def build(url: str, n_cases: int) -> tuple[int, int, list[int]]:
    """A project with a reader cap of ``CAP``, ``WORKERS`` annotators and ``n_cases`` cases."""
    engine = make_engine(url)
    with session(engine) as s:
        create_user(s, None, "owner", PASSWORD, is_admin=True)
        owner = get_user(s, "owner")
        project = create_project(s, owner, "Race")
        update_settings(s, owner, project.id, required_annotators=CAP)
        add_labels(s, owner, project.id, [("nodule", "Lung")])
        label = list_labels(s, owner, project.id)[0].id
        for w in range(WORKERS):
            create_user(s, owner, f"reader{w}", PASSWORD)
            grant_role(s, owner, project.id, f"reader{w}", Role.ANNOTATOR)
        ids = []
        for i in range(n_cases):
            digest = f"{i:064x}"
            case = Case(
                project_id=project.id,
                content_hash=digest,
                stored_path=f"{digest[:2]}/{digest[2:]}",
                rows=10,
                cols=10,
            )
            s.add(case)
            s.flush()
            ids.append(case.id or 0)
        s.commit()
    engine.dispose()
    return project.id, label, ids


def _read_all(url, worker, project_id, label, case_ids, barrier, results) -> None:
    engine = make_engine(url)
    stored = refused = 0
    with session(engine) as s:
        user = get_user(s, f"reader{worker}")
        barrier.wait()
        for case_id in case_ids:
            try:
                submit(
                    s,
                    user,
                    project_id,
                    case_id,
                    answers={label: Answer(True, 100)},
                    token=f"w{worker}-c{case_id}",
                )
                stored += 1
            except (PermissionDenied, ConflictError):
                refused += 1
    engine.dispose()
    results.put((worker, stored, refused))


def race(url: str, project_id: int, label: int, case_ids: list[int]) -> dict[int, int]:
    """Run the workers; return readers per case as stored."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [
        ctx.Process(target=_read_all, args=(url, w, project_id, label, case_ids, barrier, results))
        for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    assert sum(o[1] for o in outcomes) + sum(o[2] for o in outcomes) == WORKERS * len(case_ids)
    engine = make_engine(url)
    with session(engine) as s:
        rows = s.exec(
            select(Annotation.case_id, func.count(func.distinct(Annotation.annotator_id)))
            .where(Annotation.project_id == project_id)
            .group_by(Annotation.case_id)
        ).all()
        counters = dict(s.exec(select(CaseReaders.case_id, CaseReaders.readers)).all())
    engine.dispose()
    readers = {case_id: 0 for case_id in case_ids} | dict(rows)
    assert {c: counters.get(c, 0) for c in case_ids} == readers, (
        "the readers counter differs from the stored readings"
    )
    return readers
