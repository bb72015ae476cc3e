"""Checking the ledger: the hash chain, its head, and the logged records against their digests.

Reading is permission-checked: ``recent`` and ``verify`` of a project need its
statistics permission, the whole ledger a site administrator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, SQLModel, col

from markit_core.access import Action, require, require_admin
from markit_core.ledger.hashing import (
    CHILD_TABLES,
    ENTRY_FIELDS,
    GENESIS,
    digest_row,
    entry_bytes,
    leaf_hash,
    primary_key_name,
    record_table,
    row_dict,
)
from markit_core.models import LedgerEntry, LedgerHead, User


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
        table = record_table(rtype)
        pk = table.c[primary_key_name(table)]
        names = [c.name for c in table.columns]
        rows = {
            str(r[pk.name]): r
            for r in (
                dict(zip(names, t, strict=True)) for t in session.execute(select(table)).all()
            )
        }
        # SQLAlchemy row mappings (keyed by column name) are digested as they come
        children: dict[str, dict[str, list[Mapping[Any, Any]]]] = {}
        for child, fk in CHILD_TABLES.get(rtype, ()):
            grouped: dict[str, list[Mapping[Any, Any]]] = {}
            for r in session.execute(select(record_table(child))).mappings():
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
    columns = (*ENTRY_FIELDS, "entry_hash", "leaf_hash")
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
