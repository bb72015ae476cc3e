"""``dicomweb-reference``: add studies of a registered DICOMweb archive as cases whose images
stay in the archive; ``archive-cache``: the local cache of images fetched for them."""

from __future__ import annotations

import argparse

from markit_core.commands.common import actor, add_actor_option, db_session, settings_from_env
from markit_core.db import require_id
from markit_core.projects import find_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dicomweb-reference",
        help="reference studies in a registered DICOMweb archive (images stay there)",
        description="Like dicomweb-import --archive, but the images are not copied into "
        "the image store: each case records the archive and the instance's original UIDs "
        "(server-side) and its pixels are fetched with WADO-RS when viewed, de-identified "
        "the same way, and kept in a size-limited cache (MARKIT_ARCHIVE_CACHE_MB). Without "
        "--study every study the archive holds is referenced.",
    )
    p.add_argument("--project", required=True, metavar="NAME")
    p.add_argument("--archive", required=True, metavar="NAME", help="see `archive list`")
    p.add_argument("--study", action="append", default=[], metavar="UID")
    add_actor_option(p)
    p.set_defaults(func=run_reference)

    p = sub.add_parser(
        "archive-cache",
        help="the local cache of images of referenced cases",
        description="Show the cache's use, or empty it (its images are fetched again "
        "from their archives when needed).",
    )
    p.add_argument("action", choices=("usage", "clear"))
    p.set_defaults(func=run_cache)


def run_reference(args: argparse.Namespace) -> int:
    from markit_core.imaging.reference import reference_studies
    from markit_core.imaging.remote_archives import archive_id
    from markit_core.imaging.remote_import import search_studies

    with db_session() as (s, settings):
        by = actor(s, args)
        project_id = require_id(find_project(s, by, args.project))
        archive = archive_id(s, args.archive)
        uids = list(args.study)
        if not uids:
            found = search_studies(s, by, project_id, archive, limit=None)
            uids = [st.study_uid for st in found if st.study_uid]
            print(f"found {len(uids)} studies on {args.archive}")
        if not uids:
            print("nothing to reference")
            return 1
        result = reference_studies(s, settings, by, project_id, archive, uids)
    for study in result.failed_studies:
        print(f"failed: study {study.study_uid}: {study.reason}")
    for outcome in result.files.outcomes:
        if outcome.status == "refused" or outcome.warning:
            print(f"{outcome.status}: {outcome.line()}")
    print(result.summary())
    present = len(result.files.ingested) + len(result.files.duplicates)
    return 1 if result.failed_studies or not present else 0


def run_cache(args: argparse.Namespace) -> int:
    from markit_core.imaging.archive_cache import ArchiveCache

    settings = settings_from_env()
    cache = ArchiveCache.from_settings(settings)
    if args.action == "clear":
        print(f"removed {cache.clear()} cached images from {cache.root}")
        return 0
    use = cache.usage()
    print(
        f"{use.files} images, {use.bytes / 2**20:.1f} MB of "
        f"{settings.archive_cache_mb} MB (MARKIT_ARCHIVE_CACHE_MB) in {cache.root}"
    )
    return 0
