"""The ledger's Merkle tree kept in a cache file between processes (``audit.tree``)."""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from markit_core.audit.merkle import MerkleTree
from markit_core.audit.tree import ledger_tree
from markit_core.labels import add_labels


def _grow(session, admin, make_project, n: int, name: str) -> None:
    project = make_project(name, admin)
    add_labels(session, admin, project.id, [(f"label {i}", "G") for i in range(n)])


def test_levels_round_trip_for_every_small_size():
    for n in range(0, 40):
        leaves = [hashlib.sha256(b"%d" % i).digest() for i in range(n)]
        tree = MerkleTree(leaves)
        again = MerkleTree.from_bytes(n, tree.to_bytes())
        assert len(again) == n and again.root() == tree.root()
        again.append(hashlib.sha256(b"next").digest())
        assert again.root() == MerkleTree([*leaves, hashlib.sha256(b"next").digest()]).root()


def test_the_cache_is_extended_and_equals_a_rebuild(session, admin, make_project, tmp_path):
    cache = tmp_path / "cache" / "ledger-tree.bin"
    _grow(session, admin, make_project, 3, "A")
    first = ledger_tree(session, cache=cache)
    assert cache.is_file() and first.root() == ledger_tree(session).root()
    _grow(session, admin, make_project, 4, "B")
    grown = ledger_tree(session, cache=cache)  # starts from the file, adds the new entries
    plain = ledger_tree(session)
    assert len(grown) == len(plain) > len(first) and grown.root() == plain.root()
    assert grown.root(len(first)) == first.root()


def test_a_rewritten_entry_or_a_damaged_file_is_never_trusted(
    session, admin, make_project, tmp_path
):
    cache = tmp_path / "ledger-tree.bin"
    _grow(session, admin, make_project, 2, "A")
    size = len(ledger_tree(session, cache=cache))
    # the newest cached entry is rewritten with a new leaf (as a forged history would be)
    forged = hashlib.sha256(b"forged").hexdigest()
    session.execute(
        text("UPDATE ledger_entry SET entry_hash = :h, leaf_hash = :h WHERE seq = :s"),
        {"h": forged, "s": size},
    )
    session.commit()
    assert ledger_tree(session, cache=cache).leaf(size - 1).hex() == forged  # rebuilt
    cache.write_bytes(cache.read_bytes()[:50])  # truncated
    assert ledger_tree(session, cache=cache).root() == ledger_tree(session).root()
    cache.write_bytes(b"not a tree at all")
    assert ledger_tree(session, cache=cache).root() == ledger_tree(session).root()
