"""The ``rewards`` command: CSV loading, JSON/table output, malformed input -> exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from markit_core.commands.rewards import main
from markit_core.errors import InputFileError
from markit_core.rewards import csv_columns as csv_columns
from markit_core.rewards.csv_input import load_ai_reference, load_annotations, load_label_times

REPO = Path(__file__).resolve().parents[1]

# The worked example of docs/reward-math.md.
PATTERNS = {
    "effusion": ["TTT", "TTF", "FFF", "FTF"],
    "pneumothorax": ["FFF", "TFT", "FFF", "FFT"],
}
SECONDS = {"effusion": 5, "pneumothorax": 10}
WORDS = {True: ["true", "YES", "1", "True"], False: ["false", "no", "0", "FALSE"]}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def annotations_csv(tmp_path: Path, seconds: bool = False) -> Path:
    header = "case_id,label,annotator,value" + (",seconds" if seconds else "")
    lines = [header]
    n = 0
    for label, images in PATTERNS.items():
        for j, pattern in enumerate(images):
            for a, ch in zip("ABC", pattern, strict=True):
                word = WORDS[ch == "T"][n % 4]  # every accepted spelling is used
                n += 1
                row = f"img{j + 1},{label},{a},{word}"
                lines.append(row + (f",{SECONDS[label]}" if seconds else ""))
    return write(tmp_path / "A.csv", "\n".join(lines) + "\n")


def times_csv(tmp_path: Path) -> Path:
    return write(tmp_path / "T.csv", "label,mean_seconds\neffusion,5\npneumothorax,10\n")


def ai_csv(tmp_path: Path) -> Path:
    # Effusion consensus T T F F, pneumothorax F T F F, as probabilities.
    rows = ["case_id,label,ai_probability"]
    for label, probs in (
        ("effusion", [0.9, 0.7, 0.1, 0.4]),
        ("pneumothorax", [0.2, 0.5, 0.0, 0.3]),
    ):
        rows += [f"img{j + 1},{label},{p}" for j, p in enumerate(probs)]
    return write(tmp_path / "AI.csv", "\n".join(rows) + "\n")


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["rewards", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_worked_example_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(
        capsys,
        "--annotations",
        str(annotations_csv(tmp_path)),
        "--label-times",
        str(times_csv(tmp_path)),
        "--budget",
        "100",
    )
    for key in ("rewards", "scores", "excluded", "agreement", "labels", "cohen_kappa_vs_ai"):
        assert key in out
    assert out["rewards"] == pytest.approx({"A": 50, "B": 25, "C": 25})
    assert out["scores"] == pytest.approx({"A": 3.0, "B": 1.5, "C": 1.5})
    assert out["labels"]["effusion"]["T"] == pytest.approx(0.5)
    assert out["labels"]["effusion"]["tbar"] == pytest.approx(0.5)
    assert out["labels"]["pneumothorax"]["T"] == pytest.approx(0.25)
    assert out["labels"]["pneumothorax"]["tbar"] == pytest.approx(1.0)
    assert set(out["agreement"]) >= {
        "items",
        "all_positive",
        "all_negative",
        "disagreements",
        "full_agreement_rate",
        "fleiss_kappa",
    }
    assert out["agreement"]["items"] == 8 and out["agreement"]["all_negative"] == 3
    assert out["excluded"] == [] and out["cohen_kappa_vs_ai"] == {}
    assert out["contributions"]["A"]["pneumothorax"] == pytest.approx(4 / 3 * 1.25)


def test_times_from_seconds_column_and_default_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_json(
        capsys, "--annotations", str(annotations_csv(tmp_path, seconds=True)), "--budget", "100"
    )
    assert out["rewards"] == pytest.approx({"A": 50, "B": 25, "C": 25})
    assert out["labels"]["effusion"]["tbar"] == pytest.approx(0.5)
    assert out["time_stats"]["by_label"]["pneumothorax"]["mean"] == pytest.approx(10.0)
    assert out["time_stats"]["by_label_annotator"]["effusion"]["B"]["n"] == 4
    (tmp_path / "none").mkdir()
    out = run_json(capsys, "--annotations", str(annotations_csv(tmp_path / "none")))
    assert [v["tbar"] for v in out["labels"].values()] == [0.0, 0.0]
    assert out["scores"] == pytest.approx({"A": 1.0, "B": 0.5, "C": 0.5})
    assert out["time_stats"] is None


def test_ai_kappas_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(
        capsys,
        "--annotations",
        str(annotations_csv(tmp_path)),
        "--ai",
        str(ai_csv(tmp_path)),
        "--kappa-threshold",
        "0.3",
    )
    ai = {"effusion": [1, 1, 0, 0], "pneumothorax": [0, 1, 0, 0]}
    for label, images in PATTERNS.items():
        for i, a in enumerate("ABC"):
            answers = [int(p[i] == "T") for p in images]
            expected = cohen_kappa_score(answers, ai[label])
            assert out["cohen_kappa_vs_ai"][label][a] == pytest.approx(expected)
    # B on pneumothorax (F F F F vs F T F F) has kappa 0 <= 0.3: excluded there only.
    assert out["excluded"] == [
        {"annotator": "B", "label": "pneumothorax", "kappa": 0.0, "shared_items": 4}
    ]
    assert out["answers"]["B"]["pneumothorax"] == {"total": 4, "kept": 0}


def test_truth_option_and_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = str(annotations_csv(tmp_path))
    out = run_json(capsys, "--annotations", a, "--truth", "dawid-skene")
    assert out["parameters"]["truth"] == "dawid_skene"
    assert main(["rewards", "--annotations", a, "--budget", "100"]) == 0
    text = capsys.readouterr().out
    assert "annotator" in text and "50.00" in text and "Fleiss" in text


def test_all_scores_non_positive_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["case_id,label,annotator,value"] + [
        f"c{j},x,{a},{v}" for j, v in enumerate(["true", "false"]) for a in "ABCD"
    ]
    a = write(tmp_path / "A.csv", "\n".join(rows) + "\n")
    assert main(["rewards", "--annotations", str(a)]) == 1
    err = capsys.readouterr().err.strip()
    assert "no annotator has a positive score" in err and "\n" not in err


A_HEAD = "case_id,label,annotator,value"
GOOD_ROWS = "c1,x,A,true\nc1,x,B,false\nc2,x,A,no\nc2,x,B,no\n"

# (file kind, content, expected line, problem words)
MALFORMED: list[tuple[str, str, int, str]] = [
    ("A", "", 1, "empty"),
    ("A", A_HEAD + "\n", 2, "no data rows"),
    ("A", "case_id,label,value\nc1,x,true\n", 1, "missing column 'annotator'"),
    ("A", A_HEAD + "\nc1,x,A,true\nc1,x,B,maybe\n", 3, "unknown value 'maybe'"),
    ("A", A_HEAD + "\nc1,x,A,true\nc2,x,A,no\nc1,x,A,false\n", 4, "duplicate"),
    ("A", A_HEAD + ",seconds\nc1,x,A,true,3\nc2,x,A,no,abc\n", 3, "seconds 'abc' is not a number"),
    ("A", A_HEAD + ",seconds\nc1,x,A,true,3\nc2,x,A,no,-1\n", 3, "seconds -1"),
    ("A", A_HEAD + ",confidence\nc1,x,A,true,30\nc2,x,A,no,130\n", 3, "confidence 130"),
    ("A", A_HEAD + "\nc1,x,A,true\n\nc2,x,A,no,extra\n", 4, "expected 4 fields, found 5"),
    ("A", A_HEAD + "\nc1,x,A,true\nc2,,A,no\n", 3, "empty label"),
    ("A", A_HEAD + "\nc1,x,A,true\nc2,x,A,\n", 3, "empty value"),
    ("A", A_HEAD + '\nc1,x,A,true\nc2,x,"A,no\n', 3, "unterminated"),
    ("AI", "case_id,label\nc1,x\n", 1, "'ai_probability' or 'ai_value'"),
    ("AI", "case_id,label,ai_probability,ai_value\nc1,x,0.3,true\n", 1, "both"),
    ("AI", "case_id,label,ai_probability\nc1,x,0.3\nc2,x,1.5\n", 3, "ai_probability 1.5"),
    ("AI", "case_id,label,ai_probability\nc1,x,0.3\nc2,x,high\n", 3, "not a number"),
    # A blank ai_probability is "no AI reference for this item" (issue 14), not an error.
    ("AI", "case_id,label,ai_value\nc1,x,true\nc2,x,perhaps\n", 3, "unknown ai_value"),
    ("AI", "case_id,label,ai_value\nc1,x,true\nc1,x,false\n", 3, "duplicate"),
    ("T", "label,mean_seconds\nx,4\ny,5\n", 3, "label 'y' does not occur"),
    ("T", "label,mean_seconds\nx,4\nx,5\n", 3, "duplicate"),
    ("T", "label,mean_seconds\nx,soon\n", 2, "not a number"),
    ("T", "label,mean_seconds\n", 2, "no data rows"),
    ("T", "label\nx\n", 1, "missing column 'mean_seconds'"),
]


def _malformed_args(tmp_path: Path, kind: str, content: str) -> tuple[list[str], str]:
    bad = write(tmp_path / f"bad_{kind}.csv", content)
    if kind == "A":
        return ["--annotations", str(bad)], bad.name
    good = write(tmp_path / "A.csv", A_HEAD + "\n" + GOOD_ROWS)
    option = "--ai" if kind == "AI" else "--label-times"
    return ["--annotations", str(good), option, str(bad)], bad.name


@pytest.mark.parametrize(("kind", "content", "line", "problem"), MALFORMED)
def test_malformed_input_exits_2_naming_file_line_problem(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    content: str,
    line: int,
    problem: str,
) -> None:
    args, name = _malformed_args(tmp_path, kind, content)
    assert main(["rewards", *args, "--json"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == ""
    assert "\n" not in err
    assert name in err and f"line {line}:" in err and problem in err


@pytest.mark.parametrize(("kind", "content", "line", "problem"), MALFORMED)
def test_malformed_input_without_pyarrow(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    content: str,
    line: int,
    problem: str,
) -> None:
    """The pandas-only path (no pyarrow installed) reports the same line and problem."""
    monkeypatch.setattr(csv_columns, "_read_fast", lambda *a, **k: None)
    args, name = _malformed_args(tmp_path, kind, content)
    table = None if kind == "A" else load_annotations(args[1])
    with pytest.raises(InputFileError) as info:
        if table is None:
            load_annotations(args[1])
        elif kind == "AI":
            load_ai_reference(args[3], table)
        else:
            load_label_times(args[3], table)
    msg = str(info.value)
    assert name in msg and f"line {line}:" in msg and problem in msg


def test_missing_label_in_times_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "A.csv", A_HEAD + "\nc1,x,A,true\nc1,y,A,false\n")
    t = write(tmp_path / "T.csv", "label,mean_seconds\nx,4\n")
    assert main(["rewards", "--annotations", str(a), "--label-times", str(t)]) == 2
    err = capsys.readouterr().err
    assert "T.csv: line 3:" in err and "no row for label 'y'" in err


def test_missing_file_and_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rewards", "--annotations", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err
    good = str(write(tmp_path / "A.csv", A_HEAD + "\n" + GOOD_ROWS))
    assert main(["rewards"]) == 2  # --annotations is required
    assert main(["rewards", "--annotations", good, "--budget", "lots"]) == 2
    assert main(["rewards", "--annotations", good, "--truth", "vote"]) == 2
    assert main(["rewards", "--annotations", good, "--budget", "-5"]) == 2
    assert "budget" in capsys.readouterr().err


def test_slow_path_gives_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    a, t = str(annotations_csv(tmp_path, seconds=True)), str(ai_csv(tmp_path))
    fast = run_json(capsys, "--annotations", a, "--ai", t)
    monkeypatch.setattr(csv_columns, "_read_fast", lambda *a, **k: None)
    slow = run_json(capsys, "--annotations", a, "--ai", t)
    assert slow == fast


@pytest.mark.parametrize("fast", [True, False])
def test_loader_strips_ids_sorts_names_and_keeps_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    if not fast:
        monkeypatch.setattr(csv_columns, "_read_fast", lambda *a, **k: None)
    a = write(
        tmp_path / "A.csv",
        "Case_ID , Label,annotator,VALUE,extra,Seconds\n c2,x , bob ,Yes,1,\n\n"
        "c1,x,alice,0,2,7.5\nc3,x,alice,1,2,\n",  # a literal nan is an error (issue 9)
    )
    table = load_annotations(a)
    assert table.annotators == ("alice", "bob") and table.cases == ("c1", "c2", "c3")
    assert table.value[table.annotator == 1].tolist() == [True]
    assert table.case.tolist() == [1, 0, 2]
    assert np.isnan(table.seconds[[0, 2]]).all() and table.seconds[1] == 7.5
    assert table.confidence is None
    dup = write(tmp_path / "D.csv", "case_id,label,annotator,value\nc1,x,a,1\n\n\nc1,x,a,0\n")
    with pytest.raises(InputFileError, match=r"line 5: duplicate .* first given on line 2"):
        load_annotations(dup)


def test_ai_reference_maps_onto_annotation_codes(tmp_path: Path) -> None:
    table = load_annotations(annotations_csv(tmp_path))
    ai = write(
        tmp_path / "AI.csv",
        "case_id,label,ai_value\nimg2,pneumothorax,yes\nimg9,effusion,true\nimg1,other,false\n",
    )
    ref = load_ai_reference(ai, table)
    assert ref.shape == (4, 2)
    assert ref[1, 1] == 1 and (ref != -1).sum() == 1  # unknown case / label ignored


@pytest.mark.parametrize(
    "module", ["markit_core", "markit_core.commands.rewards"], ids=["package", "standalone"]
)
def test_subprocess_json_and_malformed(tmp_path: Path, module: str) -> None:
    """``python -m markit_core rewards ...`` exactly as scripts outside the app call it."""
    cmd = [sys.executable, "-m", module, "rewards"]
    a = str(annotations_csv(tmp_path))
    ok = subprocess.run(
        [
            *cmd,
            "--annotations",
            a,
            "--label-times",
            str(times_csv(tmp_path)),
            "--budget",
            "100",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["rewards"] == pytest.approx({"A": 50, "B": 25, "C": 25})
    bad = write(tmp_path / "broken.csv", A_HEAD + "\nc1,x,A,true\nc1,x,B,perhaps\n")
    res = subprocess.run(
        [*cmd, "--annotations", str(bad), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.csv: line 3: unknown value 'perhaps'" in lines[0]
    assert res.stdout == ""


def test_large_random_file_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 20,000-row file through the CLI matches compute_rewards on the same arrays."""
    from markit_core.rewards.engine import compute_rewards
    from markit_core.rewards.table import AnnotationTable

    rng = np.random.default_rng(0)
    n_j, n_k, n_i = 1000, 5, 4
    case = np.repeat(np.arange(n_j), n_k * n_i)
    label = np.tile(np.repeat(np.arange(n_k), n_i), n_j)
    ann = np.tile(np.arange(n_i), n_j * n_k)
    truth = rng.random((n_j, n_k)) < 0.3
    value = np.where(rng.random(case.size) < 0.85, truth[case, label], ~truth[case, label])
    lines = [A_HEAD] + [
        f"case{c},lab{k},ann{i},{'true' if v else 'false'}"
        for c, k, i, v in zip(case, label, ann, value, strict=True)
    ]
    a = write(tmp_path / "A.csv", "\n".join(lines) + "\n")
    out = run_json(capsys, "--annotations", str(a))
    table = AnnotationTable.from_columns(
        [f"case{c}" for c in case], [f"lab{k}" for k in label], [f"ann{i}" for i in ann], value
    )
    direct = compute_rewards(table)
    assert out["rewards"] == pytest.approx(dict(zip(table.annotators, direct.rewards, strict=True)))
