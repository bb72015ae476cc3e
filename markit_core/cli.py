"""Command line entry point: ``python -m markit_core COMMAND ...``.

Each command lives in ``markit_core/commands/`` and exposes
``register(subparsers)``; its parser sets ``func`` to a ``run(args) -> int``.
Only the module of the command being run is imported (pydicom, SQLModel and
friends take seconds to import; ``rewards`` on a CSV needs none of them).
Commands that touch the database act as a user (``--as``, default the first
admin) through the same permission checks and ledger as the UI.
Exit codes: 0 success, 1 failure (e.g. ledger broken), 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from markit_core.allocator import keep_freed_memory
from markit_core.errors import MarkitError, NotFoundError, ValidationError

# command name -> module in markit_core.commands that registers it (in --help order)
COMMANDS: dict[str, str] = {
    "create-user": "users",
    "create-project": "projects",
    "stats": "projects",
    "export": "projects",
    "demo": "demo",
    "remove-demo": "demo",
    "users": "users",
    "archive": "archives",
    "ledger": "ledger",
    "ingest": "imaging",
    "dicomweb-import": "imaging",
    "dimse-import": "imaging",
    "dicomweb-reference": "reference",
    "archive-cache": "reference",
    "import-reports": "imaging",
    "rewards": "rewards",
    "backup": "backup",
    "restore": "backup",
    "train": "ai",
    "active-learning": "ai",
    "serve-config": "serving",
}


class MarkitParser(argparse.ArgumentParser):
    """An argparse parser that never matches abbreviations and never echoes arguments.

    Prefix matching would let ``--password X`` match ``--password-stdin`` and
    print ``X`` in the error; subparsers inherit this class, so every command
    and subcommand is covered.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            # the values may be secrets: name the options only
            words = message.split(":", 1)[1].split()
            options = sorted({w.split("=", 1)[0] for w in words if w.startswith("-")})
            message = "unrecognized arguments" + (
                f" (options: {', '.join(options)}; values not shown)" if options else ""
            )
        super().error(message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or only with the module that defines ``command``."""
    parser = MarkitParser(
        prog="python -m markit_core",
        description="MarkIt command line. Honours MARKIT_DATABASE_URL and MARKIT_DATA_DIR.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        importlib.import_module(f"markit_core.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, turn ``MarkitError`` into a one-line message."""
    keep_freed_memory()  # a rewards run over a large CSV reuses its memory
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
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
