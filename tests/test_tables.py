"""Table cells for people (ui.tables): dashes, readable UTC times, short hashes."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone

from ui.tables import DASH, activity_rows, cell, human_time, short_hash


def test_cells_times_and_hashes():
    assert cell(None) == DASH and cell(float("nan")) == DASH and cell(0) == 0
    when = datetime(2026, 12, 1, 22, 40, 5, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert human_time(when) == "2026-12-01 21:40:05 UTC"
    assert human_time("2026-12-01T21:40:05.5") == "2026-12-01 21:40:05 UTC"  # naive = UTC
    assert human_time(None) == DASH
    assert short_hash("ab" * 32) == "abababababab…" and short_hash(None) == DASH
    rows = activity_rows(
        [
            {
                "seq": 3,
                "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                "actor": None,
                "action": "login",
                "record_type": "login_attempt",
                "record_id": "7",
                "entry_hash": "f" * 64,
            }
        ]
    )
    assert rows == [
        {
            "seq": 3,
            "at": "2026-01-02 03:04:05 UTC",
            "actor": DASH,
            "action": "login",
            "record": "login_attempt 7",
            "entry hash": "ffffffffffff…",
        }
    ]


def _table_calls(path):
    """Every ``st.dataframe`` / ``st.data_editor`` / ``st.table`` call in a source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"dataframe", "data_editor", "table"}
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "st"
        ):
            yield node


def test_every_table_in_the_app_shows_a_dash_for_missing_values():
    """st.dataframe draws a missing value as "None" unless given a placeholder."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    calls, bare = 0, []
    for path in sorted(
        [root / "app.py", *(root / "pages").glob("*.py"), *(root / "ui").glob("*.py")]
    ):
        for call in _table_calls(path):
            calls += 1
            if call.func.attr == "table" or not any(
                k.arg == "placeholder" and isinstance(k.value, ast.Name) and k.value.id == "DASH"
                for k in call.keywords
            ):
                bare.append(f"{path.relative_to(root)}:{call.lineno}")
    assert calls > 20
    assert not bare, (
        f"tables without placeholder=DASH (st.table has none: use st.dataframe): {bare}"
    )


def test_review_and_project_pages_draw_missing_values_as_dashes(
    session, settings, monkeypatch, make_user, make_project
):
    from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
    from tests.conftest import PASSWORD
    from tests.review_helpers import build_example

    point_app_at(settings, monkeypatch)
    build_example(session, settings, make_user, make_project)
    at = log_in(fresh_app(), "pi", PASSWORD)
    shown = 0
    for page in ("review_heatmap", "project_admin"):
        open_page(at, page)
        assert not at.exception, at.exception
        for table in at.dataframe:
            shown += 1
            assert table.proto.placeholder == DASH, (page, table.key)
    assert shown >= 6
