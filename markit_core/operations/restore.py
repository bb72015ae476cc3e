"""Restore a backup made by :func:`markit_core.operations.backup.backup`, and check it.

Restoring is an operator's action on the data folder and the database server
(whoever can run it can already replace those files); it acts on the
configured ``MARKIT_DATA_DIR`` / ``MARKIT_DATABASE_URL``. What the restored
data says is then checked as a site administrator *of the restored database*
(:func:`check_restored`): the ledger verifies and its head is the one the
backup recorded, so a backup cut short or edited afterwards is caught.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select
from sqlmodel import Session, col

from markit_core import ledger
from markit_core.db import alembic_config
from markit_core.errors import ValidationError
from markit_core.models import LedgerHead, User
from markit_core.operations.backup import DB_FILES, FORMAT, MANIFEST, _sha256_file
from markit_core.operations.pg_tools import run_pg_program


def read_manifest(source: Path) -> dict[str, Any]:
    """The backup's manifest, after checking every file it lists against its SHA-256."""
    path = Path(source) / MANIFEST
    if not path.is_file():
        raise ValidationError(f"{source} is not a MarkIt backup (no {MANIFEST}; unfinished?)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValidationError(f"{path} is not readable JSON: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValidationError(f"{path} is not a MarkIt backup manifest")
    if manifest.get("backend") not in DB_FILES:
        raise ValidationError(f"{path}: unknown database backend {manifest.get('backend')!r}")
    for name, info in manifest.get("files", {}).items():
        file = Path(source) / name
        if ".." in Path(name).parts or not file.is_file():
            raise ValidationError(f"backup file {name} listed in the manifest is missing")
        if _sha256_file(file) != info.get("sha256"):
            raise ValidationError(f"backup file {name} does not match its SHA-256 in the manifest")
    return manifest


def _code_head(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def _target_has_data(engine: Engine, store_dir: Path) -> str | None:
    """Why the target is not empty, or None."""
    if engine.url.get_backend_name() == "sqlite":
        db = Path(str(engine.url.database))
        if db.exists() and db.stat().st_size > 0:
            return f"database file {db} exists"
    elif inspect(engine).get_table_names():
        return f"database {engine.url.database} has tables"
    if store_dir.is_dir() and any(p.is_file() for p in store_dir.rglob("*")):
        return f"image store {store_dir} holds files"
    return None


def _clear_database(engine: Engine) -> None:
    if engine.url.get_backend_name() == "sqlite":
        db = str(engine.url.database)
        for suffix in ("", "-wal", "-shm"):
            Path(db + suffix).unlink(missing_ok=True)
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")


def _restore_database(engine: Engine, source: Path, manifest: dict[str, Any]) -> None:
    dump = source / manifest["database_file"]
    if engine.url.get_backend_name() == "sqlite":
        target = Path(str(engine.url.database))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".restoring")
        shutil.copyfile(dump, tmp)
        os.replace(tmp, target)
        return
    run_pg_program(
        "pg_restore",
        ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", str(dump)],
        engine.url,
        "pg_restore of the database",
    )


def restore(engine: Engine, store_dir: Path, source: Path, *, force: bool = False) -> dict:
    """Bring a backup back into an empty database and image store.

    Parameters
    ----------
    engine
        The target database (not upgraded: the backup brings its own schema).
    store_dir
        The target image store folder.
    source
        The backup folder.
    force
        Replace a database and add to a store that already hold data.

    Returns
    -------
    dict
        The backup's manifest (give it to :func:`check_restored`).

    Raises
    ------
    ValidationError
        A file does not match the manifest, the backend or the schema
        revision differs, or the target holds data and ``force`` is off.
    MarkitError
        ``pg_restore`` is missing or failed.
    """
    source = Path(source)
    manifest = read_manifest(source)
    backend = engine.url.get_backend_name()
    if manifest["backend"] != backend:
        raise ValidationError(
            f"this backup is of a {manifest['backend']} database; the target is {backend}"
        )
    if manifest.get("alembic_revision") != _code_head(engine):
        raise ValidationError(
            f"the backup is at schema revision {manifest.get('alembic_revision')}, this MarkIt "
            f"at {_code_head(engine)}: restore with the MarkIt version that made it, then upgrade"
        )
    reason = _target_has_data(engine, Path(store_dir))
    if reason and not force:
        raise ValidationError(f"restore target is not empty ({reason}); use --force to replace it")
    if reason:
        _clear_database(engine)
    _restore_database(engine, source, manifest)
    engine.dispose()  # connections opened before the file was replaced must not be reused
    for name in manifest["files"]:
        if name.startswith("store/"):
            target = Path(store_dir) / name.removeprefix("store/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, target)
    return manifest


@dataclass(frozen=True)
class RestoreCheck:
    """Outcome of :func:`check_restored`."""

    verify: ledger.VerifyResult
    head_matches: bool
    expected: dict[str, Any]
    found: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.verify.ok and self.head_matches


def check_restored(session: Session, actor: User, manifest: dict[str, Any]) -> RestoreCheck:
    """Verify the restored ledger (site administrators) and compare its head with the backup's.

    Raises ``PermissionDenied`` unless ``actor`` is an administrator of the
    restored database.
    """
    result = ledger.verify(session, actor)
    head = session.execute(select(col(LedgerHead.seq), col(LedgerHead.entry_hash))).first()
    found = {
        "entries": result.entries,
        "seq": int(head.seq) if head else 0,
        "entry_hash": str(head.entry_hash) if head else "",
    }
    expected = dict(manifest["ledger"])
    return RestoreCheck(result, found == expected, expected, found)
