"""Audit: the ledger as a Merkle tree, signed tree heads, proofs and export audit bundles.

The hash chain of :mod:`markit_core.ledger` stays the source of truth; this
package adds what lets a third party check it without the database: RFC 6962
Merkle trees (:mod:`.merkle`), the tree over the ledger (:mod:`.tree`), the
owner's Ed25519 signing key (:mod:`.keys`), signed tree heads (:mod:`.heads`)
and audit bundles with inclusion proofs (:mod:`.bundle`, :mod:`.verify`).
"""

from markit_core.audit.heads import SignedHead, check_consistency, check_head, sign_tree_head
from markit_core.audit.keys import create_signing_key, public_key_pem
from markit_core.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from markit_core.audit.tree import ledger_tree
from markit_core.audit.verify import BundleReport, verify_bundle

__all__ = [
    "BundleReport",
    "SignedHead",
    "check_consistency",
    "check_head",
    "create_signing_key",
    "ledger_tree",
    "public_key_pem",
    "sign_tree_head",
    "verify_bundle",
    "EMPTY_ROOT",
    "MerkleTree",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]
