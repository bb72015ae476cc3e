"""Backup (pg_dump on an exported snapshot) and restore (pg_restore) on a real PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from markit_core.accounts import create_user, get_user
from markit_core.cli import main
from markit_core.config import Settings
from markit_core.db import make_engine, open_database
from markit_core.db import session as new_session
from markit_core.errors import ValidationError
from markit_core.models import Role
from markit_core.operations import backup, check_restored, restore
from markit_core.projects import create_project, grant_role
from tests.backup_helpers import Writer, case_files, count_cases, ingest_pngs, writes_going_on
from tests.conftest import PASSWORD
from tests.servers import postgres_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


def _new_database(pg_url: str, name: str) -> str:
    admin = make_engine(pg_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def live(pg_url, tmp_path):
    """A populated installation on PostgreSQL: admin, uploader, a project with 3 images."""
    settings = Settings(data_dir=tmp_path / "live", database_url=_new_database(pg_url, "live"))
    engine = open_database(settings)
    with new_session(engine) as s:
        create_user(s, None, "root", PASSWORD, is_admin=True)
        root = get_user(s, "root")
        create_user(s, root, "up", PASSWORD)
        project = create_project(s, root, "PG backup")
        grant_role(s, root, project.id, "up", Role.DATA_OWNER)
        up = get_user(s, "up")
        ingest_pngs(s, settings, up, project.id, range(3))
    yield settings, engine, root, up, project.id
    engine.dispose()


def test_pg_backup_while_writing_then_restore_verifies(live, pg_url, tmp_path):
    settings, engine, root, up, project_id = live
    with writes_going_on(Writer(engine, settings, root, up, project_id)):
        manifest = backup(engine, settings, root, tmp_path / "bk")
    assert manifest["backend"] == "postgresql"
    assert (tmp_path / "bk" / "database.pgdump").stat().st_size > 0

    target = Settings(data_dir=tmp_path / "r", database_url=_new_database(pg_url, "restored"))
    r_engine = make_engine(target.resolved_database_url)
    try:
        restored = restore(r_engine, target.store_dir, tmp_path / "bk")
        with new_session(r_engine) as s:
            check = check_restored(s, get_user(s, "root"), restored)
            assert check.ok, (check.verify.problem, check.expected, check.found)
            paths = case_files(s)
            assert count_cases(s) >= 3
        assert {f"{p.parent.name}/{p.name}" for p in target.store_dir.rglob("*.png")} == paths
        # restoring again over data is refused, forced it replaces it
        with pytest.raises(ValidationError, match="has tables"):
            restore(r_engine, target.store_dir, tmp_path / "bk")
        again = restore(r_engine, target.store_dir, tmp_path / "bk", force=True)
        with new_session(r_engine) as s:
            assert check_restored(s, get_user(s, "root"), again).ok
    finally:
        r_engine.dispose()


def test_pg_cli_backup_and_restore(live, pg_url, tmp_path, monkeypatch, capsys):
    settings = live[0]
    monkeypatch.setenv("MARKIT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MARKIT_DATA_DIR", str(settings.data_dir))
    assert main(["backup", str(tmp_path / "bk"), "--json"]) == 0
    made = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert made["images"] == 3

    monkeypatch.setenv("MARKIT_DATABASE_URL", _new_database(pg_url, "cli_restored"))
    monkeypatch.setenv("MARKIT_DATA_DIR", str(tmp_path / "restored"))
    assert main(["restore", str(tmp_path / "bk"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] and out["found"] == made["ledger"]
