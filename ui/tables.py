"""Cell formatting for tables shown to people: "—" for nothing, readable times, short hashes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

DASH = "—"


def cell(value: Any) -> Any:
    """``None`` (and NaN) as "—"; anything else unchanged."""
    if value is None or (isinstance(value, float) and value != value):
        return DASH
    return value


def human_time(value: Any) -> str:
    """A datetime or ISO text as ``2026-12-01 21:40:05 UTC`` ("—" for nothing)."""
    if value is None or value == "":
        return DASH
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def short_hash(value: Any, length: int = 12) -> str:
    """The first ``length`` hex digits of a hash (enough to tell entries apart)."""
    return DASH if not value else f"{str(value)[:length]}…"


def activity_rows(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ledger entries for the activity table: readable time, short hash, "—" for nothing."""
    return [
        {
            "seq": e.get("seq"),
            "at": human_time(e.get("at")),
            "actor": cell(e.get("actor")),
            "action": cell(e.get("action")),
            "record": f"{e.get('record_type')} {e.get('record_id')}",
            "entry hash": short_hash(e.get("entry_hash")),
        }
        for e in entries
    ]
