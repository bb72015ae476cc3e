"""Shared fixtures: a fresh database per test, and user/project factories.

The database is SQLite by default. With ``--backend postgres`` (or
``MARKIT_TEST_BACKEND=postgres``) the same tests run against one real
PostgreSQL server started for the session (``tests/servers.py``), each test in
its own database created from a migrated template database
(``CREATE DATABASE ... TEMPLATE``) and dropped afterwards. Tests that are about
SQLite itself carry ``@pytest.mark.sqlite_only`` and are skipped there.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
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

BACKENDS = ("sqlite", "postgres")
PG_TEMPLATE = "markit_template"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("MARKIT_TEST_BACKEND") or "sqlite",
        help="database of the core fixtures (default: MARKIT_TEST_BACKEND or sqlite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: about SQLite itself; skipped on PostgreSQL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--backend") != "postgres":
        return
    skip = pytest.mark.skip(reason="SQLite-specific (run with --backend sqlite)")
    for item in items:
        if "sqlite_only" in item.keywords:
            item.add_marker(skip)


def database_env(settings: Settings) -> dict[str, str]:
    """``MARKIT_*`` variables that make a subprocess or the app use ``settings``' database."""
    env = {"MARKIT_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["MARKIT_DATABASE_URL"] = settings.database_url
    return env


@pytest.fixture(autouse=True)
def _keep_the_main_module() -> Iterator[None]:
    """Streamlit's AppTest leaves ``sys.modules["__main__"]`` set to ``app.py``.

    A process started with ``multiprocessing``'s spawn re-runs ``__main__``,
    so after an AppTest it would open the app's database instead of its work.
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """Same argon2id, lower cost: tests create hundreds of accounts."""
    accounts.configure_hashing(time_cost=1, memory_cost_kib=1024)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory, backend: str) -> Path:
    """A SQLite file migrated to head once; each test starts from a copy."""
    path = tmp_path_factory.mktemp("template") / "markit.db"
    if backend != "sqlite":
        return path  # not made: the PostgreSQL template database stands in for it
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """The database the core fixtures use: "sqlite" or "postgres"."""
    return str(request.config.getoption("--backend"))


@pytest.fixture(scope="session")
def pg_admin(backend: str) -> Iterator[Engine | None]:
    """On PostgreSQL: an AUTOCOMMIT engine on the server's maintenance database, with the
    migrated template database made once; None on SQLite."""
    if backend != "postgres":
        yield None
        return
    from tests.servers import postgres_server

    with postgres_server() as url:
        admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {PG_TEMPLATE}"))
        template = make_engine(_pg_database_url(admin, PG_TEMPLATE))
        upgrade(template)
        template.dispose()  # a template must have no connections when it is copied
        yield admin
        admin.dispose()


def _pg_database_url(admin: Engine, name: str) -> str:
    return make_url(admin.url).set(database=name).render_as_string(hide_password=False)


_pg_numbers = itertools.count(1)


@pytest.fixture
def settings(
    tmp_path: Path, migrated_template: Path, pg_admin: Engine | None
) -> Iterator[Settings]:
    """Settings pointing every file the app writes into this test's tmp dir.

    The database starts as a copy of the migrated template (``open_database``
    still runs the upgrade, which finds nothing to do): a copied SQLite file, or
    on PostgreSQL a database created from the template database.
    """
    data = tmp_path / "data"
    data.mkdir()
    if pg_admin is None:
        shutil.copy(migrated_template, data / "markit.db")
        yield Settings(data_dir=data)
        return
    name = f"test_{os.getpid()}_{next(_pg_numbers)}"
    with pg_admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {PG_TEMPLATE}"))
    yield Settings(data_dir=data, database_url=_pg_database_url(pg_admin, name))
    with pg_admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


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
