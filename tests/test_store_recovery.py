"""Nothing half-made after a crash (issue 9, point 14).

A process killed during ingest can leave a ``.tmp-*`` file (killed while
writing) or a stored file without a case row (killed between the rename and
the commit). The next start (``open_database``) or ingest removes them, and
never what a live ingest is writing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlmodel import select

from markit_core.db import open_database
from markit_core.imaging.ingest import ingest
from markit_core.imaging.recovery import ingest_lock, recover_store
from markit_core.imaging.store import ImageStore
from markit_core.models import Case
from tests.conftest import database_env
from tests.imaging_fixtures import ImagingProject, png_bytes

REPO = Path(__file__).resolve().parents[1]


def _store_files(settings) -> set[str]:
    root = settings.store_dir
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _leftovers(settings) -> tuple[Path, str]:
    """What a kill leaves: a half-written temporary file and a stored file with no row."""
    store = ImageStore.from_settings(settings)
    orphan = store.put(png_bytes(99), ".png")
    shard = store.root / orphan.relpath.split("/")[0]
    tmp = shard / ".tmp-crashed"
    tmp.write_bytes(b"\x89PNG half a file")
    return tmp, orphan.relpath


def _referenced(session) -> set[str]:
    return set(session.exec(select(Case.stored_path)).all())


def test_next_start_removes_leftovers_and_keeps_cases(session, settings, imaging: ImagingProject):
    report = ingest(session, settings, imaging.owner, imaging.project_id, [("a.png", png_bytes(1))])
    (kept,) = [o.case_id for o in report.ingested]
    tmp, orphan = _leftovers(settings)
    assert orphan in _store_files(settings) and tmp.exists()

    open_database(settings).dispose()  # the next app start or CLI command

    assert not tmp.exists()
    assert _store_files(settings) == _referenced(session)
    assert session.get(Case, kept).stored_path in _store_files(settings)


def test_next_ingest_removes_leftovers(session, settings, imaging: ImagingProject):
    tmp, orphan = _leftovers(settings)
    report = ingest(session, settings, imaging.owner, imaging.project_id, [("b.png", png_bytes(2))])
    assert len(report.ingested) == 1
    assert not tmp.exists() and orphan not in _store_files(settings)
    assert _store_files(settings) == _referenced(session)
    assert not any(p.name.startswith(".tmp-") for p in settings.store_dir.rglob("*"))


def test_an_orphan_is_reused_when_its_image_comes_again(session, settings, imaging):
    _, orphan = _leftovers(settings)
    with ingest_lock(ImageStore.from_settings(settings)):  # as if another ingest were running
        report = ingest(
            session, settings, imaging.owner, imaging.project_id, [("c.png", png_bytes(99))]
        )
    (case_id,) = report.case_ids
    assert session.get(Case, case_id).stored_path == orphan
    images = {f for f in _store_files(settings) if "/.tmp-" not in f}
    assert images == _referenced(session)  # the recent .tmp file waits for a quiet moment


def test_a_running_ingest_keeps_its_recent_files(session, settings):
    """While another ingest holds the lock, only old leftovers go; a locked writer's file stays."""
    import fcntl

    store = ImageStore.from_settings(settings)
    tmp, orphan = _leftovers(settings)
    live = tmp.with_name(".tmp-live")
    live_fh = open(live, "wb")  # noqa: SIM115 - a writer that is still writing
    fcntl.flock(live_fh.fileno(), fcntl.LOCK_EX)
    try:
        with ingest_lock(store):
            result = recover_store(session, store)
            assert not result.exclusive and (result.temporary_files, result.orphan_files) == (0, 0)
            assert tmp.exists() and orphan in _store_files(settings)
            old = time.time() - 3600
            for path in (tmp, live, store.path_of(orphan)):
                os.utime(path, (old, old))
            result = recover_store(session, store)
            assert (result.temporary_files, result.orphan_files) == (1, 1)
            assert not tmp.exists() and live.exists()  # its writer holds the lock
    finally:
        live_fh.close()
    assert recover_store(session, store).exclusive
    assert not live.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9")
def test_kill_minus_nine_mid_ingest_then_restart(session, settings, imaging: ImagingProject):
    """A real ingest process killed while its file is renamed into place but not committed."""
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from markit_core.config import load_settings
        from markit_core.db import open_database, session
        from markit_core.accounts import get_user
        from markit_core.imaging import store as store_module
        from markit_core.imaging.ingest import ingest
        from tests.imaging_fixtures import png_bytes

        real_replace = os.replace
        def replace_then_hang(src, dst):
            real_replace(src, dst)
            print("renamed", flush=True)
            time.sleep(600)  # killed here: file in place, no case row
        store_module.os.replace = replace_then_hang
        settings = load_settings()
        engine = open_database(settings)
        with session(engine) as s:
            owner = get_user(s, {imaging.owner.username!r})
            ingest(s, settings, owner, {imaging.project_id}, [("k.png", png_bytes(7))])
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKIT_")}
    env.update(database_env(settings))  # the test's database, SQLite or PostgreSQL
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "renamed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(_store_files(settings)) == 1 and not _referenced(session)
    open_database(settings).dispose()
    assert _store_files(settings) == set()
