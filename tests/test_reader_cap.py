"""Readers per case is a hard cap, enforced atomically in the database (issue 9, point 13)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core.accounts import get_user
from markit_core.annotation.submit import Answer, delete_reading, submit
from markit_core.db import make_engine, session, upgrade
from markit_core.errors import PermissionDenied
from markit_core.models import CaseReaders
from tests.reader_cap_race import CAP, build, race

N_CASES = 12


@pytest.mark.timeout(900)  # eight interpreters each import the stack: slow on a busy machine
def test_eight_processes_never_exceed_the_cap_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    upgrade(make_engine(url))
    project_id, label, case_ids = build(url, N_CASES)
    readers = race(url, project_id, label, case_ids)
    over = {c: n for c, n in readers.items() if n > CAP}
    assert not over, f"{len(over)} of {N_CASES} cases have more than {CAP} readers: {over}"
    assert all(n == CAP for n in readers.values())  # and every case got its readers


def test_cap_counts_current_readers_edits_and_deletions(tmp_path):
    url = f"sqlite:///{tmp_path / 'cap.db'}"
    engine = make_engine(url)
    upgrade(engine)
    project_id, label, (case_id, *_) = build(url, 1)
    with session(engine) as s:
        r0, r1, r2 = (get_user(s, f"reader{i}") for i in range(3))

        def put(user, token):
            return submit(
                s, user, project_id, case_id, answers={label: Answer(True, 100)}, token=token
            )

        put(r0, "a")
        put(r1, "b")
        put(r0, "a2")  # an edit is not a new reader
        assert s.exec(select(CaseReaders.readers).where(CaseReaders.case_id == case_id)).one() == 2
        with pytest.raises(PermissionDenied, match="readers"):
            put(r2, "c")
        delete_reading(s, r1, project_id, case_id, token="b-del")
        assert s.exec(select(CaseReaders.readers).where(CaseReaders.case_id == case_id)).one() == 1
        put(r2, "c2")  # the freed place can be taken
        with pytest.raises(PermissionDenied):
            put(r1, "b3")  # the deleted reader is a new reader again, and the case is full
        assert s.exec(select(CaseReaders.readers).where(CaseReaders.case_id == case_id)).one() == 2
    engine.dispose()


def test_the_database_refuses_even_when_the_queue_check_is_skipped(tmp_path, monkeypatch):
    """The queue is only a hint; the conditional UPDATE is what holds."""
    import importlib

    from markit_core.annotation.queue import Queue

    submit_module = importlib.import_module("markit_core.annotation.submit")

    url = f"sqlite:///{tmp_path / 'skip.db'}"
    engine = make_engine(url)
    upgrade(engine)
    project_id, label, (case_id, *_) = build(url, 1)
    monkeypatch.setattr(
        submit_module, "build_queue", lambda *a, **k: Queue((case_id,), frozenset())
    )
    with session(engine) as s:
        for i in range(CAP):
            submit(
                s,
                get_user(s, f"reader{i}"),
                project_id,
                case_id,
                answers={label: Answer(True, 100)},
                token=f"t{i}",
            )
        with pytest.raises(PermissionDenied):
            submit(
                s,
                get_user(s, "reader7"),
                project_id,
                case_id,
                answers={label: Answer(True, 100)},
                token="t7",
            )
    engine.dispose()
