"""Engine and session factory.

SQLite (the default, one file under ``data/``) runs in WAL mode with foreign
keys on and a busy timeout, so the Streamlit server and a CLI can share it.
PostgreSQL works by URL (``postgresql+psycopg://...``) with no code changes.
The schema is owned by Alembic: ``upgrade`` brings any database to head.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, Protocol, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from markit_core.config import Settings

_MIGRATIONS = Path(__file__).parent / "migrations"
P = ParamSpec("P")
R = TypeVar("R")


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI hook
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` (no alembic.ini needed at run time)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: newest); existing rows are kept."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_database(settings: Settings) -> Engine:
    """Create the data folders and an engine, upgrade the schema to head, and remove
    what an interrupted ingest left in the image store (see ``imaging.recovery``)."""
    from markit_core.imaging.recovery import recover_store
    from markit_core.imaging.store import ImageStore

    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    with session(engine) as s:
        recover_store(s, ImageStore.from_settings(settings))
    return engine


def session(engine: Engine) -> Session:
    """A new session; use as ``with session(engine) as s:`` — one per unit of work."""
    return Session(engine, expire_on_commit=False)


def rolls_back(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a service taking the session first: any exception rolls the session back.

    A refused or failed change must not leave half-made objects in the
    session, where the caller's next commit would write them without a
    ledger entry.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BaseException:
            session = args[0] if args else kwargs.get("session")
            if isinstance(session, Session):
                session.rollback()
            raise

    return wrapper


class MissingIdError(RuntimeError):
    """A row was used as a foreign key before the database gave it an id (a bug, not input)."""


def require_id(row: _Row) -> int:
    """The primary key of a stored row; raise ``MissingIdError`` if it has none yet.

    Used instead of ``row.id or 0``: a row that was never flushed must not
    silently become foreign key 0.

    Parameters
    ----------
    row
        Any table row (``User``, ``Project``, ``Case`` ...).

    Returns
    -------
    int
        ``row.id``.

    Raises
    ------
    MissingIdError
        When ``row.id`` is None (the row was not added and flushed).
    """
    if row.id is None:
        raise MissingIdError(
            f"{type(row).__name__} has no id yet: add and flush it before using it as a reference"
        )
    return row.id
