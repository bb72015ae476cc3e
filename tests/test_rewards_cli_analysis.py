"""Issue 14 in the ``rewards`` command: partial AI files, diagnostics, intervals, rules, times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from markit_core.commands.rewards import main
from tests.test_rewards_cli import REPO, annotations_csv, times_csv, write


def run_json(capsys, *args: str) -> dict:
    assert main(["rewards", *args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def partial_ai(tmp_path: Path) -> Path:
    """AI for effusion only, with a blank cell on image 3; pneumothorax rows all blank."""
    rows = ["case_id,label,ai_probability"]
    rows += [f"img{j + 1},effusion,{p}" for j, p in enumerate([0.9, 0.2, "", 0.8])]
    rows += [f"img{j + 1},pneumothorax," for j in range(4)]
    return write(tmp_path / "AI.csv", "\n".join(rows) + "\n")


def test_blank_ai_cells_are_accepted_and_reported(tmp_path, capsys) -> None:
    a = annotations_csv(tmp_path)
    out = run_json(
        capsys, "--annotations", str(a), "--ai", str(partial_ai(tmp_path)), "--budget", "100"
    )
    qc = out["quality_control"]
    assert qc["labels"]["pneumothorax"]["status"] == "no AI reference: quality control not applied"
    assert qc["labels"]["effusion"]["ai_items"] == 3
    # AI effusion on images 1, 2, 4: T F T. A answered T T F there (kappa -0.5), B T T T
    # (kappa 0): both excluded; C (T F F, kappa 0.4) is kept.
    assert [(e["annotator"], e["label"]) for e in out["excluded"]] == [
        ("A", "effusion"),
        ("B", "effusion"),
    ]
    e = qc["exclusions"][0]
    assert e["shared_items"] == 3 and e["kappa"] == pytest.approx(-0.5)
    assert e["ci_low"] <= e["kappa"] <= e["ci_high"]
    assert any(w.startswith("rare label") for w in e["warnings"])
    assert out["cohen_kappa_vs_ai"]["pneumothorax"] == {"A": None, "B": None, "C": None}


def test_json_has_intervals_and_time_table(tmp_path, capsys) -> None:
    a = annotations_csv(tmp_path, seconds=True)
    out = run_json(capsys, "--annotations", str(a), "--budget", "100", "--bootstrap", "200")
    assert out["rewards"] == pytest.approx({"A": 50, "B": 25, "C": 25})
    assert set(out["reward_ci"]) == {"A", "B", "C"}
    for name, (low, high) in out["reward_ci"].items():
        assert low <= out["rewards"][name] <= high
        rlo, rhi = out["rank_ci"][name]
        assert 1 <= rlo <= rhi <= 3
    assert out["bootstrap"]["resamples"] == 200 and out["bootstrap"]["seed"] == 0
    table = out["time_table"]
    assert table["overall"]["mean"] == pytest.approx(7.5) and table["overall"]["n"] == 24
    assert table["by_label"]["effusion"]["mean"] == pytest.approx(5.0)
    again = run_json(capsys, "--annotations", str(a), "--budget", "100", "--bootstrap", "200")
    assert again["reward_ci"] == out["reward_ci"]
    other = run_json(
        capsys, "--annotations", str(a), "--budget", "100", "--bootstrap", "200", "--seed", "7"
    )
    assert other["bootstrap"]["seed"] == 7
    none = run_json(capsys, "--annotations", str(a), "--bootstrap", "0")
    assert "reward_ci" not in none and "rule_comparison" not in none


def test_compare_rules_with_adjudication(tmp_path, capsys) -> None:
    a = annotations_csv(tmp_path)
    adj = write(tmp_path / "ADJ.csv", "case_id,label,value\nimg4,pneumothorax,true\n")
    args = ["--annotations", str(a), "--label-times", str(times_csv(tmp_path)), "--budget", "100"]
    out = run_json(capsys, *args, "--compare-rules", "--adjudication", str(adj))
    rules = out["rule_comparison"]
    assert list(rules) == ["majority", "dawid_skene", "adjudication"]
    assert rules["majority"]["rewards"] == pytest.approx({"A": 50, "B": 25, "C": 25})
    assert rules["adjudication"]["rewards"] != rules["majority"]["rewards"]
    assert out["rewards"] == rules["majority"]["rewards"]  # the run itself keeps its rule
    plain = run_json(capsys, *args, "--compare-rules")
    assert plain["rule_comparison"]["adjudication"]["error"] == "no adjudications recorded"


def test_trusted_ai_only_flag(tmp_path, capsys) -> None:
    a = annotations_csv(tmp_path)
    ai = str(partial_ai(tmp_path))
    args = ["--annotations", str(a), "--ai", ai, "--bootstrap", "50", "--trust-level", "0.5"]
    paper = run_json(capsys, *args)
    gated = run_json(capsys, *args, "--trusted-ai-only")
    # The AI's kappa vs the consensus (C alone) on effusion is 0.4 < 0.5: the gate lifts
    # the exclusions of A and B there.
    assert paper["quality_control"]["labels"]["effusion"]["ai_trusted"] is False
    assert paper["excluded"] and gated["excluded"] == []
    assert gated["parameters"]["trusted_ai_only"] is True
    assert gated["quality_control"]["exclusions"][0]["applied"] is False
    strict = run_json(
        capsys, "--annotations", str(a), "--ai", ai, "--trusted-ai-only", "--trust-level", "-1"
    )  # every AI is trusted at -1: the paper's exclusions
    assert strict["excluded"] == paper["excluded"]


def test_text_output_and_bad_options(tmp_path, capsys) -> None:
    a = annotations_csv(tmp_path, seconds=True)
    assert main(["rewards", "--annotations", str(a), "--ai", str(partial_ai(tmp_path))]) == 0
    text = capsys.readouterr().out
    assert "95% intervals (1000 bootstrap resamples over cases)" in text
    assert "no AI reference: quality control not applied" in text
    assert "mean labelling time: overall 7.50" in text
    assert main(["rewards", "--annotations", str(a), "--bootstrap", "-1"]) == 2
    assert "--bootstrap" in capsys.readouterr().err
    assert main(["rewards", "--annotations", str(a), "--trust-level", "3"]) == 2
    assert "trust level" in capsys.readouterr().err


def test_cli_process_json_key(tmp_path) -> None:
    a = annotations_csv(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "markit_core", "rewards", "--annotations", str(a), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert set(json.loads(proc.stdout)["reward_ci"]) == {"A", "B", "C"}
