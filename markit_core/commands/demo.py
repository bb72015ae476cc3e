"""``demo`` (seed the demo project) and ``remove-demo`` (deactivate the demo accounts)."""

from __future__ import annotations

import argparse

from markit_core.commands.common import actor, add_actor_option, db_session
from markit_core.demo.seed import DEMO_PROJECT, seed_demo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="seed the demo project (idempotent)",
        description="Create the demo users, project, labels and images if missing. "
        "New demo accounts are printed once. With --if-empty (what `make run` uses) "
        "the demo is seeded only into a database without any account, unless "
        "MARKIT_DEMO=1 asks for it.",
    )
    p.add_argument(
        "--if-empty",
        action="store_true",
        help="seed only when the database has no account yet (or MARKIT_DEMO=1)",
    )
    p.set_defaults(func=run)

    p = sub.add_parser(
        "remove-demo",
        help="deactivate every demo account",
        description="Deactivate every account flagged as a demo account (they share one "
        "well-known password). Needs an administrator who is not a demo account.",
    )
    add_actor_option(p)
    p.set_defaults(func=run_remove)


def run(args: argparse.Namespace) -> int:
    from markit_core.accounts import has_users

    with db_session() as (s, settings):
        if args.if_empty and has_users(s) and not settings.demo:
            from sqlmodel import select

            from markit_core.models import Project

            present = s.exec(select(Project.id).where(Project.name == DEMO_PROJECT)).first()
            print(
                f"demo: {'left as it is' if present else 'not seeded'} - this database already "
                "has accounts (MARKIT_DEMO=1 or `python -m markit_core demo` seeds it anyway)"
            )
            return 0
        result = seed_demo(s, settings)
    banner = result.credentials_banner(settings.demo_password)
    if banner:
        print(banner)
    state = "created" if result.created_project else "already present"
    print(f"demo project {DEMO_PROJECT!r} {state} (id {result.project_id})")
    for note in result.notes:
        print(note)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from markit_core.account_admin import remove_demo_accounts

    with db_session() as (s, _settings):
        done = remove_demo_accounts(s, actor(s, args))
    if done:
        print(f"deactivated {len(done)} demo accounts: {', '.join(done)}")
    else:
        print("no active demo accounts")
    return 0
