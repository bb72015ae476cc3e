"""The Merkle tree over the activity ledger: leaf ``i`` is ledger entry ``seq = i + 1``.

Each entry stores its leaf hash (``ledger_entry.leaf_hash``, written by
``ledger.append``), so loading the tree reads one column and hashes only the
interior nodes; entries written without one (bulk loads, old rows before
their backfill) get theirs computed from their content here.

With a ``cache`` file (the CLI uses ``<data dir>/cache/ledger-tree.bin``) a
process does not rebuild a large tree: the file keeps every level of the tree
as it was, with the size and the chain hash of its newest entry. It is used only
while the database's entry of that number still has that hash — the hash chain
makes it commit to every entry before it — and is then extended by the newer
entries alone; anything else (another ledger, a rewritten entry, a damaged
file) rebuilds it from the database. Proofs always re-hash the entries they
prove from the database.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlmodel import Session

from markit_core import ledger
from markit_core.audit.merkle import MerkleTree
from markit_core.errors import MarkitError

__all__ = ["ENTRY_COLUMNS", "entries_by_seq", "leaves_from_content", "ledger_tree"]

ENTRY_COLUMNS = (*ledger.ENTRY_FIELDS, "entry_hash", "leaf_hash")
_CHUNK = 500
_CACHE_MAGIC = b"MKMT1\0\0\0"
_CACHE_HEADER = struct.Struct("<8sQ32s")  # magic, size, entry hash of the newest entry


def _marker(session: Session) -> str:
    """The DB-API parameter placeholder of the session's driver."""
    return "%s" if session.get_bind().dialect.paramstyle in ("format", "pyformat") else "?"


def _cursor_rows(session: Session, sql: str, params: tuple = ()) -> list[tuple]:
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params) if params else cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def ledger_tree(session: Session, cache: Path | None = None) -> MerkleTree:
    """The ledger's Merkle tree as stored now (raises if the sequence has a gap).

    ``cache``: a file to start from and to leave the tree in (see the module docstring).
    """
    tree = _cached_tree(session, cache) if cache is not None else None
    start = len(tree) if tree is not None else 0
    leaves = _leaves_after(session, start)
    if tree is None:
        tree = MerkleTree(leaves)
    else:
        tree.extend(leaves)
    if cache is not None and (len(tree) != start or not cache.is_file()):
        _save_tree(session, cache, tree)
    return tree


def _leaves_after(session: Session, start: int) -> list[bytes]:
    """Leaf hashes of the entries after the first ``start``, in order (checking for gaps)."""
    marker = "%s" if session.get_bind().dialect.paramstyle in ("format", "pyformat") else "?"
    rows = _cursor_rows(
        session,
        f"SELECT seq, leaf_hash FROM ledger_entry WHERE seq > {marker} ORDER BY seq",
        (start,),
    )
    missing = [seq for seq, h in rows if h is None]
    computed = {e["seq"]: ledger.entry_leaf_hash(e) for e in entries_by_seq(session, missing)}
    leaves = []
    for n, (seq, h) in enumerate(rows, start=start + 1):
        if seq != n:
            raise MarkitError(f"ledger entry {n} is missing: the tree cannot be built")
        leaves.append(bytes.fromhex(h if h is not None else computed[seq]))
    return leaves


def _entry_hash(session: Session, seq: int) -> bytes | None:
    marker = "%s" if session.get_bind().dialect.paramstyle in ("format", "pyformat") else "?"
    rows = _cursor_rows(
        session, f"SELECT entry_hash FROM ledger_entry WHERE seq = {marker}", (seq,)
    )
    return bytes.fromhex(rows[0][0]) if rows and rows[0][0] else None


def _cached_tree(session: Session, cache: Path) -> MerkleTree | None:
    """The cached tree if it is a prefix of this ledger, else None."""
    try:
        data = cache.read_bytes()
        magic, size, chain = _CACHE_HEADER.unpack_from(data)
        if magic != _CACHE_MAGIC or size == 0 or _entry_hash(session, size) != chain:
            return None
        return MerkleTree.from_bytes(size, data[_CACHE_HEADER.size :])
    except (OSError, struct.error, ValueError):
        return None


def _save_tree(session: Session, cache: Path, tree: MerkleTree) -> None:
    """Write the tree beside the file, then rename it into place (never a half-written cache)."""
    chain = _entry_hash(session, len(tree)) if len(tree) else None
    if chain is None:
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(_CACHE_HEADER.pack(_CACHE_MAGIC, len(tree), chain))
            f.write(tree.to_bytes())
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)  # a cache that cannot be written is only slower


def entries_by_seq(session: Session, seqs: Iterable[int]) -> Iterator[dict[str, Any]]:
    """Full ledger entries (as plain dicts, ``removed`` a bool) for ``seqs``, in chunks."""
    wanted = sorted(set(seqs))
    marker = _marker(session)
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
