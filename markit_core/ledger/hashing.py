"""How ledger entries and logged records are hashed (canonical JSON, SHA-256, RFC 6962 leaves).

Shared by writing (``append``), checking (``verify``) and the audit package's
Merkle tree and bundles, so all of them hash the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlmodel import Session, SQLModel

GENESIS = "0" * 64

# record_type -> child tables digested with the record: (table name, foreign-key column)
CHILD_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "annotation": (("annotation_value", "annotation_id"), ("roi", "annotation_id")),
    # the de-identification trace-back of a case is covered by the case's own entry
    "case": (("case_origin", "case_id"),),
}

ENTRY_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor",
    "project_id",
    "action",
    "record_type",
    "record_id",
    "record_digest",
    "removed",
    "prev_hash",
)


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback: datetimes as ISO 8601, database rows as dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):  # database rows (RowMapping)
        return dict(value)
    raise TypeError(f"cannot put {type(value).__name__} into the ledger's canonical JSON")


# One encoder for all calls: json.dumps with options builds a new one each time.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable
)


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, ISO datetimes."""
    return _CANONICAL.encode(data)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_table(record_type: str) -> Table:
    return SQLModel.metadata.tables[record_type]


def _as_stored(column: Any, value: Any) -> Any:
    """``value`` as the database will return it: an int put into a float column comes back
    as a float, so the digest made at append time must use the float too."""
    if value is None:
        return None
    try:
        kind = column.type.python_type
    except NotImplementedError:  # JSON and other composite types round-trip as they are
        return value
    return kind(value) if kind in (int, float, bool, str) else value


def row_dict(obj: SQLModel) -> dict[str, Any]:
    """Column values of an ORM object, keyed by column name, typed as stored."""
    table = obj.__table__  # type: ignore[attr-defined]  # set by SQLModel for table=True
    return {c.name: _as_stored(c, getattr(obj, c.key)) for c in table.columns}


def primary_key_name(table: Table) -> str:
    return next(iter(table.primary_key.columns)).name


def digest_row(
    record_type: str,
    row: Mapping[str, Any],
    children: Mapping[str, Sequence[Mapping[Any, Any]]] | None = None,
) -> str:
    """SHA-256 of a record (and its child rows) in canonical form."""
    body: dict[str, Any] = {"table": record_type, "row": row}
    if children:
        body["children"] = {
            name: sorted(rows, key=lambda r: r.get("id") or 0) for name, rows in children.items()
        }
    return _sha256(canonical_json(body))


def load_children(session: Session, record_type: str, record_id: Any) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for child, fk in CHILD_TABLES.get(record_type, ()):
        table = record_table(child)
        rows = session.execute(select(table).where(table.c[fk] == record_id)).mappings().all()
        result[child] = [dict(r) for r in rows]
    return result


def entry_bytes(fields: Mapping[str, Any]) -> bytes:
    """An entry's content (everything except its own hashes), as hashed.

    The content is the JSON array of the fields in ``ENTRY_FIELDS`` order:
    as canonical as sorted-key JSON, and cheap enough to verify 100k entries
    in well under a second. It is also the Merkle leaf (``markit_core.audit``).
    """
    return _CANONICAL.encode([fields[k] for k in ENTRY_FIELDS]).encode("utf-8")


def entry_hash(fields: Mapping[str, Any]) -> str:
    """Hash of an entry's content (everything except its own hash)."""
    return hashlib.sha256(entry_bytes(fields)).hexdigest()


def leaf_hash(content: bytes) -> bytes:
    """RFC 6962 Merkle leaf hash, SHA-256(0x00 || content) (as ``audit.merkle.leaf_hash``,
    repeated here so the ledger does not import the audit package)."""
    return hashlib.sha256(b"\x00" + content).digest()


def entry_leaf_hash(fields: Mapping[str, Any]) -> str:
    """The entry's RFC 6962 Merkle leaf hash, hex: SHA-256(0x00 || content)."""
    return leaf_hash(entry_bytes(fields)).hex()
