"""Eight processes read the same cases in the same order under a cap of two readers.

Shared by the SQLite test (``tests/test_reader_cap.py``) and the PostgreSQL
integration test. Each worker is a separate process with its own engine, as
separate Streamlit servers or CLI runs would be.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
REPO = Path(__file__).resolve().parent.parent


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


def _read_all(url: str, worker: int, project_id: int, label: int, case_ids: list[int]) -> None:
    """One worker: say it is ready, wait for the start line, submit every case, print counts."""
    engine = make_engine(url)
    stored = refused = 0
    with session(engine) as s:
        user = get_user(s, f"reader{worker}")
        print("ready", flush=True)
        sys.stdin.readline()  # the start signal: every worker is connected by now
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
    print(json.dumps({"worker": worker, "stored": stored, "refused": refused}), flush=True)


def race(url: str, project_id: int, label: int, case_ids: list[int]) -> dict[int, int]:
    """Run the workers as separate interpreters; return readers per case as stored.

    Plain subprocesses rather than ``multiprocessing``: a spawned child re-runs
    the parent's ``__main__``, which after a Streamlit AppTest is ``app.py``.
    """
    cases = [str(c) for c in case_ids]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.reader_cap_race", url, str(w), str(project_id)]
            + [str(label), *cases],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready", "a worker failed before it was ready"
        for p in procs:  # all are connected and waiting: let them go together
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outcomes = []
        for p in procs:
            out, _ = p.communicate(timeout=600)
            assert p.returncode == 0, f"worker exited with {p.returncode}"
            result = json.loads(out.strip().splitlines()[-1])
            outcomes.append((result["worker"], result["stored"], result["refused"]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
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


if __name__ == "__main__":
    url, worker, project_id, label, *cases = sys.argv[1:]
    _read_all(url, int(worker), int(project_id), int(label), [int(c) for c in cases])
