"""The Merkle tree over the activity ledger: leaf ``i`` is ledger entry ``seq = i + 1``.

Each entry stores its leaf hash (``ledger_entry.leaf_hash``, written by
``ledger.append``), so loading the tree reads one column and hashes only the
interior nodes; entries written without one (bulk loads, old rows before
their backfill) get theirs computed from their content here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlmodel import Session

from markit_core import ledger
from markit_core.audit.merkle import MerkleTree
from markit_core.errors import MarkitError

__all__ = ["ENTRY_COLUMNS", "entries_by_seq", "leaves_from_content", "ledger_tree"]

ENTRY_COLUMNS = (*ledger.ENTRY_FIELDS, "entry_hash", "leaf_hash")
_CHUNK = 500


def _cursor_rows(session: Session, sql: str, params: tuple = ()) -> list[tuple]:
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params) if params else cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def ledger_tree(session: Session) -> MerkleTree:
    """The ledger's Merkle tree as stored now (raises if the sequence has a gap)."""
    rows = _cursor_rows(session, "SELECT seq, leaf_hash FROM ledger_entry ORDER BY seq")
    missing = [seq for seq, h in rows if h is None]
    computed = {e["seq"]: ledger.entry_leaf_hash(e) for e in entries_by_seq(session, missing)}
    leaves = []
    for n, (seq, h) in enumerate(rows, start=1):
        if seq != n:
            raise MarkitError(f"ledger entry {n} is missing: the tree cannot be built")
        leaves.append(bytes.fromhex(h if h is not None else computed[seq]))
    return MerkleTree(leaves)


def entries_by_seq(session: Session, seqs: Iterable[int]) -> Iterator[dict[str, Any]]:
    """Full ledger entries (as plain dicts, ``removed`` a bool) for ``seqs``, in chunks."""
    wanted = sorted(set(seqs))
    marker = "%s" if session.get_bind().dialect.paramstyle in ("format", "pyformat") else "?"
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        sql = (
            f"SELECT {', '.join(ENTRY_COLUMNS)} FROM ledger_entry "
            f"WHERE seq IN ({', '.join([marker] * len(chunk))}) ORDER BY seq"
        )
        for row in _cursor_rows(session, sql, tuple(chunk)):
            entry = dict(zip(ENTRY_COLUMNS, row, strict=True))
            entry["removed"] = bool(entry["removed"])
            yield entry


def leaves_from_content(session: Session) -> Iterator[bytes]:
    """Every entry's leaf hash computed from its content (not the stored column), in order."""
    sql = f"SELECT {', '.join(ENTRY_COLUMNS)} FROM ledger_entry ORDER BY seq"
    for n, row in enumerate(_cursor_rows(session, sql), start=1):
        entry = dict(zip(ENTRY_COLUMNS, row, strict=True))
        if entry["seq"] != n:
            raise MarkitError(f"ledger entry {n} is missing: the tree cannot be built")
        entry["removed"] = bool(entry["removed"])
        yield bytes.fromhex(ledger.entry_leaf_hash(entry))
