"""``demo``: seed the demo project into the configured database (idempotent)."""

from __future__ import annotations

import argparse

from markit_core.commands.common import db_session
from markit_core.demo.seed import DEMO_PROJECT, seed_demo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="seed the demo project (idempotent)",
        description="Create the demo users, project, labels and images if missing. "
        "New demo accounts are printed once.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with db_session() as (s, settings):
        result = seed_demo(s, settings)
    banner = result.credentials_banner(settings.demo_password)
    if banner:
        print(banner)
    state = "created" if result.created_project else "already present"
    print(f"demo project {DEMO_PROJECT!r} {state} (id {result.project_id})")
    for note in result.notes:
        print(note)
    return 0
