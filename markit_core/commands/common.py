"""Helpers shared by the database-backed CLI commands."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from markit_core.accounts import first_admin, get_user
from markit_core.config import Settings, load_settings
from markit_core.db import open_database
from markit_core.db import session as new_session
from markit_core.models import User


def add_actor_option(parser: argparse.ArgumentParser) -> None:
    """``--as USERNAME``: whose permissions the command uses."""
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USERNAME",
        help="act as this user (default: the first administrator)",
    )


def settings_from_env() -> Settings:
    return load_settings()


@contextmanager
def db_session() -> Iterator[tuple[Session, Settings]]:
    """Open the configured database (upgrading its schema) and yield a session."""
    settings = settings_from_env()
    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            yield s, settings
    finally:
        engine.dispose()


def actor(session: Session, args: argparse.Namespace) -> User:
    """The user named by ``--as``, or the first admin."""
    name = getattr(args, "as_user", None)
    return get_user(session, name) if name else first_admin(session)
