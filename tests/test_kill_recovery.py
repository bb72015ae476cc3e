"""kill -9 in the middle of an ingest, a submit and a reward run (issue 13, point 5).

A real process does the work and is killed at its first commit, then again in a
new process at its second, and so on until a process finishes: so a change
split over several transactions would be caught between them. After each kill
the database holds no record without its ledger entry (nor an entry without its
record), the ledger verifies, and doing the same again completes. How the image store
is cleaned after a kill between writing a file and committing its case is
``tests/test_store_recovery.py``.
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
from markit_core.db import open_database
from markit_core.imaging.ingest import ingest
from markit_core.models import Annotation, Case, CaseOrigin, LedgerEntry, RewardRun, Role
from markit_core.projects import grant_role
from tests.conftest import database_env
from tests.imaging_fixtures import ImagingProject, dicom_bytes, identified_dicom, png_bytes
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


@pytest.mark.timeout(300)
def test_kill_during_ingest_leaves_no_half_made_case_and_the_ingest_can_be_repeated(
    session, settings, imaging: ImagingProject
):
    """Each kill stops an ingest with its file stored and its case flushed, not committed."""
    # an image already in the project, so every commit of the work below is a file's
    first = ingest(session, settings, imaging.owner, imaging.project_id, [("0.png", png_bytes(9))])
    assert len(first.ingested) == 1
    work = f"""
from markit_core.config import load_settings
from markit_core.imaging.ingest import ingest
from tests.imaging_fixtures import png_bytes, dicom_bytes, identified_dicom
items = [("a.dcm", dicom_bytes(identified_dicom(seed=5))), ("b.png", png_bytes(3))]
report = ingest(s, load_settings(), actor, {imaging.project_id}, items)
assert not report.refused, report.outcomes
"""
    root = settings.store_dir

    def store_files() -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    def cases() -> list[Case]:
        session.expire_all()
        return session.exec(select(Case).where(Case.project_id == imaging.project_id)).all()

    def whole(expected: int | None = None) -> None:
        """Every case with its origin, stored file and ledger entry; nothing else stored."""
        found = cases()
        ids = {c.id for c in found}
        logged = session.exec(select(LedgerEntry).where(LedgerEntry.action == "case.upload")).all()
        assert {e.record_id for e in logged} == {str(i) for i in ids}
        assert set(session.exec(select(CaseOrigin.case_id)).all()) == ids
        assert store_files() == {c.stored_path for c in found}
        assert ledger.integrity(session, imaging.project_id).ok
        assert expected is None or len(found) == expected

    left: list[set[str]] = []

    def nothing_half_made() -> None:
        left.append(store_files() - {c.stored_path for c in cases()})
        open_database(settings).dispose()  # the next start removes what the kill left
        whole()

    # killed at the first file's commit, then (a re-run) at the second's, the first committed
    assert _kill_at_every_commit(settings, imaging.owner.username, work, nothing_half_made) == 2
    assert all(len(files) == 1 for files in left), left  # each kill: a file stored, its case not
    whole(expected=3)
    entries = _entries(session)
    items = [("a.dcm", dicom_bytes(identified_dicom(seed=5))), ("b.png", png_bytes(3))]
    again = ingest(session, settings, imaging.owner, imaging.project_id, items)
    assert [o.status for o in again.outcomes] == ["duplicate", "duplicate"]
    whole(expected=3)
    assert _entries(session) == entries
