"""``ledger verify``: recompute the activity chain and re-digest its records.

Acts as ``--as`` (default: the first administrator): the whole database needs a
site administrator, ``--project`` the project's statistics permission.
The Merkle-tree subcommands (head, prove, consistency, verify-bundle, keys) live in
:mod:`markit_core.commands.audit`.
"""

from __future__ import annotations

import argparse
import json

from markit_core import ledger
from markit_core.commands.common import actor, add_actor_option, db_session
from markit_core.db import require_id
from markit_core.projects import find_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ledger", help="activity ledger tools")
    lsub = p.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND", required=True)
    v = lsub.add_parser(
        "verify",
        help="verify the hash chain and the logged records",
        description="Exit 0 when the chain and every logged record hold; otherwise "
        "exit 1 naming the first broken entry and why.",
    )
    v.add_argument(
        "--project", metavar="NAME", help="re-digest only this project's records (default: all)"
    )
    v.add_argument("--json", action="store_true")
    add_actor_option(v)
    v.set_defaults(func=run_verify)
    from markit_core.commands.audit import register_ledger

    register_ledger(lsub)


def run_verify(args: argparse.Namespace) -> int:
    with db_session() as (s, _):
        by = actor(s, args)
        project_id = require_id(find_project(s, by, args.project)) if args.project else None
        result = ledger.verify(s, by, project_id)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "entries": result.entries,
                    "records_checked": result.records_checked,
                    "problem": str(result.problem) if result.problem else None,
                }
            )
        )
    elif result.ok:
        print(f"ledger ok: {result.entries} entries, {result.records_checked} records verified")
    else:
        print(f"ledger BROKEN at {result.problem}")
    return 0 if result.ok else 1
