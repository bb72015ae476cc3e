"""Writing an export's audit bundle: manifest, signed head, ledger entries, records, proofs.

Layout (see docs/export.md)::

    manifest.json            files (SHA-256, bytes, rows), parameters, actor, export record
    ledger/head.json         signed tree head of the ledger right after the export was logged
    ledger/entries.jsonl     every ledger entry that covers an exported record, and the export's
    ledger/records.jsonl     the ledgered records (annotations with values and regions, ...)
    ledger/proofs.jsonl      an inclusion proof per entry, in the tree of the signed head
    public_key.pem           the signer's public key (a copy: verify with one you trust)

Everything is written by streaming, a chunk of records at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from markit_core import ledger
from markit_core.audit.heads import SignedHead
from markit_core.audit.merkle import MerkleTree
from markit_core.audit.tree import entries_by_seq
from markit_core.errors import LedgerError
from markit_core.models import LedgerEntry

__all__ = [
    "BUNDLE_FORMAT",
    "LEDGER_DIR",
    "covering_entries",
    "file_sha256",
    "manifest_digest",
    "write_ledger_files",
]

BUNDLE_FORMAT = "markit-export-bundle/1"
LEDGER_DIR = "ledger"
_CHUNK = 500


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_digest(core: dict[str, Any]) -> str:
    """SHA-256 of the manifest's content (files, parameters, actor, project): what the
    export record stores, so the ledger vouches for the manifest."""
    return hashlib.sha256(ledger.canonical_json(core).encode("utf-8")).hexdigest()


def covering_entries(
    session: Session, project_id: int, record_type: str, record_ids: Iterable[int]
) -> dict[int, int]:
    """record id -> seq of the newest ledger entry about it (the one that vouches for it now)."""
    wanted = {str(i) for i in record_ids}
    if not wanted:
        return {}
    stmt = (
        select(col(LedgerEntry.record_id), func.max(col(LedgerEntry.seq)))
        .where(
            col(LedgerEntry.record_type) == record_type, col(LedgerEntry.project_id) == project_id
        )
        .group_by(col(LedgerEntry.record_id))
    )
    found = {rid: seq for rid, seq in session.execute(stmt) if rid in wanted}
    missing = wanted - set(found)
    if missing:
        raise LedgerError(
            f"{record_type} {min(missing, key=int)} has no ledger entry; run `ledger verify`"
        )
    return {int(rid): seq for rid, seq in found.items()}


def _records(
    session: Session, record_type: str, ids: list[int]
) -> Iterable[tuple[int, dict, dict]]:
    table = ledger.record_table(record_type)
    pk = table.c[ledger.primary_key_name(table)]
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        rows = {
            r[pk.name]: dict(r)
            for r in session.execute(select(table).where(pk.in_(chunk))).mappings()
        }
        kids: dict[str, dict[int, list[dict]]] = {}
        for child, fk in ledger.CHILD_TABLES.get(record_type, ()):
            ct = ledger.record_table(child)
            grouped: dict[int, list[dict]] = {}
            for r in session.execute(select(ct).where(ct.c[fk].in_(chunk))).mappings():
                grouped.setdefault(r[fk], []).append(dict(r))
            kids[child] = grouped
        for rid in chunk:
            if rid not in rows:
                raise LedgerError(f"{record_type} {rid} was deleted after it was exported")
            yield rid, rows[rid], {name: g.get(rid, []) for name, g in kids.items()}


def write_ledger_files(
    session: Session,
    bundle: Path,
    head: SignedHead,
    tree: MerkleTree,
    covered: dict[str, dict[int, int]],
    extra_seqs: Iterable[int],
) -> int:
    """Write entries, records and proofs for ``covered`` {record_type: {id: seq}}; return count.

    Each record is re-digested on the way out: one changed after it was logged
    stops the export (the bundle would not verify).
    """
    folder = bundle / LEDGER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "head.json").write_text(head.to_json(), encoding="utf-8")
    seq_of = {seq: (rtype, rid) for rtype, ids in covered.items() for rid, seq in ids.items()}
    seqs = sorted({*seq_of, *extra_seqs})
    digests: dict[int, str] = {}
    with (
        open(folder / "entries.jsonl", "w", encoding="utf-8") as ef,
        open(folder / "proofs.jsonl", "w", encoding="utf-8") as pf,
    ):
        for entry in entries_by_seq(session, seqs):
            seq = entry["seq"]
            digests[seq] = entry["record_digest"]
            ef.write(ledger.canonical_json(entry) + "\n")
            path = [p.hex() for p in tree.inclusion_proof(seq - 1, head.tree_size)]
            pf.write(
                ledger.canonical_json(
                    {"seq": seq, "leaf_index": seq - 1, "tree_size": head.tree_size, "path": path}
                )
                + "\n"
            )
    with open(folder / "records.jsonl", "w", encoding="utf-8") as rf:
        for rtype, ids in covered.items():
            for rid, row, children in _records(session, rtype, sorted(ids)):
                seq = ids[rid]
                kids = children or None
                if ledger.digest_row(rtype, row, kids) != digests[seq]:
                    raise LedgerError(
                        f"{rtype} {rid} changed after ledger entry {seq} logged it; "
                        "run `ledger verify`"
                    )
                rf.write(
                    ledger.canonical_json(
                        {
                            "seq": seq,
                            "record_type": rtype,
                            "record_id": rid,
                            "row": row,
                            "children": children,
                        }
                    )
                    + "\n"
                )
    return len(seqs)
