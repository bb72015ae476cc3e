"""A benchmark's own throw-away database, whatever ``MARKIT_*`` says.

``Settings()`` reads ``MARKIT_DATABASE_URL`` from the environment, so a
benchmark that only changes ``data_dir`` would write its thousands of rows
into the configured (perhaps production) database. Every benchmark that needs
a database takes its settings from :func:`temp_settings`, and one that starts
subprocesses or the app calls :func:`isolate_environment` first.
"""

from __future__ import annotations

import os
from pathlib import Path

from markit_core.config import Settings

__all__ = ["isolate_environment", "temp_settings"]


def temp_settings(folder: Path, database_url: str | None = None) -> Settings:
    """Settings whose data folder (and SQLite database) live in ``folder``.

    ``database_url``: a database the benchmark started itself (e.g. its own PostgreSQL);
    never the configured one.
    """
    folder = Path(folder)
    url = database_url or f"sqlite:///{(folder / 'markit.db').resolve()}"
    return Settings(data_dir=folder, database_url=url)


def isolate_environment(data_dir: Path) -> dict[str, str]:
    """Point this process (and children it starts) at ``data_dir``; return the new env.

    ``MARKIT_DATABASE_URL`` is removed, so the default SQLite file inside
    ``data_dir`` is used.
    """
    os.environ.pop("MARKIT_DATABASE_URL", None)
    os.environ["MARKIT_DATA_DIR"] = str(data_dir)
    return dict(os.environ)
