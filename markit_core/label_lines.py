"""Adding labels as lines of text: ``name``, ``name, group`` or ``name, group, kind``.

The label table (``st.data_editor``) loses keys typed faster than its cell editor
opens (the first characters of a cell, or a whole group typed after Tab); a text
box does not. The lines are checked here (errors name the line), then appended to
the rows the caller passes (the table's current rows, so its pending edits are saved
in the same transaction) and stored with :func:`markit_core.labels.save_label_set`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlmodel import Session

from markit_core.errors import ValidationError
from markit_core.labels import LabelChanges, save_label_set
from markit_core.models import LabelKind, User
from markit_core.validation import clean_name

__all__ = ["add_label_lines", "parse_label_lines"]

MAX_LINES = 500


def _split(line: str) -> list[str]:
    """Cells of one line: tab-separated (pasted from a spreadsheet) or comma-separated."""
    return [cell.strip() for cell in line.split("\t" if "\t" in line else ",")]


def parse_label_lines(text: str) -> list[dict[str, str]]:
    """One label per non-empty line; ``ValidationError`` naming the line that is wrong.

    Parameters
    ----------
    text : str
        Lines of ``name[, group[, kind]]`` (kind: binary, the default, or roi).

    Returns
    -------
    list of dict
        ``{"name", "group", "kind"}`` per line, in order.
    """
    if not isinstance(text, str):
        raise ValidationError(f"label lines must be text, got {type(text).__name__}")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(lines) > MAX_LINES:
        raise ValidationError(f"{len(lines)} lines; add at most {MAX_LINES} labels at a time")
    out: list[dict[str, str]] = []
    for n, line in lines:
        cells = _split(line)
        if len(cells) > 3:
            raise ValidationError(
                f"line {n}: {len(cells)} fields; write name, group (optional), kind (optional)"
            )
        name = clean_name(cells[0], f"line {n} name")
        group = clean_name(cells[1] if len(cells) > 1 else "", f"line {n} group", allow_empty=True)
        kind = (cells[2] if len(cells) > 2 else "").lower() or LabelKind.BINARY.value
        if kind not in {k.value for k in LabelKind}:
            raise ValidationError(f"line {n}: kind {cells[2]!r} is not one of binary, roi")
        out.append({"name": name, "group": group, "kind": kind})
    return out


def add_label_lines(
    session: Session,
    actor: User,
    project_id: int,
    current_rows: Iterable[Mapping[str, Any]],
    text: str,
) -> LabelChanges:
    """Store ``current_rows`` (the label set as edited so far) plus one label per line.

    Permission check, transaction and ledger entries are ``save_label_set``'s. Nothing
    is stored when a line or a row is wrong.
    """
    rows = [dict(r) for r in current_rows]
    added = parse_label_lines(text)
    if not added:
        raise ValidationError("no labels to add: write one label per line")
    orders = [
        int(r["order"])
        for r in rows
        if isinstance(r.get("order"), int | float) and r["order"] == r["order"]  # not NaN
    ]
    start = max(orders, default=0)
    rows += [{**a, "id": None, "order": start + i} for i, a in enumerate(added, start=1)]
    return save_label_set(session, actor, project_id, rows)
