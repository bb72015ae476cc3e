"""``create-user``: add an account (the first one is the administrator)."""

from __future__ import annotations

import argparse
import getpass
import sys

from markit_core.accounts import create_user, has_users
from markit_core.commands.common import actor, add_actor_option, db_session
from markit_core.errors import ValidationError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "create-user",
        help="create a user account",
        description="Create a user. The first account is always an administrator. "
        "The password is read from a prompt or, with --password-stdin, "
        "from the first line of standard input; it is never echoed.",
    )
    p.add_argument("username")
    p.add_argument("--display-name", default="")
    p.add_argument("--admin", action="store_true", help="make the user a site administrator")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add_actor_option(p)
    p.set_defaults(func=run)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValidationError("no terminal to prompt for a password; use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise ValidationError("passwords do not match")
    return first


def run(args: argparse.Namespace) -> int:
    password = _read_password(args.password_stdin)
    with db_session() as (s, _settings):
        by = actor(s, args) if has_users(s) else None
        info = create_user(
            s, by, args.username, password, display_name=args.display_name, is_admin=args.admin
        )
    role = "administrator" if info.is_admin else "user"
    print(f"created {role} {info.username!r}")
    return 0
