"""Signed tree heads: (tree size, root hash, time), signed with the project's Ed25519 key.

The signed bytes are ``markit-tree-head/1`` and a newline followed by the
canonical JSON of ``key_id``, ``root_hash``, ``timestamp`` and ``tree_size``;
a head is saved as a small JSON file that anyone can check with the public
key alone. Consistency proofs show that a later tree extends a signed one.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.audit.keys import active_key, key_id_of, load_public_key, unlock_private_key
from markit_core.audit.merkle import MerkleTree, ProofError, verify_consistency
from markit_core.audit.tree import ledger_tree
from markit_core.db import require_id, rolls_back
from markit_core.errors import LedgerError, ValidationError
from markit_core.models import TreeHead, User, utcnow

__all__ = [
    "ConsistencyResult",
    "HeadError",
    "SignedHead",
    "check_consistency",
    "check_head",
    "read_head",
    "sign_tree_head",
]

_DOMAIN = b"markit-tree-head/1\n"


class HeadError(LedgerError):
    """A signed head that is malformed, signed by another key, or whose signature is wrong."""


@dataclass(frozen=True)
class SignedHead:
    tree_size: int
    root_hash: str  # hex
    timestamp: str  # ISO 8601 UTC
    key_id: str  # hex SHA-256 of the raw public key
    signature: str = ""  # base64 Ed25519 signature of message()

    def message(self) -> bytes:
        body = {
            "key_id": self.key_id,
            "root_hash": self.root_hash,
            "timestamp": self.timestamp,
            "tree_size": self.tree_size,
        }
        return _DOMAIN + ledger.canonical_json(body).encode("utf-8")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = "head") -> SignedHead:
        try:
            head = cls(
                tree_size=int(data["tree_size"]),
                root_hash=str(data["root_hash"]),
                timestamp=str(data["timestamp"]),
                key_id=str(data["key_id"]),
                signature=str(data["signature"]),
            )
            bytes.fromhex(head.root_hash)
        except (KeyError, TypeError, ValueError) as e:
            raise HeadError(f"{where}: not a signed tree head ({e})") from e
        return head


def read_head(path: Path) -> SignedHead:
    """A signed head from its JSON file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise HeadError(f"{path}: cannot read a signed tree head ({e})") from e
    return SignedHead.from_dict(data, str(path))


def check_head(head: SignedHead, public: Ed25519PublicKey, where: str = "head") -> None:
    """Raise HeadError unless ``head`` is signed by ``public``."""
    expected = key_id_of(public)
    if head.key_id != expected:
        raise HeadError(
            f"{where}: signed by a different key (key id {head.key_id[:16]}…, "
            f"the given public key is {expected[:16]}…)"
        )
    try:
        public.verify(base64.b64decode(head.signature, validate=True), head.message())
    except (InvalidSignature, binascii.Error, ValueError) as e:
        raise HeadError(f"{where}: the signature does not verify with the public key") from e


@rolls_back
def sign_tree_head(
    session: Session, actor: User, project_id: int, passphrase: str, tree: MerkleTree | None = None
) -> SignedHead:
    """Sign the ledger's current head with the project's key; store it and log it.

    The head covers the ledger as it is before its own ``ledger.head`` entry.
    """
    require(session, actor, project_id, Action.EXPORT)
    row = active_key(session, project_id)
    assert row is not None
    private = unlock_private_key(row, passphrase)
    tree = tree if tree is not None else ledger_tree(session)
    head = SignedHead(
        tree_size=len(tree),
        root_hash=tree.root().hex(),
        timestamp=utcnow().isoformat(timespec="microseconds"),
        key_id=row.key_id,
    )
    signature = base64.b64encode(private.sign(head.message())).decode()
    head = SignedHead(head.tree_size, head.root_hash, head.timestamp, head.key_id, signature)
    stored = TreeHead(
        project_id=project_id,
        key_id=head.key_id,
        tree_size=head.tree_size,
        root_hash=head.root_hash,
        timestamp=head.timestamp,
        signature=signature,
        signed_by=require_id(actor),
    )
    session.add(stored)
    ledger.append(session, actor=actor, project_id=project_id, action="ledger.head", record=stored)
    session.commit()
    return head


@dataclass(frozen=True)
class ConsistencyResult:
    old_size: int
    new_size: int
    new_root: str
    proof: list[str]


def check_consistency(
    session: Session, actor: User, project_id: int, old: SignedHead
) -> ConsistencyResult:
    """Prove the ledger today extends the signed ``old`` head; LedgerError if it does not.

    The leaves are recomputed from the entries' content, so an entry rewritten
    after ``old`` was signed fails even if its stored leaf hash was left alone.
    """
    require(session, actor, project_id, Action.VIEW)
    key = active_key(session, project_id)
    assert key is not None
    check_head(old, load_public_key(key.public_key), "old head")
    tree = _recomputed_tree(session)
    if old.tree_size > len(tree):
        raise LedgerError(
            f"the ledger has {len(tree)} entries, fewer than the {old.tree_size} of the old head"
        )
    proof = tree.consistency_proof(old.tree_size)
    try:
        verify_consistency(
            old.tree_size, len(tree), bytes.fromhex(old.root_hash), tree.root(), proof
        )
    except ProofError as e:
        raise LedgerError(
            f"the ledger does not extend the head of size {old.tree_size} signed "
            f"{old.timestamp}: history was rewritten ({e})"
        ) from e
    return ConsistencyResult(old.tree_size, len(tree), tree.root().hex(), [p.hex() for p in proof])


def _recomputed_tree(session: Session) -> MerkleTree:
    from markit_core.audit.tree import leaves_from_content

    return MerkleTree(leaves_from_content(session))


def parse_hex_list(values: Any, where: str) -> list[bytes]:
    """A list of hex hashes from JSON (ValidationError naming ``where`` otherwise)."""
    try:
        return [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError) as e:
        raise ValidationError(f"{where}: not a list of hex hashes") from e
