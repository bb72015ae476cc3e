"""Hash-chained activity ledger.

Every state change appends one entry in the same transaction as the change.
An entry stores the SHA-256 digest of the canonical JSON of the affected
record, the previous entry's hash and its own hash, so

* editing an entry breaks its own hash,
* deleting, inserting or reordering entries breaks the sequence or the links,
* deleting the newest entries is caught by the ``ledger_head`` row,
* editing a logged record afterwards (outside MarkIt) no longer matches the
  digest of the newest entry that refers to it.

Records with child rows (an annotation with its values and ROIs) are digested
together with their children, so editing a child is caught too.

Reading is permission-checked: ``recent`` and ``verify`` of a project need its
statistics permission, the whole ledger a site administrator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlmodel import Session, SQLModel, col

from markit_core import models
from markit_core.access import Action, require, require_admin
from markit_core.models import LedgerEntry, LedgerHead, User, utcnow

GENESIS = "0" * 64

# record_type -> child tables digested with the record: (table name, foreign-key column)
_CHILDREN: dict[str, tuple[tuple[str, str], ...]] = {
    "annotation": (("annotation_value", "annotation_id"), ("roi", "annotation_id")),
    # the de-identification trace-back of a case is covered by the case's own entry
    "case": (("case_origin", "case_id"),),
}

_ENTRY_FIELDS = (
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


def _table(record_type: str) -> Table:
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


def _pk_name(table: Table) -> str:
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


def _load_children(session: Session, record_type: str, record_id: Any) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for child, fk in _CHILDREN.get(record_type, ()):
        table = _table(child)
        rows = session.execute(select(table).where(table.c[fk] == record_id)).mappings().all()
        result[child] = [dict(r) for r in rows]
    return result


def entry_bytes(fields: Mapping[str, Any]) -> bytes:
    """An entry's content (everything except its own hashes), as hashed.

    The content is the JSON array of the fields in ``_ENTRY_FIELDS`` order:
    as canonical as sorted-key JSON, and cheap enough to verify 100k entries
    in well under a second. It is also the Merkle leaf (``markit_core.audit``).
    """
    return _CANONICAL.encode([fields[k] for k in _ENTRY_FIELDS]).encode("utf-8")


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


# SQLModel's metaclass sets __table__ on table=True models; its stubs do not declare it
_ENTRIES: Table = LedgerEntry.__table__  # type: ignore[attr-defined]
_HEAD: Table = LedgerHead.__table__  # type: ignore[attr-defined]
# Built once: constructing statements per call costs more than executing them.
_INSERT_ENTRY = _ENTRIES.insert()
_SELECT_HEAD = select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_HEAD = _HEAD.insert()
_UPDATE_HEAD = (
    _HEAD.update()
    .where(_HEAD.c.id == 1)
    .values(seq=bindparam("head_seq"), entry_hash=bindparam("head_hash"))
)


def append(
    session: Session,
    *,
    actor: models.User | None,
    project_id: int | None,
    action: str,
    record: SQLModel,
    removed: bool = False,
) -> int:
    """Append an entry for ``record`` inside the caller's transaction; return its seq.

    Call after the change has been flushed (the record has its id) and before
    commit. With ``removed=True`` the record is being deleted; verification then
    expects it to be absent.
    """
    session.flush()
    table = record.__table__  # type: ignore[attr-defined]  # set by SQLModel for table=True
    record_type = table.name
    row = row_dict(record)
    record_id = row[_pk_name(table)]
    children = None if removed else _load_children(session, record_type, record_id)
    digest = digest_row(record_type, row, children)

    conn = session.connection()
    head = conn.execute(_SELECT_HEAD).first()
    if head is None:
        conn.execute(_INSERT_HEAD, {"id": 1, "seq": 0, "entry_hash": ""})
        seq, prev = 1, GENESIS
    else:
        seq, prev = head.seq + 1, head.entry_hash or GENESIS
    fields = {
        "seq": seq,
        "at": utcnow().isoformat(timespec="microseconds"),
        "actor_id": actor.id if actor else None,
        "actor": actor.username if actor else "",
        "project_id": project_id,
        "action": action,
        "record_type": record_type,
        "record_id": str(record_id),
        "record_digest": digest,
        "removed": removed,
        "prev_hash": prev,
    }
    content = entry_bytes(fields)
    fields["entry_hash"] = hashlib.sha256(content).hexdigest()
    fields["leaf_hash"] = leaf_hash(content).hex()
    conn.execute(_INSERT_ENTRY, fields)
    conn.execute(_UPDATE_HEAD, {"head_seq": seq, "head_hash": fields["entry_hash"]})
    return seq


# --- verification ---------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong, tied to an entry."""

    seq: int
    kind: str  # "entry altered" | "entry deleted" | "entries reordered" | "record changed" | ...
    detail: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of ``verify``: ``ok`` or the first broken entry."""

    entries: int
    records_checked: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _chain_problems(entries: Sequence[Mapping[str, Any]], head: Any) -> Iterable[Problem]:
    prev_hash, expected_seq = GENESIS, 1
    for e in entries:
        seq = e["seq"]
        if seq != expected_seq:
            missing = (
                f"entry {expected_seq}"
                if seq == expected_seq + 1
                else f"entries {expected_seq}-{seq - 1}"
            )
            yield Problem(
                expected_seq,
                "entry deleted",
                f"{missing} missing from the chain (next present entry is {seq})",
            )
            return
        if e["prev_hash"] != prev_hash:
            yield Problem(
                seq,
                "entries reordered or replaced",
                f"previous-hash link does not match entry {seq - 1}",
            )
            return
        content = entry_bytes(e)
        if hashlib.sha256(content).hexdigest() != e["entry_hash"]:
            yield Problem(seq, "entry altered", "stored hash does not match the entry's content")
            return
        if e["leaf_hash"] is not None and e["leaf_hash"] != leaf_hash(content).hex():
            yield Problem(seq, "entry altered", "Merkle leaf hash does not match the entry")
            return
        prev_hash, expected_seq = e["entry_hash"], seq + 1
    last_seq = expected_seq - 1
    head_seq = head.seq if head is not None else 0
    if head_seq != last_seq or (head is not None and head_seq and head.entry_hash != prev_hash):
        yield Problem(
            last_seq + 1 if head_seq > last_seq else max(head_seq, 1),
            "entry deleted",
            f"ledger head says the newest entry is {head_seq}, chain ends at {last_seq}",
        )


def _latest_entries(
    entries: Sequence[Mapping[str, Any]], project_id: int | None
) -> dict[str, list[Mapping[str, Any]]]:
    """The newest entry of each logged record by record type (of ``project_id`` only, if given:
    the newest entry decides, whichever project wrote the earlier ones)."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for e in entries:
        latest[(e["record_type"], e["record_id"])] = e
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for (rtype, _), e in latest.items():
        if project_id is None or e["project_id"] == project_id:
            by_type.setdefault(rtype, []).append(e)
    return by_type


def _record_problem(
    rtype: str,
    e: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    children: Mapping[str, Mapping[str, Sequence[Mapping[Any, Any]]]],
) -> Problem | None:
    record = f"{rtype} {e['record_id']}"
    if e["removed"]:
        if row is not None:
            return Problem(e["seq"], "record changed", f"{record} was logged as removed but exists")
        return None
    if row is None:
        return Problem(e["seq"], "record changed", f"{record} was deleted after it was logged")
    kids = {name: g.get(e["record_id"], []) for name, g in children.items()} or None
    if digest_row(rtype, row, kids) != e["record_digest"]:
        return Problem(e["seq"], "record changed", f"{record} changed after it was logged")
    return None


def _record_problems(
    session: Session, entries: Sequence[Mapping[str, Any]], project_id: int | None = None
) -> tuple[int, list[Problem]]:
    """Re-digest each logged record against its newest entry; (records checked, problems)."""
    by_type = _latest_entries(entries, project_id)
    problems: list[Problem] = []
    for rtype, ents in by_type.items():
        if rtype not in SQLModel.metadata.tables:
            problems.extend(Problem(e["seq"], "unknown record type", rtype) for e in ents)
            continue
        table = _table(rtype)
        pk = table.c[_pk_name(table)]
        names = [c.name for c in table.columns]
        rows = {
            str(r[pk.name]): r
            for r in (
                dict(zip(names, t, strict=True)) for t in session.execute(select(table)).all()
            )
        }
        # SQLAlchemy row mappings (keyed by column name) are digested as they come
        children: dict[str, dict[str, list[Mapping[Any, Any]]]] = {}
        for child, fk in _CHILDREN.get(rtype, ()):
            grouped: dict[str, list[Mapping[Any, Any]]] = {}
            for r in session.execute(select(_table(child))).mappings():
                grouped.setdefault(str(r[fk]), []).append(r)
            children[child] = grouped
        for e in ents:
            problem = _record_problem(rtype, e, rows.get(e["record_id"]), children)
            if problem is not None:
                problems.append(problem)
    return sum(len(ents) for ents in by_type.values()), problems


def _load_entries(session: Session) -> list[dict[str, Any]]:
    """All entries in order, read through the DB-API cursor.

    The entry columns are plain integers, text and one boolean, so the ORM's
    per-row processing (a third of the verification time) is not needed;
    ``removed`` is normalised because SQLite returns it as 0/1.
    """
    columns = (*_ENTRY_FIELDS, "entry_hash", "leaf_hash")
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(f"SELECT {', '.join(columns)} FROM ledger_entry ORDER BY seq")
        entries = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()
    for e in entries:
        e["removed"] = bool(e["removed"])
    return entries


def _require_reader(session: Session, actor: User, project_id: int | None, what: str) -> None:
    """One project's ledger: its statistics permission; the whole ledger: a site admin."""
    if project_id is None:
        require_admin(actor, f"{what} of every project")
    else:
        require(session, actor, project_id, Action.STATS)


def verify(session: Session, actor: User, project_id: int | None = None) -> VerifyResult:
    """Recompute the chain and re-digest the records the ledger refers to.

    ``project_id`` None checks the whole database (site administrators only), else the
    project's records (its statistics permission); the chain, one for all projects, is
    always checked whole and its problems name only sequence numbers. Returns the first
    broken entry (lowest ``seq``) and why, or ok; ``PermissionDenied`` / ``NotFoundError``
    for a refused actor."""
    _require_reader(session, actor, project_id, "verify the activity")
    return integrity(session, project_id)


def integrity(session: Session, project_id: int | None = None) -> VerifyResult:
    """``verify`` unchecked, for callers with no acting user (migrations, tests, benchmarks)."""
    entries = _load_entries(session)
    head = session.execute(select(col(LedgerHead.seq), col(LedgerHead.entry_hash))).first()
    problems = list(_chain_problems(entries, head))
    checked, rec_problems = _record_problems(session, entries, project_id)
    problems.extend(rec_problems)
    first = min(problems, key=lambda p: p.seq) if problems else None
    counted = sum(1 for e in entries if project_id is None or e["project_id"] == project_id)
    return VerifyResult(entries=counted, records_checked=checked, problem=first)


def recent(
    session: Session, actor: User, project_id: int | None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest ``limit`` entries of a project (None: the whole database), as dicts.

    Same permissions as :func:`verify`: a project's activity view shows that project only."""
    _require_reader(session, actor, project_id, "see the activity")
    stmt = select(LedgerEntry).order_by(col(LedgerEntry.seq).desc()).limit(limit)
    if project_id is not None:
        stmt = stmt.where(col(LedgerEntry.project_id) == project_id)
    return [row_dict(e) for e in session.execute(stmt).scalars()]
