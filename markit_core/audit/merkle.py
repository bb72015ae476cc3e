"""Merkle tree in the Certificate Transparency style (RFC 6962 / RFC 9162, section 2.1).

Leaf hash ``SHA-256(0x00 || entry)``, node hash ``SHA-256(0x01 || left || right)``;
the tree of ``n`` leaves splits at the largest power of two below ``n``.

:class:`MerkleTree` keeps every *complete* subtree hash, level by level, in one
``bytearray`` per level (32 bytes a node). Appending a leaf hashes only the
subtrees it completes (one node on average), so the ledger never rebuilds
the tree; the root of any size, an inclusion proof and a consistency proof
each need ``O(log n)`` hashes. The verifiers are the RFC 9162 algorithms
(sections 2.1.3.2 and 2.1.4.2) and need nothing but the proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "MerkleTree",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

_SHA = hashlib.sha256
EMPTY_ROOT = _SHA(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, with the reason."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash of one entry's bytes."""
    return _SHA(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return _SHA(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only Merkle tree of leaf hashes, with roots and proofs of any past size."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaves)

    def __len__(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add one leaf *hash*; hash the subtrees it completes."""
        if len(leaf) != 32:
            raise ValueError("a leaf hash has 32 bytes")
        levels = self._levels
        levels[0] += leaf
        index, level, node = self._size, 0, leaf
        self._size += 1
        while index & 1:
            start = (index - 1) * 32
            node = node_hash(bytes(levels[level][start : start + 32]), node)
            level += 1
            index >>= 1
            if len(levels) == level:
                levels.append(bytearray())
            levels[level] += node

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaf hashes (level by level: one pass per level)."""
        batch = bytearray(b"".join(leaves))
        if not batch:
            return
        if len(batch) % 32:
            raise ValueError("leaf hashes have 32 bytes each")
        if self._size:
            for i in range(0, len(batch), 32):
                self.append(bytes(batch[i : i + 32]))
            return
        self._levels = [batch]
        self._size = len(batch) // 32
        level = batch
        while len(level) >= 64:
            nxt = bytearray()
            for i in range(0, len(level) - 63, 64):
                nxt += _SHA(b"\x01" + level[i : i + 64]).digest()
            self._levels.append(nxt)
            level = nxt

    def to_bytes(self) -> bytes:
        """Every stored level, level 0 first (``size >> k`` nodes at level ``k``)."""
        return b"".join(bytes(level) for level in self._levels)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> MerkleTree:
        """The tree :meth:`to_bytes` wrote for ``size`` leaves; ValueError if it does not fit."""
        levels, offset, width = [], 0, size
        while True:
            end = offset + width * 32
            levels.append(bytearray(data[offset:end]))
            offset = end
            if width < 2:
                break
            width //= 2
        if offset != len(data) or len(levels[-1]) != (size >> (len(levels) - 1)) * 32:
            raise ValueError(f"not the levels of a Merkle tree of {size} leaves")
        tree = cls()
        tree._levels, tree._size = (levels if size else [bytearray()]), size
        return tree

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        return self._node(0, index)

    def _node(self, level: int, index: int) -> bytes:
        start = index * 32
        return bytes(self._levels[level][start : start + 32])

    def _range(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``; ``start`` is aligned to the subtree it begins."""
        n = end - start
        if n & (n - 1) == 0:  # a complete subtree, stored
            level = n.bit_length() - 1
            return self._node(level, start >> level)
        k = _split(n)
        return node_hash(self._node(k.bit_length() - 1, start // k), self._range(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree's first ``size`` leaves (default: all)."""
        size = self._size if size is None else size
        self._check_size(size)
        return EMPTY_ROOT if size == 0 else self._range(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 PATH(index, D[size]): the audit path of leaf ``index``, leaf to root."""
        size = self._size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of size {size}")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._range(start + k, end))
                end = start + k
            else:
                path.append(self._range(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 PROOF(size1, D[size2]): the tree of ``size2`` extends that of ``size1``."""
        size2 = self._size if size2 is None else size2
        self._check_size(size2)
        if not 0 <= size1 <= size2:
            raise ValueError(f"size {size1} is not between 0 and {size2}")
        if size1 in (0, size2):
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, size2, size1, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                proof.append(self._range(start + k, end))
                end = start + k
            else:
                proof.append(self._range(start, start + k))
                start, m, complete = start + k, m - k, False
        if not complete:
            proof.append(self._range(start, end))
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} is not between 0 and {self._size}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 section 2.1.3.2); ProofError if malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    if len(leaf) != 32 or any(len(p) != 32 for p in proof):
        raise ProofError("a hash in the proof does not have 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows leaf ``index`` is in the tree with ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"the proof for leaf {index} does not lead to the root of size {size}")


def _trivial_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """Handle the cases without a proof to walk; True when one of them applied (and held)."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"size {size1} is larger than size {size2}: history cannot shrink")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError(f"two different roots for the same size {size1}")
        return True
    if size1 == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return True
    if not proof or any(len(p) != 32 for p in proof):
        raise ProofError("the consistency proof is empty or has a hash that is not 32 bytes")
    return False


def _consistency_roots(size1: int, size2: int, path: list[bytes]) -> tuple[bytes, bytes]:
    """The (old, new) roots a consistency path leads to (RFC 9162 section 2.1.4.2 steps 3-6)."""
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    return fr, sr


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless ``proof`` shows the tree (size2, root2) extends (size1, root1).

    RFC 9162 section 2.1.4.2.
    """
    if _trivial_consistency(size1, size2, root1, root2, proof):
        return
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is the first node
        path.insert(0, root1)
    fr, sr = _consistency_roots(size1, size2, path)
    if fr != root1:
        raise ProofError(f"the proof does not reproduce the old root of size {size1}")
    if sr != root2:
        raise ProofError(f"the proof does not reproduce the new root of size {size2}")
