"""The command line: every subcommand honours MARKIT_DATA_DIR / MARKIT_DATABASE_URL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from markit_core.cli import build_parser, main

ROOT = Path(__file__).parent.parent


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)
    return tmp_path / "data"


def _create_user(monkeypatch, *args: str, password: str = "a good password") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["create-user", *args, "--password-stdin"])


def test_every_command_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"create-user", "create-project", "stats", "demo", "ledger"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_admin_project_summary_flow(env, monkeypatch, capsys):
    assert _create_user(monkeypatch, "boss") == 0
    assert "administrator 'boss'" in capsys.readouterr().out
    assert _create_user(monkeypatch, "alice") == 0  # created by the first admin (default --as)
    assert main(["create-project", "Lung study", "--owner", "alice"]) == 0
    capsys.readouterr()
    assert main(["stats", "--project", "Lung study", "--json", "--as", "alice"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["members_by_role"]["owner"] == 1
    assert stats["cases"] == 0 and stats["annotations"] == 0
    assert (env / "markit.db").exists()


def test_create_project_with_a_copied_label_set(env, monkeypatch, capsys):
    _create_user(monkeypatch, "boss")
    capsys.readouterr()
    assert main(["create-project", "Chest", "--labels-from", "template:chest-xray-7"]) == 0
    assert "created project 'Chest' (id 1), 7 labels" in capsys.readouterr().out
    assert main(["create-project", "Copy", "--labels-from", "project:Chest"]) == 0
    assert "(id 2), 7 labels" in capsys.readouterr().out
    assert main(["create-project", "X", "--labels-from", "project:Nope"]) == 2
    assert "project 'Nope' not found" in capsys.readouterr().err
    assert main(["create-project", "Y", "--labels-from", "template:mri"]) == 2
    assert "unknown label template" in capsys.readouterr().err


def test_errors_are_one_line_and_exit_2(env, monkeypatch, capsys):
    _create_user(monkeypatch, "boss")
    _create_user(monkeypatch, "alice")
    capsys.readouterr()
    assert main(["create-project", "P", "--owner", "ghost"]) == 2
    assert "unknown user 'ghost'" in capsys.readouterr().err
    assert main(["create-project", " "]) == 2
    assert "project name is empty" in capsys.readouterr().err
    assert main(["create-project", "P", "--as", "alice"]) == 1  # MARKIT_PROJECT_CREATORS=admins
    assert "only a site administrator may create projects" in capsys.readouterr().err
    monkeypatch.setenv("MARKIT_PROJECT_CREATORS", "everyone")
    assert main(["create-project", "P", "--as", "alice"]) == 0
    assert main(["create-project", "p", "--as", "alice"]) == 2
    assert "is not available" in capsys.readouterr().err
    assert main(["create-project", "Q", "--as", "alice", "--owner", "boss"]) == 1
    assert "only an administrator" in capsys.readouterr().err
    assert _create_user(monkeypatch, "bob", "--as", "alice") == 1
    assert main(["stats", "--project", "P", "--as", "boss"]) == 0


def test_demo_is_idempotent_and_prints_accounts_once(env, capsys):
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "DEMO ONLY" in first and "ann1" in first
    assert main(["demo"]) == 0
    second = capsys.readouterr().out
    assert "DEMO ONLY" not in second and "already present" in second
    assert main(["stats", "--project", "Demo: chest X-ray", "--json", "--as", "pi"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["labels"] == 7
    assert stats["members_by_role"]["annotator"] == 4
    assert main(["ledger", "verify"]) == 0


def test_module_entry_point_honours_database_url(tmp_path):
    db = tmp_path / "elsewhere.db"
    env = os.environ | {
        "MARKIT_DATABASE_URL": f"sqlite:///{db}",
        "MARKIT_DATA_DIR": str(tmp_path / "d"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "markit_core", "create-user", "root", "--password-stdin"],
        input="a good password\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert db.exists() and not (tmp_path / "d" / "markit.db").exists()
    assert "a good password" not in run.stdout + run.stderr


def test_export_feeds_the_rewards_command(env, tmp_path, capsys):
    assert main(["demo"]) == 0
    out = tmp_path / "answers.csv"
    assert main(["export", "--project", "Demo: chest X-ray", "--as", "pi", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "case_id,label,annotator,value,confidence,seconds"
    assert len(lines) - 1 == (24 * 4 - 2) * 7  # every simulated answer of the demo
    capsys.readouterr()
    assert main(["rewards", "--annotations", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rewards"]["ann4"] < min(result["rewards"][a] for a in ("ann1", "ann2", "ann3"))
    assert main(["export", "--project", "Demo: chest X-ray", "--as", "ann1"]) == 1  # not allowed
    assert main(["ledger", "verify"]) == 0
