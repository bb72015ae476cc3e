"""``ingest``, ``dicomweb-import``, ``dimse-import`` and ``import-reports``.

Exit codes: 0 when at least one image was ingested (or was already in the
project) and every file is accounted for; 1 when nothing could be ingested or
a remote study could not be retrieved; 2 on bad arguments (a missing path, an
unknown project, malformed options or CSV).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from markit_core.commands.common import actor, add_actor_option, db_session
from markit_core.db import require_id
from markit_core.errors import ValidationError
from markit_core.imaging.ingest import IngestReport, ingest
from markit_core.imaging.remote_import import (
    ImportReport,
    import_studies,
    resolve_source,
    search_studies,
)
from markit_core.imaging.sources.base import ImageSource
from markit_core.projects import find_project
from markit_core.reports import import_reports


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="ingest images (files, folders, zips) into a project",
        description="De-identify and ingest DICOM files, folders of DICOM, zip "
        "archives and PNG/JPEG/TIFF images. Prints one line per file "
        "that was refused, with the reason, and a summary.",
    )
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--verbose", action="store_true", help="also list ingested and duplicate files")
    add_actor_option(p)
    p.set_defaults(func=run_ingest)

    p = sub.add_parser(
        "dicomweb-import",
        help="import studies from a DICOMweb server",
        description="Search (QIDO-RS) and retrieve (WADO-RS) studies from a "
        "DICOMweb server such as Orthanc or Google Cloud Healthcare. "
        "Without --study every study found is imported. The token or "
        "password may also come from MARKIT_DICOMWEB_TOKEN or "
        "MARKIT_DICOMWEB_PASSWORD (keeps it out of the process list).",
    )
    p.add_argument("--project", required=True, metavar="NAME")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--archive", metavar="NAME", help="a registered archive (see `archive list`)"
    )
    where.add_argument("--url", help="any DICOMweb URL (site administrators only)")
    p.add_argument("--study", action="append", default=[], metavar="UID")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", metavar="T")
    auth.add_argument("--user", metavar="U")
    p.add_argument("--password", metavar="P")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    add_actor_option(p)
    p.set_defaults(func=run_dicomweb)

    p = sub.add_parser(
        "dimse-import",
        help="import studies from a PACS (C-FIND + C-GET/C-MOVE)",
        description="Search a PACS with C-FIND and retrieve with C-GET (default) "
        "or C-MOVE. Without --study every study found is imported.",
    )
    p.add_argument("--project", required=True, metavar="NAME")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--archive", metavar="NAME", help="a registered archive (see `archive list`)"
    )
    where.add_argument("--host", help="any PACS host (site administrators only)")
    p.add_argument("--port", type=int)
    p.add_argument("--called-aet", metavar="AET")
    p.add_argument("--calling-aet", default="MARKIT", metavar="AET")
    p.add_argument("--study", action="append", default=[], metavar="UID")
    p.add_argument("--move", action="store_true", help="use C-MOVE instead of C-GET")
    p.add_argument(
        "--move-port",
        type=int,
        default=11113,
        help="port MarkIt listens on (127.0.0.1) for C-MOVE (default 11113)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    add_actor_option(p)
    p.set_defaults(func=run_dimse)

    p = sub.add_parser(
        "import-reports",
        help="import radiology reports from a CSV",
        description="CSV with a header naming one key column (case_id, accession, "
        "study_uid or key) and a report column; see "
        "markit_core/reports.py for the format. Unmatched rows are "
        "listed with their row number.",
    )
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("csv", metavar="CSV")
    add_actor_option(p)
    p.set_defaults(func=run_reports)


def _print_files(report: IngestReport, verbose: bool = False) -> None:
    for outcome in report.outcomes:
        if outcome.status == "refused" or outcome.warning or verbose:
            print(f"{outcome.status}: {outcome.line()}")


def _exit_code(report: IngestReport, expected: int | None = None) -> int:
    present = len(report.ingested) + len(report.duplicates)
    accounted = expected is None or report.total == expected
    return 0 if present >= 1 and accounted else 1


def run_ingest(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise ValidationError(f"no such file or folder: {', '.join(missing)}")
    with db_session() as (s, settings):
        by = actor(s, args)
        project = find_project(s, by, args.project)
        report = ingest(s, settings, by, require_id(project), [(p, Path(p)) for p in args.paths])
    _print_files(report, args.verbose)
    print(report.summary())
    return _exit_code(report)


def _run_remote(args: argparse.Namespace, make_source: Callable[[], ImageSource]) -> int:
    from markit_core.imaging.remote_archives import archive_id

    with db_session() as (s, settings):
        by = actor(s, args)
        project = find_project(s, by, args.project)
        # a registered archive for anyone; a typed address only for administrators
        source: ImageSource | int = (
            archive_id(s, args.archive) if args.archive else resolve_source(s, by, make_source())
        )
        uids = list(args.study)
        if not uids:
            found = search_studies(s, by, require_id(project), source, limit=None)
            uids = [st.study_uid for st in found if st.study_uid]
            print(f"found {len(uids)} studies on {args.archive or args.url or args.host}")
        if not uids:
            print("nothing to import")
            return 1
        result: ImportReport = import_studies(s, settings, by, require_id(project), source, uids)
    for study in result.failed_studies:
        print(f"failed: study {study.study_uid}: {study.reason}")
    _print_files(result.files)
    print(result.summary())
    return 1 if result.failed_studies else _exit_code(result.files)


def run_dicomweb(args: argparse.Namespace) -> int:
    if args.archive:
        if args.token or args.user or args.password:
            raise ValidationError("a registered archive brings its own credentials")
        return _run_remote(args, lambda: None)  # type: ignore[arg-type,return-value]
    return _run_remote(args, lambda: _dicomweb_source(args))


def _dicomweb_source(args: argparse.Namespace) -> ImageSource:
    from urllib.parse import urlsplit

    from markit_core.imaging.sources.dicomweb import DicomWebSource

    url_has_credentials = bool(urlsplit(args.url).username)
    # the environment token is a default: credentials written in the URL take precedence
    env_token = (
        None if (args.user or url_has_credentials) else os.environ.get("MARKIT_DICOMWEB_TOKEN")
    )
    token = args.token or env_token
    password = args.password or (os.environ.get("MARKIT_DICOMWEB_PASSWORD") if args.user else None)
    if args.password and not args.user:
        raise ValidationError("--password needs --user")
    if args.user and password is None:
        raise ValidationError("--user needs --password (or MARKIT_DICOMWEB_PASSWORD)")
    return DicomWebSource(
        args.url,
        token=token,
        username=args.user,
        password=password,
        timeout=(min(10.0, args.timeout), args.timeout),
    )


def run_dimse(args: argparse.Namespace) -> int:
    from markit_core.imaging.sources.dimse import DimseSource

    if args.archive:
        return _run_remote(args, lambda: None)  # type: ignore[arg-type,return-value]
    if args.port is None or not args.called_aet:
        raise ValidationError("--host needs --port and --called-aet")
    return _run_remote(
        args,
        lambda: DimseSource(
            args.host,
            args.port,
            args.called_aet,
            args.calling_aet,
            retrieve="move" if args.move else "get",
            move_address=("127.0.0.1", args.move_port),
            timeout=args.timeout,
        ),
    )


def run_reports(args: argparse.Namespace) -> int:
    path = Path(args.csv)
    if not path.is_file():
        raise ValidationError(f"no such file: {args.csv}")
    with db_session() as (s, _settings):
        by = actor(s, args)
        project = find_project(s, by, args.project)
        result = import_reports(s, by, require_id(project), path, name=path.name)
    for row in result.unmatched:
        print(f"unmatched: row {row.row}: {row.key}", file=sys.stdout)
    print(result.summary())
    return 0 if result.matched_rows else 1
