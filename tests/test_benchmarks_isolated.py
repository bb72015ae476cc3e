"""Benchmarks never touch the configured database (issue 9, point 15)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((REPO / "benchmarks").glob("*.py"))


def _sentinel_env(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    sentinel_db = tmp_path / "configured" / "production.db"
    sentinel_data = tmp_path / "configured-data"
    env = {
        **os.environ,
        "MARKIT_DATABASE_URL": f"sqlite:///{sentinel_db}",
        "MARKIT_DATA_DIR": str(sentinel_data),
    }
    return env, sentinel_db, sentinel_data


def test_ledger_benchmark_uses_its_own_database(tmp_path: Path) -> None:
    env, sentinel_db, sentinel_data = _sentinel_env(tmp_path)
    res = subprocess.run(
        [sys.executable, "benchmarks/ledger.py", "--appends", "20", "--verify-entries", "50"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    figures = json.loads(res.stdout.strip().splitlines()[-1])
    assert figures["appends_per_s"] > 0
    assert not sentinel_db.exists() and not sentinel_db.parent.exists()
    assert not sentinel_data.exists()


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_no_benchmark_builds_settings_from_the_environment(path: Path) -> None:
    """A bare ``Settings(...)``/``load_settings()`` would pick up MARKIT_DATABASE_URL."""
    text = path.read_text(encoding="utf-8")
    if path.name == "isolated.py":
        return
    assert not re.search(r"\b(Settings|load_settings)\(", text), (
        f"{path.name}: use benchmarks.isolated.temp_settings for a database"
    )
    if "MARKIT_DATA_DIR" in text:  # it points the app or a child process at a data folder
        assert "MARKIT_DATABASE_URL" in text or "isolate_environment" in text, path.name


@pytest.mark.integration
def test_scale_benchmark_runs_small_on_its_own_postgres(tmp_path: Path) -> None:
    """benchmarks/scale.py stays runnable: a tiny project on its own throw-away PostgreSQL."""
    from tests.servers import missing

    env, sentinel_db, sentinel_data = _sentinel_env(tmp_path)
    res = subprocess.run(
        [sys.executable, "benchmarks/scale.py", "--cases", "40", "--baseline-cases", "10"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    figures = json.loads(res.stdout.strip().splitlines()[-1])
    if figures.get("skipped"):
        missing("PostgreSQL (initdb, pg_ctl)")
    for key in (
        "next_case_ms",
        "heatmap_s",
        "heatmap_after_submit_s",
        "snapshot_build_s",
        "rewards_s",
        "export_s",
        "peak_rss_mb",
    ):
        assert figures[key] > 0, key
    assert figures["answers"] == 40 * 4 * 25 + 1 * 25  # 4 readers on all, the 5th on 1 case
    assert figures["export_rows"] == figures["answers"] + figures["answers_added"]
    assert not sentinel_db.exists() and not sentinel_data.exists()
