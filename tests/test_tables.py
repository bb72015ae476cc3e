"""Table cells for people (ui.tables): dashes, readable UTC times, short hashes."""

from __future__ import annotations

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
