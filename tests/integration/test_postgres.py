"""The same services, migrations, ledger and CLI on a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from markit_core import ledger
from markit_core.accounts import create_user, get_user, login
from markit_core.config import Settings
from markit_core.db import current_revision, make_engine, session, upgrade
from markit_core.errors import ConflictError
from markit_core.labels import CHEST_XRAY_LABELS, add_labels, list_labels
from markit_core.models import Role
from markit_core.projects import create_project, grant_role, revoke_role
from tests.servers import postgres_server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent.parent


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_engine(pg_url):
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("drop schema public cascade; create schema public"))
    yield engine
    engine.dispose()


def test_migrations_keep_rows_on_postgres(pg_engine):
    upgrade(pg_engine, "0001")
    with pg_engine.begin() as conn:
        conn.execute(
            text(
                "insert into user_account (username, display_name, password_hash, is_admin, "
                "is_active, is_demo, created_at) values ('old', '', 'x', true, true, false, now())"
            )
        )
    upgrade(pg_engine)
    from alembic.script import ScriptDirectory

    from markit_core.db import alembic_config

    assert (
        current_revision(pg_engine)
        == ScriptDirectory.from_config(alembic_config(pg_engine)).get_current_head()
    )
    assert "annotation" in inspect(pg_engine).get_table_names()
    with pg_engine.connect() as conn:
        assert conn.execute(text("select username from user_account")).scalars().all() == ["old"]


def test_services_and_ledger_on_postgres(pg_engine, tmp_path):
    upgrade(pg_engine)
    settings = Settings(data_dir=tmp_path, database_url=str(pg_engine.url))
    with session(pg_engine) as s:
        create_user(s, None, "admin", "a long password")
        admin = get_user(s, "admin")
        create_user(s, admin, "ann", "a long password")
        project = create_project(s, admin, "PG project")
        add_labels(s, admin, project.id, CHEST_XRAY_LABELS)
        grant_role(s, admin, project.id, "ann", Role.ANNOTATOR)
        with pytest.raises(ConflictError):
            revoke_role(s, admin, project.id, "admin", Role.OWNER)
        assert login(s, settings, "ann", "a long password").username == "ann"
        assert len(list_labels(s, admin, project.id)) == 7
        result = ledger.integrity(s)
        assert result.ok, result.problem
        s.execute(text("update label_def set \"group\" = 'X' where name = 'cardiomegaly'"))
        s.commit()
        broken = ledger.integrity(s)
        assert broken.problem.kind == "record changed"


def test_cli_against_postgres(pg_engine, tmp_path):
    env = os.environ | {
        "MARKIT_DATABASE_URL": pg_engine.url.render_as_string(hide_password=False),
        "MARKIT_DATA_DIR": str(tmp_path),
    }
    demo = subprocess.run(
        [sys.executable, "-m", "markit_core", "demo"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    verify = subprocess.run(
        [sys.executable, "-m", "markit_core", "ledger", "verify"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert not (tmp_path / "markit.db").exists()  # nothing went to SQLite
