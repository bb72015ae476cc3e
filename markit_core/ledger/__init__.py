"""Hash-chained activity ledger.

Every state change appends one entry in the same transaction as the change.
An entry stores the SHA-256 digest of the canonical JSON of the affected
record, the previous entry's hash and its own hash, so

* editing an entry breaks its own hash,
* deleting, inserting or reordering entries breaks the sequence or the links,
* deleting the newest entries is caught by the ``ledger_head`` row,
* editing a logged record afterwards (outside MarkIt) no longer matches the
  digest of the newest entry that refers to it.

Records with child rows (an annotation with its values and ROIs) are digested
together with their children, so editing a child is caught too.

Reading is permission-checked: ``recent`` and ``verify`` of a project need its
statistics permission, the whole ledger a site administrator.

Modules: ``hashing`` (canonical JSON and digests), ``writing`` (``append``),
``checking`` (``verify``, ``integrity``, ``recent``). Callers use this package's
names; the Merkle tree, signed heads and bundles built on it are in
``markit_core.audit``.
"""

from markit_core.ledger.checking import Problem, VerifyResult, integrity, recent, verify
from markit_core.ledger.hashing import (
    CHILD_TABLES,
    ENTRY_FIELDS,
    GENESIS,
    canonical_json,
    digest_row,
    entry_bytes,
    entry_hash,
    entry_leaf_hash,
    leaf_hash,
    primary_key_name,
    record_table,
    row_dict,
)
from markit_core.ledger.writing import append

__all__ = [
    "CHILD_TABLES",
    "ENTRY_FIELDS",
    "GENESIS",
    "Problem",
    "VerifyResult",
    "append",
    "canonical_json",
    "digest_row",
    "entry_bytes",
    "entry_hash",
    "entry_leaf_hash",
    "integrity",
    "leaf_hash",
    "primary_key_name",
    "recent",
    "record_table",
    "row_dict",
    "verify",
]
