"""kill -9 in the middle of a submit and of a reward run (issue 13, point 5).

A real process does the work and is killed at its first commit, then again in a
new process at its second, and so on until a process finishes: so a change
split over several transactions would be caught between them. After each kill
the database holds no record without its ledger entry (nor an entry without its
record), the ledger verifies, and doing the same again completes. The ingest
case is ``tests/test_store_recovery.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlmodel import func, select

from markit_core import ledger
from markit_core.models import Annotation, LedgerEntry, RewardRun, Role
from markit_core.projects import grant_role
from tests.conftest import database_env
from tests.review_helpers import build_example, read

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kill -9")

REPO = Path(__file__).resolve().parents[1]

# Runs in the child: let ``passes`` commits through, stop at the next one (its work
# flushed, not committed) until killed; print "done" if the work finishes first.
_CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from sqlmodel import Session
from markit_core.config import load_settings
from markit_core.db import open_database, session
from markit_core.accounts import get_user

real_commit, seen = Session.commit, []

def stop_at_commit(self):
    if len(seen) < {passes}:
        seen.append(1)
        return real_commit(self)
    self.flush()
    print("committing", flush=True)
    time.sleep(600)  # killed here

engine = open_database(load_settings())
with session(engine) as s:
    actor = get_user(s, {actor!r})
    Session.commit = stop_at_commit
{work}
print("done", flush=True)
"""


def _kill_at_commit(settings, actor: str, work: str, passes: int) -> bool:
    """Run ``work`` in a child killed at commit number ``passes + 1``; False if it finished."""
    script = _CHILD.format(
        repo=str(REPO), actor=actor, passes=passes, work=textwrap.indent(work, "    ")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKIT_")}
    env.update(database_env(settings))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        said = proc.stdout.readline().strip()
        if said == "done":
            assert proc.wait(timeout=60) == 0
            return False
        assert said == "committing", said
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _kill_at_every_commit(settings, actor: str, work: str, check) -> int:
    """Kill the work at its 1st, 2nd, ... commit, ``check()`` after each; the kills made."""
    for passes in range(10):
        if not _kill_at_commit(settings, actor, work, passes):
            return passes
        check()
    raise AssertionError("the work never finished")


def _entries(session) -> int:
    return session.exec(select(func.count()).select_from(LedgerEntry)).one()


@pytest.fixture
def ex(session, settings, make_user, make_project):
    return build_example(session, settings, make_user, make_project)


@pytest.mark.timeout(300)
def test_kill_during_submit_leaves_nothing_and_the_submit_can_be_repeated(
    session, settings, ex, make_user
):
    late = make_user("ann_d")
    grant_role(session, ex.owner, ex.project.id, "ann_d", Role.ANNOTATOR)
    case_id, label = ex.cases[0], ex.labels["effusion"]
    before = _entries(session)
    work = f"""
from markit_core.annotation.submit import Answer, submit
submit(s, actor, {ex.project.id}, {case_id}, answers={{{label}: Answer(True, 80)}}, token="kill-1")
"""
    mine = select(Annotation).where(Annotation.annotator_id == late.id)

    def nothing_half_made() -> None:
        session.expire_all()
        assert session.exec(mine).all() == []
        assert _entries(session) == before
        assert ledger.integrity(session, ex.project.id).ok

    assert _kill_at_every_commit(settings, "ann_d", work, nothing_half_made) >= 1
    session.expire_all()
    stored = session.exec(mine).one()  # the last child finished: exactly one reading
    assert stored.case_id == case_id and _entries(session) == before + 1
    assert ledger.integrity(session, ex.project.id).ok
    # the same submit again (same token) is not stored twice
    read(session, late, ex.project.id, case_id, {label: True}, confidence=80, token="kill-1")
    assert len(session.exec(mine).all()) == 1 and _entries(session) == before + 1


@pytest.mark.timeout(300)
def test_kill_during_a_reward_run_stores_no_run_and_the_run_can_be_repeated(session, settings, ex):
    before = _entries(session)
    work = f"""
from markit_core.rewards.runs import run_rewards
run_rewards(s, actor, {ex.project.id}, budget=100, currency="tokens", n_resamples=50)
"""

    def nothing_half_made() -> None:
        session.expire_all()
        assert session.exec(select(RewardRun)).all() == []
        assert _entries(session) == before
        assert ledger.integrity(session, ex.project.id).ok

    assert _kill_at_every_commit(settings, ex.owner.username, work, nothing_half_made) >= 1
    session.expire_all()
    (run,) = session.exec(select(RewardRun)).all()
    assert sum(run.result["rewards"].values()) == pytest.approx(100)
    assert _entries(session) == before + 1
    assert ledger.integrity(session, ex.project.id).ok
