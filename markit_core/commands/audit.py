"""``ledger keygen | public-key | head | prove | consistency | verify-bundle``; bundle exports.

The signing passphrase comes from the environment variable named by
``--passphrase-env`` (default ``MARKIT_SIGNING_PASSPHRASE``) or, on a terminal,
from a prompt; never from the command line, where other users could read it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from markit_core.commands.common import actor, add_actor_option, db_session
from markit_core.config import Settings
from markit_core.db import require_id
from markit_core.errors import PermissionDenied, ValidationError

PASSPHRASE_ENV = "MARKIT_SIGNING_PASSPHRASE"


def _add_passphrase(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--passphrase-env",
        default=PASSPHRASE_ENV,
        metavar="VAR",
        help=f"environment variable holding the signing passphrase (default {PASSPHRASE_ENV}; "
        "prompted for on a terminal when unset)",
    )


def passphrase(args: argparse.Namespace, confirm: bool = False) -> str:
    value = os.environ.get(args.passphrase_env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise ValidationError(f"set {args.passphrase_env} to the signing key's passphrase")
    value = getpass.getpass("signing key passphrase: ")
    if confirm and getpass.getpass("again: ") != value:
        raise ValidationError("the two passphrases differ")
    return value


def register_ledger(lsub: argparse._SubParsersAction) -> None:
    """Add the Merkle-tree subcommands to ``ledger``."""
    p = lsub.add_parser("keygen", help="create the project's Ed25519 signing key (owner)")
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--replace", action="store_true", help="retire the existing key")
    _add_passphrase(p)
    add_actor_option(p)
    p.set_defaults(func=run_keygen)

    p = lsub.add_parser("public-key", help="print the project's public key (PEM)")
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--out", type=Path, metavar="FILE")
    add_actor_option(p)
    p.set_defaults(func=run_public_key)

    p = lsub.add_parser("head", help="sign and print the ledger's current tree head")
    p.add_argument("--project", required=True, metavar="NAME", help="whose key signs")
    p.add_argument("--out", type=Path, metavar="FILE", help="also save the head here")
    _add_passphrase(p)
    add_actor_option(p)
    p.set_defaults(func=run_head)

    p = lsub.add_parser("prove", help="inclusion proof of one entry in the current tree")
    p.add_argument("entry", type=int, metavar="ENTRY", help="the entry's sequence number")
    p.add_argument("--size", type=int, help="tree size to prove against (default: current)")
    add_actor_option(p)
    p.set_defaults(func=run_prove)

    p = lsub.add_parser(
        "consistency",
        help="prove the ledger today extends a signed head",
        description="Exit 0 when the current ledger extends OLD_HEAD_FILE's tree; 1 when "
        "history was rewritten since.",
    )
    p.add_argument("old_head", type=Path, metavar="OLD_HEAD_FILE")
    p.add_argument("--project", required=True, metavar="NAME", help="whose key signed it")
    add_actor_option(p)
    p.set_defaults(func=run_consistency)

    p = lsub.add_parser(
        "verify-bundle",
        help="verify an export's audit bundle offline (no database)",
        description="Exit 0 when the bundle holds; 1 listing every problem found.",
    )
    p.add_argument("bundle", type=Path, metavar="DIR")
    p.add_argument("--public-key", type=Path, required=True, metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_verify_bundle)


def _project(s: Any, args: argparse.Namespace) -> tuple[Any, int]:
    from markit_core.projects import find_project

    by = actor(s, args)
    return by, require_id(find_project(s, by, args.project))


def run_keygen(args: argparse.Namespace) -> int:
    from markit_core.audit.keys import create_signing_key

    with db_session() as (s, _):
        by, pid = _project(s, args)
        info = create_signing_key(s, by, pid, passphrase(args, confirm=True), replace=args.replace)
    print(f"created signing key {info.key_id}")
    print(info.public_key_pem, end="")
    return 0


def run_public_key(args: argparse.Namespace) -> int:
    from markit_core.audit.keys import public_key_pem

    with db_session() as (s, _):
        by, pid = _project(s, args)
        pem = public_key_pem(s, by, pid)
    if args.out:
        args.out.write_text(pem, encoding="utf-8")
    print(pem, end="")
    return 0


def _tree_cache(settings: Settings) -> Path:
    """Where the CLI keeps the ledger's Merkle tree between runs (``audit.tree``)."""
    return settings.cache_dir / "ledger-tree.bin"


def run_head(args: argparse.Namespace) -> int:
    from markit_core.audit.heads import sign_tree_head
    from markit_core.audit.tree import ledger_tree

    with db_session() as (s, settings):
        by, pid = _project(s, args)
        tree = ledger_tree(s, cache=_tree_cache(settings))
        head = sign_tree_head(s, by, pid, passphrase(args), tree)
    if args.out:
        args.out.write_text(head.to_json(), encoding="utf-8")
    print(head.to_json(), end="")
    return 0


def run_prove(args: argparse.Namespace) -> int:
    from markit_core.access import Action, can
    from markit_core.audit.merkle import verify_inclusion
    from markit_core.audit.tree import entries_by_seq, ledger_tree
    from markit_core.ledger import entry_leaf_hash

    with db_session() as (s, settings):
        by = actor(s, args)
        entries = list(entries_by_seq(s, [args.entry]))
        if not entries:
            raise ValidationError(f"ledger entry {args.entry} does not exist")
        entry = entries[0]
        pid = entry["project_id"]
        if not (by.is_admin or (pid is not None and can(s, by, pid, Action.VIEW))):
            raise PermissionDenied(f"{by.username!r} may not see ledger entry {args.entry}")
        tree = ledger_tree(s, cache=_tree_cache(settings))
    size = args.size or len(tree)
    if not args.entry <= size <= len(tree):
        raise ValidationError(f"--size must be between {args.entry} and {len(tree)}")
    proof = tree.inclusion_proof(args.entry - 1, size)
    leaf = bytes.fromhex(entry_leaf_hash(entry))
    verify_inclusion(args.entry - 1, size, leaf, proof, tree.root(size))
    out = {
        "seq": args.entry,
        "leaf_index": args.entry - 1,
        "tree_size": size,
        "leaf_hash": leaf.hex(),
        "root_hash": tree.root(size).hex(),
        "path": [p.hex() for p in proof],
        "entry": entry,
    }
    print(json.dumps(out, indent=2))
    return 0


def run_consistency(args: argparse.Namespace) -> int:
    from markit_core.audit.heads import check_consistency, read_head
    from markit_core.errors import LedgerError

    old = read_head(args.old_head)
    with db_session() as (s, _):
        by, pid = _project(s, args)
        try:
            result = check_consistency(s, by, pid, old)
        except LedgerError as e:
            print(f"NOT consistent: {e}")
            return 1
    print(
        json.dumps(
            {
                "consistent": True,
                "old_size": result.old_size,
                "new_size": result.new_size,
                "new_root": result.new_root,
                "proof": result.proof,
            },
            indent=2,
        )
    )
    return 0


def run_verify_bundle(args: argparse.Namespace) -> int:
    from markit_core.audit.verify import verify_bundle

    try:
        pem = args.public_key.read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(f"cannot read {args.public_key}: {e.strerror}") from e
    report = verify_bundle(args.bundle, pem)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "problems": report.problems,
                    "files": report.files,
                    "entries": report.entries,
                    "records": report.records,
                    "rows": report.rows,
                }
            )
        )
    elif report.ok:
        head = report.head
        print(
            f"bundle ok: {report.files} files, {report.rows} rows, {report.records} records and "
            f"{report.entries} ledger entries proven in the tree of size "
            f"{head.tree_size if head else '?'}"
        )
    else:
        print(f"bundle BROKEN: {len(report.problems)} problem(s)")
        for p in report.problems:
            print(f"  {p}")
    return 0 if report.ok else 1


# --- export --bundle ------------------------------------------------------------------


def add_bundle_options(p: argparse.ArgumentParser) -> None:
    """Options of ``export`` for a full export with its audit bundle."""
    p.add_argument(
        "--bundle",
        type=Path,
        metavar="DIR",
        help="write a full export with its audit bundle into this new folder",
    )
    p.add_argument(
        "--formats",
        default="csv,coco,consensus",
        help="comma list of csv, coco, consensus, sr (default csv,coco,consensus)",
    )
    p.add_argument("--truth", default="majority", help="consensus rule: majority or dawid_skene")
    p.add_argument("--stow", metavar="URL", help="then STOW-RS the SRs to this DICOMweb archive")
    p.add_argument(
        "--user", metavar="U", help="archive user (password from MARKIT_DICOMWEB_PASSWORD)"
    )
    _add_passphrase(p)


def run_bundle_export(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from markit_core.export.bundle_export import export_bundle
    from markit_core.projects import find_project

    bars: dict[str, Any] = {}

    def progress(done: int, total: int, what: str) -> None:
        bar = bars.get(what)
        if bar is None:
            bar = bars[what] = tqdm(total=total, desc=what, unit="row", file=sys.stderr)
        bar.n = done
        bar.refresh()

    key = passphrase(args)
    with db_session() as (s, settings):
        by = actor(s, args)
        project = find_project(s, by, args.project)
        try:
            result = export_bundle(
                s,
                by,
                require_id(project),
                args.bundle,
                passphrase=key,
                formats=args.formats.split(","),
                truth=args.truth,
                settings=settings,
                progress=progress,
            )
        finally:
            for bar in bars.values():
                bar.close()
        print(
            f"exported {len(result.files)} files to {result.directory}; ledger entry "
            f"{result.export_seq}, head of size {result.head.tree_size} signed"
        )
        if args.stow:
            _stow(s, by, require_id(project), result.directory, args)
    return 0


def _stow(s: Any, by: Any, pid: int, folder: Path, args: argparse.Namespace) -> None:
    from markit_core.export.stow import stow_srs
    from markit_core.imaging.sources.dicomweb import DicomWebSource

    password = os.environ.get("MARKIT_DICOMWEB_PASSWORD") if args.user else None
    if args.user and password is None:
        raise ValidationError("--user needs MARKIT_DICOMWEB_PASSWORD")
    token = None if args.user else os.environ.get("MARKIT_DICOMWEB_TOKEN")
    source = DicomWebSource(args.stow, token=token, username=args.user, password=password)
    sent = stow_srs(s, by, pid, folder, source)
    print(f"stored {len(sent.sop_uids)} SR(s) in {sent.url}")
