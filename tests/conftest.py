"""Shared fixtures: a fresh SQLite database per test, and user/project factories."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from markit_core import accounts
from markit_core.accounts import create_user, get_user
from markit_core.config import Settings
from markit_core.db import make_engine, open_database, upgrade
from markit_core.db import session as new_session
from markit_core.models import Role, User
from markit_core.projects import ProjectInfo, create_project, grant_role

PASSWORD = "correct horse battery"

pytest_plugins = ["tests.imaging_fixtures"]


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """Same argon2id, lower cost: tests create hundreds of accounts."""
    accounts.configure_hashing(time_cost=1, memory_cost_kib=1024)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once; each test starts from a copy."""
    path = tmp_path_factory.mktemp("template") / "markit.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path) -> Settings:
    """Settings pointing every file the app writes into this test's tmp dir.

    The database starts as a copy of the migrated template (``open_database``
    still runs the upgrade, which finds nothing to do).
    """
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(migrated_template, data / "markit.db")
    return Settings(data_dir=data)


@pytest.fixture
def engine(settings: Settings):
    eng = open_database(settings)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with new_session(engine) as s:
        yield s


@pytest.fixture
def admin(session: Session) -> User:
    """The first account (always an administrator)."""
    create_user(session, None, "root", PASSWORD, is_admin=True)
    return get_user(session, "root")


@pytest.fixture
def make_user(session: Session, admin: User) -> Callable[[str], User]:
    def _make(username: str, **kw) -> User:
        create_user(session, admin, username, PASSWORD, **kw)
        return get_user(session, username)

    return _make


@pytest.fixture
def make_project(session: Session, admin: User) -> Callable[..., ProjectInfo]:
    """Create a project owned by ``owner`` and grant ``members`` {username: [roles]}."""

    def _make(name: str, owner: User, members: dict[str, list[Role]] | None = None) -> ProjectInfo:
        info = create_project(session, admin, name, owner=owner)
        for username, roles in (members or {}).items():
            for role in roles:
                grant_role(session, admin, info.id, username, role)
        return info

    return _make
