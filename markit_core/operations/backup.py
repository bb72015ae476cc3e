"""Backup and restore of a whole MarkIt installation: database, image store, ledger head.

A backup is a folder:

* the database snapshot, ``database.sqlite`` (the SQLite online-backup API,
  consistent while the app keeps writing) or ``database.pgdump`` (``pg_dump``
  custom format, run on a snapshot exported from the transaction that reads
  the ledger head, so both describe the same instant);
* ``store/``: every content-addressed image file the snapshot's cases refer
  to, copied after the snapshot, so a file written by an ingest still in
  flight is simply not part of this backup (its case is not in it either);
* ``manifest.json``, written last: the Alembic revision, the ledger head
  (entries, sequence number and hash of the newest entry) and the SHA-256 and
  size of every file. A folder without a manifest is an unfinished backup.

Restore checks every file against the manifest before touching anything,
refuses a target that already holds data unless forced, and afterwards
:func:`check_restored` verifies the restored ledger and compares its head with
the one recorded in the backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from markit_core.access import require_admin
from markit_core.config import Settings
from markit_core.errors import MarkitError, ValidationError
from markit_core.imaging.store import ImageStore
from markit_core.models import User, utcnow
from markit_core.operations.pg_tools import run_pg_program

MANIFEST = "manifest.json"
FORMAT = "markit-backup"
FORMAT_VERSION = 1
DB_FILES = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}

Query = Callable[[str], Sequence[Sequence[Any]]]


@dataclass(frozen=True)
class LedgerHeadInfo:
    """The newest ledger entry at snapshot time: how many entries, its seq and hash."""

    entries: int
    seq: int
    entry_hash: str


@dataclass(frozen=True)
class Snapshot:
    """What the database snapshot holds, read inside the snapshot itself."""

    revision: str
    head: LedgerHeadInfo
    stored_paths: list[str]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_snapshot(query: Query) -> Snapshot:
    """Revision, ledger head and referenced store files, through ``query`` (one snapshot)."""
    revision = query("SELECT version_num FROM alembic_version")
    head = query("SELECT seq, entry_hash FROM ledger_head WHERE id = 1")
    entries = query("SELECT count(*) FROM ledger_entry")
    # cases left in an archive have no store file (their images are the archive's)
    paths = query(
        "SELECT DISTINCT stored_path FROM \"case\" WHERE stored_path NOT LIKE 'archive/%' "
        "ORDER BY stored_path"
    )
    seq, entry_hash = (int(head[0][0]), str(head[0][1])) if head else (0, "")
    return Snapshot(
        revision=str(revision[0][0]) if revision else "",
        head=LedgerHeadInfo(int(entries[0][0]), seq, entry_hash),
        stored_paths=[str(r[0]) for r in paths],
    )


def _backend(engine: Engine) -> str:
    name = engine.url.get_backend_name()
    if name not in DB_FILES:
        raise ValidationError(f"backup supports SQLite and PostgreSQL, not {name!r}")
    return name


def _snapshot_sqlite(engine: Engine, out: Path) -> Snapshot:
    """Copy the live SQLite database with the online-backup API, then read the copy."""
    src = sqlite3.connect(str(engine.url.database), timeout=30)
    dst = sqlite3.connect(str(out))
    try:
        src.backup(dst)  # all pages in one step: one consistent read transaction
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        return _read_snapshot(lambda sql: dst.execute(sql).fetchall())
    finally:
        dst.close()
        src.close()


def _snapshot_postgres(engine: Engine, out: Path) -> Snapshot:
    """``pg_dump`` the database on a snapshot exported from the transaction that reads it."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
            state = _read_snapshot(lambda sql: conn.exec_driver_sql(sql).all())
            run_pg_program(
                "pg_dump",
                ["--format=custom", f"--snapshot={snapshot_id}", f"--file={out}"],
                engine.url,
                "pg_dump of the database",
            )
    return state


def _prepare_empty_dir(dest: Path) -> bool:
    """Create ``dest`` (or accept it empty); True when this call created it."""
    if dest.exists():
        if not dest.is_dir():
            raise ValidationError(f"backup target {dest} exists and is not a folder")
        if any(dest.iterdir()):
            raise ValidationError(f"backup target {dest} is not empty; choose a new folder")
        return False
    dest.mkdir(parents=True)
    return True


def _copy_store(store: ImageStore, paths: Sequence[str], dest: Path) -> dict[str, dict]:
    files: dict[str, dict] = {}
    for rel in paths:
        source = store.path_of(rel)
        if not source.is_file():
            raise MarkitError(
                f"image {rel} is referenced by the database but missing from the store "
                f"{store.root}; the backup would be incomplete"
            )
        target = dest / "store" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        digest = _sha256_file(target)
        if digest != rel.replace("/", "")[:64]:
            raise MarkitError(f"image {rel} in the store was altered on disk (hash mismatch)")
        files[f"store/{rel}"] = {"sha256": digest, "size": target.stat().st_size}
    return files


def backup(engine: Engine, settings: Settings, actor: User, dest: Path) -> dict[str, Any]:
    """Snapshot the database, its image files and the ledger head into ``dest``.

    Parameters
    ----------
    engine
        The live database (the app may keep writing while this runs).
    settings
        Gives the image store folder.
    actor
        Must be a site administrator.
    dest
        A new or empty folder.

    Returns
    -------
    dict
        The manifest written to ``dest/manifest.json``.

    Raises
    ------
    PermissionDenied
        ``actor`` is not a site administrator.
    ValidationError
        ``dest`` is not empty, or the database is neither SQLite nor PostgreSQL.
    MarkitError
        ``pg_dump`` is missing or failed, or a referenced image is missing.
    """
    require_admin(actor, "back up MarkIt")
    backend = _backend(engine)
    dest = Path(dest)
    created = _prepare_empty_dir(dest)
    try:
        db_file = dest / DB_FILES[backend]
        snap = (_snapshot_sqlite if backend == "sqlite" else _snapshot_postgres)(engine, db_file)
        files = {db_file.name: {"sha256": _sha256_file(db_file), "size": db_file.stat().st_size}}
        files.update(_copy_store(ImageStore.from_settings(settings), snap.stored_paths, dest))
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": utcnow().isoformat(timespec="seconds"),
            "created_by": actor.username,
            "backend": backend,
            "database_file": db_file.name,
            "alembic_revision": snap.revision,
            "ledger": {
                "entries": snap.head.entries,
                "seq": snap.head.seq,
                "entry_hash": snap.head.entry_hash,
            },
            "files": files,
        }
        tmp = dest / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, dest / MANIFEST)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        if not created:
            dest.mkdir(parents=True, exist_ok=True)
        raise
    return manifest
