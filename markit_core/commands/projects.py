"""``create-project``, ``stats`` and ``export``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from markit_core.accounts import get_user
from markit_core.annotation.summary import project_summary
from markit_core.commands.common import actor, add_actor_option, db_session
from markit_core.db import require_id
from markit_core.labels import PROJECT_PREFIX, list_labels
from markit_core.projects import create_project, find_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "create-project",
        help="create a private project",
        description="Create a project; --owner (default: the acting user) becomes owner.",
    )
    p.add_argument("name")
    p.add_argument("--owner", metavar="USERNAME")
    p.add_argument("--description", default="")
    p.add_argument(
        "--labels-from",
        metavar="SOURCE",
        help="start with a copy of a label set: template:chest-xray-7 (the MarkIt paper's "
        "7 chest X-ray labels) or project:NAME (a project whose labels you may edit)",
    )
    add_actor_option(p)
    p.set_defaults(func=run_create)

    p = sub.add_parser(
        "stats",
        help="project statistics",
        description="Counts of cases, annotated cases, annotations and members by role.",
    )
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_actor_option(p)
    p.set_defaults(func=run_stats)

    p = sub.add_parser(
        "export",
        help="export current answers as CSV (logged in the ledger)",
        description="Current binary answers as case_id,label,annotator,value,"
        "confidence,seconds — the input of the rewards command.",
    )
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    from markit_core.commands.audit import add_bundle_options

    add_bundle_options(p)
    add_actor_option(p)
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    if args.bundle is not None:
        from markit_core.commands.audit import run_bundle_export

        return run_bundle_export(args)
    from markit_core.export.csv_export import export_annotations_csv

    with db_session() as (s, _):
        by = actor(s, args)
        project = find_project(s, by, args.project)
        text = export_annotations_csv(s, by, require_id(project))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {text.count(chr(10)) - 1} answers to {args.out}")
    else:
        print(text, end="")
    return 0


def run_create(args: argparse.Namespace) -> int:
    with db_session() as (s, _):
        by = actor(s, args)
        owner = get_user(s, args.owner) if args.owner else None
        source = args.labels_from
        if source and source.startswith(PROJECT_PREFIX):  # the command line names projects
            named = find_project(s, by, source.removeprefix(PROJECT_PREFIX))
            source = f"{PROJECT_PREFIX}{require_id(named)}"
        info = create_project(
            s, by, args.name, description=args.description, owner=owner, labels_from=source
        )
        labels = len(list_labels(s, by, info.id))
    print(
        f"created project {info.name!r} (id {info.id})" + (f", {labels} labels" if labels else "")
    )
    return 0


def run_stats(args: argparse.Namespace) -> int:
    with db_session() as (s, _):
        by = actor(s, args)
        project = find_project(s, by, args.project)
        stats = project_summary(s, by, require_id(project))
    if args.json:
        print(json.dumps(stats.as_dict(), indent=2))
    else:
        print(
            f"project {stats.project}: {stats.cases} cases, {stats.annotated_cases} annotated, "
            f"{stats.annotations} annotations, {stats.labels} labels"
        )
        for role, n in stats.members_by_role.items():
            print(f"  {role}: {n}")
    return 0
