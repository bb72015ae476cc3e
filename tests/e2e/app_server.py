"""Seed a demo database and run ``streamlit run app.py`` processes on it, for e2e tests.

Each process listens on 127.0.0.1 only, headless, without usage statistics and
without the file watcher (a source edit elsewhere in the checkout must not
hot-reload the models mid-test). Several processes may share one database and
one data folder, as replicas behind a load balancer do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port, missing, stop, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")


def require_browser() -> None:
    """Skip (locally) or fail (under CI) without Chromium and Playwright's Python package."""
    if not CHROMIUM.exists():
        missing("Chromium (/usr/bin/chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Playwright's Python package (requirements-dev.txt)")


def app_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a MarkIt process: this data folder, and this database (or the
    SQLite file in the data folder when ``database_url`` is None)."""
    env = {**os.environ, "MARKIT_DATA_DIR": str(data_dir)}
    env.pop("MARKIT_DATABASE_URL", None)
    if database_url is not None:
        env["MARKIT_DATABASE_URL"] = database_url
    return env


def seed_demo(env: dict[str, str], timeout: float = 400) -> None:
    """``python -m markit_core demo`` in ``env``; fails the test with its stderr."""
    seeded = subprocess.run(
        [sys.executable, "-m", "markit_core", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr


@dataclass
class AppServer:
    """One ``streamlit run app.py`` process; ``start`` again after ``stop`` reuses the port."""

    env: dict[str, str]
    log_path: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        """Start the process (its output appended to ``log_path``) and wait for its port."""
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamlit",
                    "run",
                    "app.py",
                    "--server.headless",
                    "true",
                    "--server.address",
                    "127.0.0.1",
                    "--server.port",
                    str(self.port),
                    "--browser.gatherUsageStats",
                    "false",
                    "--server.fileWatcherType",
                    "none",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(self.port, timeout=timeout)
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the process if it runs (idempotent)."""
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
