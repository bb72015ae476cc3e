"""Every CSV MarkIt writes neutralises formula cells (issue 9, point 12).

The annotation export and the reward-run CSV carry user-chosen text (label
names, user names, the currency); a cell starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return must reach a spreadsheet as text. Checked by
reading the files back with Python's csv module.
"""

from __future__ import annotations

import csv
import io

from markit_core.accounts import get_user
from markit_core.export.csv_export import export_annotations_csv
from markit_core.export.spreadsheet import FORMULA_PREFIXES
from markit_core.labels import add_labels, list_labels
from markit_core.models import Role
from markit_core.rewards import runs as reward_runs
from tests.review_helpers import add_cases, read

# (label names are stripped, so a leading tab or CR cannot survive into one)
EVIL_LABELS = ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "=cmd|' /C calc'!A0")
# usernames may contain '@' and '-', so those can start a name
EVIL_USERS = ("@evil", "-minus")


def _dangerous(cell: str) -> bool:
    return cell.startswith(FORMULA_PREFIXES)


def _evil_project(session, settings, make_user, make_project):
    owner = make_user("pi")
    for name in EVIL_USERS:
        make_user(name)
    project = make_project("Evil", owner, {n: [Role.ANNOTATOR] for n in EVIL_USERS})
    add_labels(session, owner, project.id, [(lab, "G") for lab in EVIL_LABELS])
    labels = [lb.id for lb in list_labels(session, owner, project.id)]
    patterns = ("TT", "TF", "FF", "TT")
    for case_id, pattern in zip(add_cases(session, settings, project.id, 4), patterns, strict=True):
        for name, ch in zip(EVIL_USERS, pattern, strict=True):
            read(
                session,
                get_user(session, name),
                project.id,
                case_id,
                {lid: ch == "T" for lid in labels},
                seconds={lid: 3.0 for lid in labels},
            )
    return owner, project


def test_annotation_export_neutralises_label_and_user_names(
    session, settings, make_user, make_project
):
    owner, project = _evil_project(session, settings, make_user, make_project)
    text = export_annotations_csv(session, owner, project.id)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["case_id", "label", "annotator", "value", "confidence", "seconds"]
    cells = [c for row in rows for c in row]
    assert not any(_dangerous(c) for c in cells), [c for c in cells if _dangerous(c)]
    assert {r[1] for r in rows[1:]} == {"'" + lab for lab in EVIL_LABELS}
    assert {r[2] for r in rows[1:]} == {"'" + u for u in EVIL_USERS}
    assert {r[5] for r in rows[1:]} == {"3.000"}


def test_reward_run_csv_neutralises_currency_labels_and_names(
    session, settings, make_user, make_project
):
    owner, project = _evil_project(session, settings, make_user, make_project)
    run_id, result = reward_runs.run_rewards(
        session, owner, project.id, budget=100, currency="=1+2"
    )
    run = reward_runs.get_run(session, owner, project.id, run_id)
    rows = list(csv.reader(io.StringIO(reward_runs.run_csv(run))))
    cells = [c for row in rows for c in row]
    assert not any(_dangerous(c) for c in cells), [c for c in cells if _dangerous(c)]
    header = rows[0]
    assert set(header[6:]) == {f"contribution:{lab}" for lab in EVIL_LABELS}
    body = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert {r["annotator"] for r in body} == {"'" + u for u in EVIL_USERS}
    assert {r["currency"] for r in body} == {"'=1+2"}
    # numbers stay numbers: a negative score is written as -x, not as neutralised text
    assert [float(r["score"]) for r in body] == [float(f"{x:.6g}") for x in result.scores]
    assert sum(float(r["reward"]) for r in body) == 100.0


def test_writer_round_trip_with_tab_and_carriage_return() -> None:
    from markit_core.export.spreadsheet import csv_writer

    buf = io.StringIO()
    csv_writer(buf).writerows([["\tcmd", "\rcmd", "a,b", "plain", -0.5, 3]])
    (row,) = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert row == ["'\tcmd", "'\rcmd", "a,b", "plain", "-0.5", "3"]


def test_readings_csv_neutralises_every_text_column(session, settings, make_user, make_project):
    """The bundle's readings CSV checks only its text columns: those are all neutralised."""
    from markit_core.export.tables import READING_COLUMNS, write_readings_csv

    _, project = _evil_project(session, settings, make_user, make_project)
    path = settings.data_dir / "readings.csv"
    write_readings_csv(session, project.id, path)
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == list(READING_COLUMNS)
    cells = [c for row in rows for c in row.values()]
    assert not any(_dangerous(c) for c in cells), [c for c in cells if _dangerous(c)]
    assert {r["label"] for r in rows} == {"'" + lab for lab in EVIL_LABELS}
    assert {r["reader"] for r in rows} == {"'" + u for u in EVIL_USERS}


def test_writer_with_text_columns_checks_those() -> None:
    from markit_core.export.spreadsheet import csv_writer

    buf = io.StringIO()
    csv_writer(buf, text_columns=(0, 2)).writerows([["=a", -1, "\rb", "c"]])
    (row,) = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert row == ["'=a", "-1", "'\rb", "c"]
