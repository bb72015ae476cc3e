"""The Merkle tree against the RFC 6962 / RFC 9162 reference test vectors.

The vectors are those of the Certificate Transparency reference implementation
(transparency-dev/merkle ``proof/verify_test.go``, also in Trillian and
certificate-transparency-go): an 8-leaf tree, the roots of its sizes 1..8,
and the inclusion and consistency proofs the RFC's algorithms must produce.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from markit_core.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (leaf number counted from 1, tree size, audit path)
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def _tree(n: int = 8) -> MerkleTree:
    return MerkleTree(leaf_hash(d) for d in LEAVES[:n])


def test_empty_tree_and_leaf_hashing():
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"") == ROOTS[0]  # a one-leaf tree's root is its leaf hash
    assert leaf_hash(b"L123456") != leaf_hash(b"\x01" + b"L123456")  # domain separation


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_every_size(size):
    tree = _tree()
    assert tree.root(size) == ROOTS[size - 1]
    incremental = MerkleTree()  # leaf by leaf gives the same tree as the bulk build
    for d in LEAVES[:size]:
        incremental.append(leaf_hash(d))
    assert incremental.root() == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_reference(leaf, size, path):
    tree = _tree()
    proof = tree.inclusion_proof(leaf - 1, size)
    assert [p.hex() for p in proof] == path
    verify_inclusion(leaf - 1, size, leaf_hash(LEAVES[leaf - 1]), proof, ROOTS[size - 1])


@pytest.mark.parametrize(("size1", "size2", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_reference(size1, size2, path):
    tree = _tree()
    proof = tree.consistency_proof(size1, size2)
    assert [p.hex() for p in proof] == path
    verify_consistency(size1, size2, ROOTS[size1 - 1], ROOTS[size2 - 1], proof)


@pytest.mark.parametrize(("leaf", "size", "path"), [v for v in INCLUSION if v[2]])
def test_corrupted_inclusion_proofs_fail(leaf, size, path):
    proof = [bytes.fromhex(h) for h in path]
    good = leaf_hash(LEAVES[leaf - 1])
    root = ROOTS[size - 1]
    probes = [
        (leaf - 1, size * 2, good, proof, root),
        (leaf - 1, size, leaf_hash(b"WrongLeaf"), proof, root),
        (leaf - 1, size, good, proof, EMPTY_ROOT),
        (leaf - 1, size, good, proof + [root], root),
        (leaf - 1, size, good, [root, *proof], root),
        (leaf - 1, size, good, proof[:-1], root),
        (leaf - 1 ^ 2, size, good, proof, root),
    ]
    if leaf < size:
        probes.append((leaf, size, good, proof, root))
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 8]) + proof[i][1:]
        probes.append((leaf - 1, size, good, flipped, root))
    for index, n, lh, p, r in probes:
        with pytest.raises(ProofError):
            verify_inclusion(index, n, lh, p, r)


@pytest.mark.parametrize(("size1", "size2", "path"), [v for v in CONSISTENCY if v[2]])
def test_corrupted_consistency_proofs_fail(size1, size2, path):
    proof = [bytes.fromhex(h) for h in path]
    r1, r2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    probes = [
        (size1 + 1, size2, r1, r2, proof),
        (size1, size2 * 2, r1, r2, proof),
        (size1, size2, r2, r1, proof),
        (size1, size2, b"\x00" * 32, r2, proof),
        (size1, size2, r1, r2, []),
        (size1, size2, r1, r2, proof + [r1]),
        (size1, size2, r1, r2, [proof[0], *proof]),
        (size1, size2, r1, r2, proof[:-1]),
        (size2, size1, r2, r1, proof),
    ]
    if size1 > 1:
        probes.append((size1 - 1, size2, r1, r2, proof))
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([proof[i][0] ^ 16]) + proof[i][1:]
        probes.append((size1, size2, r1, r2, flipped))
    for s1, s2, a, b, p in probes:
        with pytest.raises(ProofError):
            verify_consistency(s1, s2, a, b, p)


def _reference_root(leaves: list[bytes]) -> bytes:
    """MTH written straight from RFC 9162's recursive definition."""
    from markit_core.audit.merkle import node_hash

    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def test_every_proof_of_a_larger_tree_verifies():
    """All sizes up to 70, every leaf and every older size, against the recursive definition."""
    rng = random.Random(7)
    hashes = [leaf_hash(rng.randbytes(rng.randint(0, 40))) for _ in range(70)]
    bulk, incremental = MerkleTree(hashes), MerkleTree()
    for n in range(1, 71):
        incremental.append(hashes[n - 1])
        root = _reference_root(hashes[:n])
        assert bulk.root(n) == incremental.root() == root
        for i in range(n):
            proof = bulk.inclusion_proof(i, n)
            assert root_from_inclusion_proof(i, n, hashes[i], proof) == root
        for m in range(0, n + 1):
            old = bulk.root(m)
            verify_consistency(m, n, old, root, bulk.consistency_proof(m, n))
    mixed = MerkleTree(hashes[:13])  # bulk start, then appends
    mixed.extend(hashes[13:])
    assert mixed.root() == bulk.root()
