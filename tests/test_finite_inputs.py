"""Numbers entering the core are finite and in range (issue 9, point 10).

``inf``, ``1e309`` and ``NaN`` seconds or confidences are refused by the
annotation services themselves and by the rewards CLI (a literal ``NaN`` cell
is an error, not a missing value); a CSV row with a missing or an extra field
is refused with its line number; ``--kappa-threshold`` lies in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from markit_core.annotation.drafts import Draft
from markit_core.annotation.submit import Answer, submit
from markit_core.annotation.timing import Interaction, Timing, compute_timing
from markit_core.commands.rewards import main
from markit_core.errors import InputFileError, ValidationError
from markit_core.models import Annotation
from markit_core.rewards import csv_columns
from markit_core.rewards.csv_input import load_annotations, load_label_times
from markit_core.rewards.engine import compute_rewards
from tests.test_annotations import world  # noqa: F401 - fixture
from tests.test_rewards import table_from
from tests.test_rewards_cli import A_HEAD, GOOD_ROWS, _malformed_args, write

BAD_NUMBERS = [float("inf"), float("-inf"), float("nan"), 1e309, -1.0]


@pytest.mark.parametrize("bad", BAD_NUMBERS)
@pytest.mark.parametrize("where", ["total", "active", "idle", "label"])
def test_submit_refuses_non_finite_seconds(session, world, bad, where) -> None:  # noqa: F811
    w = world
    label = w["labels"]["pneumonia"]
    secs = {"total": 10.0, "active": 10.0, "idle": 0.0}
    label_secs = {label: 4.0}
    if where == "label":
        label_secs[label] = bad
    else:
        secs[where] = bad
    timing = Timing(secs["total"], secs["active"], secs["idle"], label_secs)
    with pytest.raises(ValidationError, match="seconds"):
        submit(
            session,
            w["anns"][0],
            w["project"],
            w["cases"][0],
            answers={label: Answer(True, 100)},
            timing=timing,
            token=f"bad-{where}-{bad}",
        )
    assert session.exec(select(Annotation)).all() == []


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 1e309, True, 100.5])
def test_submit_refuses_non_finite_or_odd_confidence(session, world, bad) -> None:  # noqa: F811
    w = world
    label = w["labels"]["pneumonia"]
    with pytest.raises(ValidationError, match="confidence"):
        submit(
            session,
            w["anns"][0],
            w["project"],
            w["cases"][0],
            answers={label: Answer(True, bad)},  # type: ignore[arg-type]
            token=f"conf-{bad}",
        )
    assert session.exec(select(Annotation)).all() == []


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 1e309])
def test_timing_refuses_non_finite_times(bad) -> None:
    with pytest.raises(ValidationError):
        compute_timing(bad, [], 30.0)
    with pytest.raises(ValidationError):
        compute_timing(10.0, [Interaction(bad)], 30.0)
    with pytest.raises(ValidationError):
        compute_timing(10.0, [], bad)


def test_stored_draft_with_non_finite_times_is_refused() -> None:
    good = Draft(user_id=1, project_id=1, case_id=1, token="t").to_json()
    good["shown_at"] = 1.5
    good["interactions"] = [[0.5, None]]
    Draft.from_json(good)
    for key, value in (("shown_at", float("nan")), ("interactions", [[float("inf"), None]])):
        with pytest.raises(ValidationError, match="finite"):
            Draft.from_json({**good, key: value})


# -- rewards CLI ------------------------------------------------------------------------

NON_FINITE_CSV: list[tuple[str, str, int, str]] = [
    ("A", A_HEAD + ",seconds\nc1,x,A,true,3\nc2,x,A,no,NaN\n", 3, "seconds nan is not a finite"),
    ("A", A_HEAD + ",seconds\nc1,x,A,true,3\nc2,x,A,no,nan\n", 3, "seconds nan is not a finite"),
    ("A", A_HEAD + ",seconds\nc1,x,A,true,inf\nc2,x,A,no,3\n", 2, "seconds inf is not a finite"),
    ("A", A_HEAD + ",seconds\nc1,x,A,true,1e309\nc2,x,A,no,3\n", 2, "seconds inf is not"),
    ("A", A_HEAD + ",confidence\nc1,x,A,true,NaN\nc2,x,A,no,3\n", 2, "confidence nan is not"),
    ("A", A_HEAD + ",confidence\nc1,x,A,true,3\nc2,x,A,no,-inf\n", 3, "confidence -inf is not"),
    ("A", A_HEAD + "\nc1,x,A,true\nc2,x,A\n", 3, "expected 4 fields, found 3 (missing field)"),
    ("A", A_HEAD + ",seconds\nc1,x,A,true\nc2,x,A,no,3\n", 2, "found 4 (missing field)"),
    ("A", A_HEAD + "\nc1,x,A,true,9\nc2,x,A,no\n", 2, "expected 4 fields, found 5 (extra field)"),
    ("AI", "case_id,label,ai_probability\nc1,x,0.3\nc2,x,NaN\n", 3, "ai_probability nan"),
    ("T", "label,mean_seconds\nx,inf\n", 2, "mean_seconds inf is not a finite"),
    ("T", "label,mean_seconds\nx,NaN\n", 2, "mean_seconds nan is not a finite"),
]


@pytest.mark.parametrize("fast", [True, False], ids=["pyarrow", "pandas"])
@pytest.mark.parametrize(("kind", "content", "line", "problem"), NON_FINITE_CSV)
def test_rewards_cli_refuses_non_finite_cells_and_bad_rows(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fast: bool,
    kind: str,
    content: str,
    line: int,
    problem: str,
) -> None:
    if not fast:
        monkeypatch.setattr(csv_columns, "_read_fast", lambda *a, **k: None)
    args, name = _malformed_args(tmp_path, kind, content)
    assert main(["rewards", *args, "--json"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err
    assert name in err and f"line {line}:" in err and problem in err, err


def test_empty_cells_are_still_missing_values(tmp_path: Path) -> None:
    a = write(tmp_path / "A.csv", A_HEAD + ",seconds\nc1,x,A,true,\nc1,x,B,false,2\n")
    table = load_annotations(a)
    assert np.isnan(table.seconds).sum() == 1
    with pytest.raises(InputFileError, match="line 2: empty mean_seconds"):
        load_label_times(write(tmp_path / "T.csv", "label,mean_seconds\nx,\n"), table)


@pytest.mark.parametrize("threshold", ["1.5", "-1.01", "nan", "inf", "1e309"])
def test_kappa_threshold_must_lie_between_minus_one_and_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], threshold: str
) -> None:
    good = str(write(tmp_path / "A.csv", A_HEAD + "\n" + GOOD_ROWS))
    assert main(["rewards", "--annotations", good, "--kappa-threshold", threshold]) == 2
    assert "kappa threshold" in capsys.readouterr().err
    with pytest.raises(ValidationError, match="between -1 and 1"):
        compute_rewards(table_from({"x": ["TT", "FF"]}, "AB"), kappa_threshold=float(threshold))
    for ok in ("-1", "1", "0.05"):
        assert main(["rewards", "--annotations", good, "--kappa-threshold", ok]) in (0, 1)
