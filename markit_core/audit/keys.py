"""The project owner's Ed25519 signing key.

The private key is stored only as encrypted PKCS#8 (``cryptography``'s best
available encryption: scrypt key derivation and AES-256) under a passphrase
the owner chooses, so neither the database nor a backup of it can sign a
tree head. The public key is exported as PEM; its *key id* is the SHA-256 of
the 32 raw public-key bytes, written into every signed head.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require, roles_of
from markit_core.db import require_id, rolls_back
from markit_core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from markit_core.models import Role, SigningKey, User

__all__ = [
    "MIN_PASSPHRASE",
    "KeyInfo",
    "active_key",
    "create_signing_key",
    "key_id_of",
    "load_public_key",
    "public_key_pem",
    "unlock_private_key",
]

MIN_PASSPHRASE = 10


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    project_id: int
    public_key_pem: str


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw public key: the id a signed head names its key by."""
    return hashlib.sha256(_raw(public)).hexdigest()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text; ValidationError if it is anything else."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise ValidationError(f"not a PEM public key: {e}") from e
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError("the public key is not an Ed25519 key")
    return key


@rolls_back
def create_signing_key(
    session: Session, actor: User, project_id: int, passphrase: str, *, replace: bool = False
) -> KeyInfo:
    """Make the project's Ed25519 key, encrypted with ``passphrase``; only its owner may.

    With ``replace`` an existing key is retired (heads it signed stay verifiable
    with its public key); without, an existing key is a ConflictError.
    """
    require(session, actor, project_id, Action.VIEW)
    if not actor.is_admin and Role.OWNER not in roles_of(session, actor, project_id):
        raise PermissionDenied("only the project's owner may create its signing key")
    if len(passphrase) < MIN_PASSPHRASE:
        raise ValidationError(f"the passphrase needs at least {MIN_PASSPHRASE} characters")
    old = active_key(session, project_id, required=False)
    if old is not None and not replace:
        raise ConflictError("the project already has a signing key (replace it explicitly)")
    if old is not None:
        old.retired = True
        session.add(old)
        ledger.append(
            session, actor=actor, project_id=project_id, action="signing_key.retire", record=old
        )
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    row = SigningKey(
        project_id=project_id,
        owner_id=require_id(actor),
        key_id=key_id_of(public),
        public_key=pem,
        private_key=private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
        ).decode(),
    )
    session.add(row)
    ledger.append(
        session, actor=actor, project_id=project_id, action="signing_key.create", record=row
    )
    session.commit()
    return KeyInfo(row.key_id, project_id, pem)


def active_key(session: Session, project_id: int, *, required: bool = True) -> SigningKey | None:
    """The project's current (not retired) key row."""
    row = session.exec(
        select(SigningKey).where(
            col(SigningKey.project_id) == project_id, col(SigningKey.retired).is_(False)
        )
    ).first()
    if row is None and required:
        raise NotFoundError(
            "the project has no signing key yet: its owner creates one "
            "(`python -m markit_core ledger keygen`, or the export section of the admin page)"
        )
    return row


def public_key_pem(session: Session, actor: User, project_id: int) -> str:
    """The project's public key (PEM), for anyone who may see the project."""
    require(session, actor, project_id, Action.VIEW)
    row = active_key(session, project_id)
    assert row is not None
    return row.public_key


def unlock_private_key(row: SigningKey, passphrase: str) -> Ed25519PrivateKey:
    """Decrypt the key; PermissionDenied for a wrong passphrase."""
    try:
        key = serialization.load_pem_private_key(
            row.private_key.encode(), password=passphrase.encode("utf-8")
        )
    except (ValueError, TypeError) as e:
        raise PermissionDenied("wrong passphrase for the project's signing key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise PermissionDenied("the stored signing key is not an Ed25519 key")
    return key
