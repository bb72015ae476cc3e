"""Running MarkIt: backups of the database, image store and ledger head, and their restore."""

from __future__ import annotations

from markit_core.operations.backup import LedgerHeadInfo, backup
from markit_core.operations.pg_tools import find_pg_program
from markit_core.operations.restore import RestoreCheck, check_restored, read_manifest, restore

__all__ = [
    "LedgerHeadInfo",
    "RestoreCheck",
    "backup",
    "check_restored",
    "find_pg_program",
    "read_manifest",
    "restore",
]
