"""Command line entry point: ``python -m markit_core COMMAND ...``.

Each command lives in ``markit_core/commands/`` and exposes
``register(subparsers)``; its parser sets ``func`` to a ``run(args) -> int``.
Commands that touch the database act as a user (``--as``, default the first
admin) through the same permission checks and ledger as the UI.
Exit codes: 0 success, 1 failure (e.g. ledger broken), 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from markit_core.commands import demo, ledger_cmd, projects_cmd, users
from markit_core.errors import MarkitError, NotFoundError, ValidationError

COMMANDS = (users, projects_cmd, demo, ledger_cmd)


def build_parser() -> argparse.ArgumentParser:
    """The full parser (exposed for tests and --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m markit_core",
        description="MarkIt command line. Honours MARKIT_DATABASE_URL and MARKIT_DATA_DIR.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, turn ``MarkitError`` into a one-line message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValidationError, NotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except MarkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
