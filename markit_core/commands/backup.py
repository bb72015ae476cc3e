"""``backup DIR`` and ``restore DIR``: the whole installation, while the app keeps running.

``backup`` acts as ``--as`` (default: the first administrator), who must be a
site administrator. ``restore`` writes into the configured data folder and
database, which must be empty unless ``--force``; it then verifies the restored
ledger as ``--as`` of the restored database and compares its head with the
one recorded in the backup (exit 1 if they differ).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from markit_core.commands.common import actor, add_actor_option, settings_from_env
from markit_core.db import make_engine, open_database
from markit_core.db import session as new_session


def register(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "backup",
        help="snapshot the database, image store and ledger head into a new folder",
        description="Consistent while the app runs: SQLite online backup or pg_dump, then "
        "the image files the snapshot refers to, then manifest.json with SHA-256 of each file.",
    )
    b.add_argument("dir", type=Path, help="a new or empty folder")
    b.add_argument("--json", action="store_true", help="print the manifest's summary as JSON")
    add_actor_option(b)
    b.set_defaults(func=run_backup)
    r = sub.add_parser(
        "restore",
        help="restore a backup into an empty data folder / database and verify it",
        description="Checks every file against the manifest, restores, then verifies the "
        "ledger and that its head equals the head recorded in the backup.",
    )
    r.add_argument("dir", type=Path, help="a folder written by 'backup'")
    r.add_argument("--force", action="store_true", help="replace a target that holds data")
    r.add_argument("--json", action="store_true")
    add_actor_option(r)
    r.set_defaults(func=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    from markit_core.operations import backup

    settings = settings_from_env()
    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            by = actor(s, args)
        manifest = backup(engine, settings, by, args.dir)
    finally:
        engine.dispose()
    head = manifest["ledger"]
    images = sum(1 for name in manifest["files"] if name.startswith("store/"))
    if args.json:
        print(json.dumps({"dir": str(args.dir), "images": images, "ledger": head}))
    else:
        print(
            f"backup written to {args.dir}: {manifest['backend']} database, {images} images, "
            f"ledger {head['entries']} entries, head {head['seq']} {head['entry_hash'][:12]}"
        )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from markit_core.operations import check_restored, restore

    settings = settings_from_env()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    try:
        manifest = restore(engine, settings.store_dir, args.dir, force=args.force)
        with new_session(engine) as s:
            check = check_restored(s, actor(s, args), manifest)
    finally:
        engine.dispose()
    if args.json:
        print(
            json.dumps(
                {
                    "ok": check.ok,
                    "ledger_ok": check.verify.ok,
                    "problem": str(check.verify.problem) if check.verify.problem else None,
                    "expected": check.expected,
                    "found": check.found,
                }
            )
        )
    elif check.ok:
        print(
            f"restored from {args.dir}: ledger ok, {check.found['entries']} entries, head "
            f"{check.found['seq']} equals the backup's"
        )
    elif not check.verify.ok:
        print(f"restored, but the ledger is BROKEN at {check.verify.problem}: do not use it")
    else:
        print(
            f"restored, but the ledger head {check.found} differs from the backup's "
            f"{check.expected}: do not use it"
        )
    return 0 if check.ok else 1
