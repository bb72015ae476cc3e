"""Appending to the ledger, in the caller's transaction, one entry per state change."""

from __future__ import annotations

import hashlib

from sqlalchemy import Table, bindparam, select
from sqlmodel import Session, SQLModel

from markit_core import models
from markit_core.ledger.hashing import (
    GENESIS,
    digest_row,
    entry_bytes,
    leaf_hash,
    load_children,
    primary_key_name,
    row_dict,
)
from markit_core.models import LedgerEntry, LedgerHead, utcnow

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
    record_id = row[primary_key_name(table)]
    children = None if removed else load_children(session, record_type, record_id)
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
