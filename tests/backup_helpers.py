"""Shared by the SQLite and PostgreSQL backup tests: data to back up, and writes during it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from markit_core.accounts import create_user
from markit_core.config import Settings
from markit_core.db import session as new_session
from markit_core.imaging.ingest import ingest
from markit_core.models import Case, User
from tests.conftest import PASSWORD
from tests.imaging_fixtures import png_bytes


def ingest_pngs(session: Session, settings: Settings, user: User, project_id: int, seeds) -> None:
    items = [(f"img{seed}.png", png_bytes(seed)) for seed in seeds]
    report = ingest(session, settings, user, project_id, items)
    assert len(report.ingested) == len(items), report


@dataclass
class Writer:
    """Creates accounts and ingests images in a thread until stopped."""

    engine: Engine
    settings: Settings
    admin: User
    uploader: User
    project_id: int
    done: int = 0
    errors: list[BaseException] = field(default_factory=list)


@contextmanager
def writes_going_on(writer: Writer) -> Iterator[Writer]:
    """Run ``writer`` in another thread for the duration of the block (after its first write)."""
    stop = threading.Event()
    started = threading.Event()

    def loop() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1
                with new_session(writer.engine) as s:
                    create_user(s, writer.admin, f"writer{n}", PASSWORD)
                    ingest_pngs(s, writer.settings, writer.uploader, writer.project_id, [1000 + n])
                writer.done = n
                started.set()
        except BaseException as e:  # surfaced by the test
            writer.errors.append(e)
            started.set()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    started.wait(60)
    try:
        yield writer
    finally:
        stop.set()
        thread.join(60)
    assert not writer.errors, writer.errors


def case_files(session: Session) -> set[str]:
    return set(session.exec(select(Case.stored_path)).all())


def count_cases(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Case)).one())
