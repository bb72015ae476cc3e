"""``create-user`` (the first account is the administrator) and ``users ...``: list,
deactivate, reactivate, reset-password, set-password."""

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

    p = sub.add_parser("users", help="manage accounts (administrators)")
    usub = p.add_subparsers(dest="users_command", metavar="SUBCOMMAND", required=True)
    q = usub.add_parser("list", help="every account with its state")
    add_actor_option(q)
    q.set_defaults(func=run_list)
    for name, text in (
        ("deactivate", "stop an account from logging in (its sessions end)"),
        ("reactivate", "let a deactivated account log in again"),
        ("reset-password", "give a one-time password, to be changed at the next login"),
        ("set-password", "set a password (stdin or prompt), to be changed at the next login"),
    ):
        q = usub.add_parser(name, help=text, description=text)
        q.add_argument("username")
        if name == "set-password":
            q.add_argument("--password-stdin", action="store_true", help="read it from stdin")
            q.add_argument(
                "--keep", action="store_true", help="do not require a change at the next login"
            )
        add_actor_option(q)
        q.set_defaults(func=run_manage, users_action=name)


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


def run_list(args: argparse.Namespace) -> int:
    from markit_core.account_admin import all_users

    with db_session() as (s, _settings):
        users = all_users(s, actor(s, args))
    for u in users:
        flags = [
            f
            for f, on in (
                ("admin", u.is_admin),
                ("inactive", not u.is_active),
                ("demo", u.is_demo),
                ("must-change-password", u.must_change_password),
            )
            if on
        ]
        print(f"{u.username}\t{u.display_name}\t{','.join(flags)}")
    return 0


def run_manage(args: argparse.Namespace) -> int:
    from markit_core import account_admin

    password = _read_password(args.password_stdin) if args.users_action == "set-password" else ""
    with db_session() as (s, _settings):
        by = actor(s, args)
        if args.users_action == "deactivate":
            changed = account_admin.deactivate_user(s, by, args.username)
            print(f"{args.username!r} {'deactivated' if changed else 'was already inactive'}")
        elif args.users_action == "reactivate":
            changed = account_admin.reactivate_user(s, by, args.username)
            print(f"{args.username!r} {'reactivated' if changed else 'was already active'}")
        elif args.users_action == "reset-password":
            once = account_admin.reset_password(s, by, args.username)
            print(f"one-time password for {args.username!r} (shown once; to be changed at login):")
            print(once)
        else:
            account_admin.set_password(s, by, args.username, password, must_change=not args.keep)
            print(f"password of {args.username!r} set")
    return 0
