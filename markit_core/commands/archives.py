"""``archive add|list|remove``: the registry of remote archives (site administrators).

Data owners import only from archives registered here. The secret (password
or token) is read from ``MARKIT_ARCHIVE_SECRET`` or a prompt, never from the
command line, and is never printed back.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from markit_core.commands.common import actor, add_actor_option, db_session
from markit_core.errors import ValidationError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("archive", help="registered remote archives (administrators)")
    asub = p.add_subparsers(dest="archive_command", metavar="SUBCOMMAND", required=True)
    q = asub.add_parser(
        "add",
        help="register a DICOMweb server or DIMSE PACS",
        description="Register an archive data owners may import from. DICOMweb needs "
        "--url; DIMSE needs --host, --port and --called-aet. With --auth basic or "
        "token the secret comes from MARKIT_ARCHIVE_SECRET or a prompt.",
    )
    q.add_argument("name")
    q.add_argument("--kind", choices=("dicomweb", "dimse"), required=True)
    q.add_argument("--url", default="")
    q.add_argument("--host", default="")
    q.add_argument("--port", type=int, default=0)
    q.add_argument("--called-aet", default="", metavar="AET")
    q.add_argument("--calling-aet", default="MARKIT", metavar="AET")
    q.add_argument("--auth", choices=("none", "basic", "token"), default="none")
    q.add_argument("--user", default="", metavar="U")
    add_actor_option(q)
    q.set_defaults(func=run_add)
    q = asub.add_parser("list", help="registered archives (secrets are not shown)")
    add_actor_option(q)
    q.set_defaults(func=run_list)
    q = asub.add_parser("remove", help="unregister an archive")
    q.add_argument("name")
    add_actor_option(q)
    q.set_defaults(func=run_remove)


def _secret(auth: str) -> str:
    if auth == "none":
        return ""
    value = os.environ.get("MARKIT_ARCHIVE_SECRET")
    if value:
        return value
    if not sys.stdin.isatty():
        raise ValidationError("set MARKIT_ARCHIVE_SECRET (no terminal to prompt for the secret)")
    return getpass.getpass("Password or token: ")


def run_add(args: argparse.Namespace) -> int:
    from markit_core.imaging.remote_archives import add_archive

    secret = _secret(args.auth)
    with db_session() as (s, _settings):
        info = add_archive(
            s,
            actor(s, args),
            args.name,
            args.kind,
            url=args.url,
            host=args.host,
            port=args.port,
            called_aet=args.called_aet,
            calling_aet=args.calling_aet,
            auth=args.auth,
            username=args.user,
            secret=secret,
        )
    print(f"registered archive {info.name!r} (id {info.id}): {info.kind} {info.address}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from markit_core.imaging.remote_archives import list_archives

    with db_session() as (s, _settings):
        rows = list_archives(s, actor(s, args))
    for a in rows:
        print(f"{a.id}\t{a.name}\t{a.kind}\t{a.address}\tauth {a.auth}\tsecret {a.secret}")
    if not rows:
        print("no registered archives")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from markit_core.imaging.remote_archives import remove_archive

    with db_session() as (s, _settings):
        remove_archive(s, actor(s, args), args.name)
    print(f"removed archive {args.name!r}")
    return 0
