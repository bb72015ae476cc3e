"""Who may reference studies left in an archive, from which archives, and the CLI around it.

What needs a server (retrieving, viewing, the archive going down) is in
``tests/integration/test_archive_reference.py`` against a real Orthanc.
"""

from __future__ import annotations

import io
import sys

import pytest
from sqlmodel import select

from markit_core import cli
from markit_core.errors import NotFoundError, PermissionDenied, ValidationError
from markit_core.imaging.archive_cache import ArchiveCache
from markit_core.imaging.reference import reference_studies
from markit_core.imaging.remote_archives import add_archive
from markit_core.models import Case, LedgerEntry


@pytest.fixture
def archives(session, admin):
    web = add_archive(session, admin, "Web", "dicomweb", url="http://127.0.0.1:9/dicom-web")
    pacs = add_archive(session, admin, "Pacs", "dimse", host="127.0.0.1", port=9, called_aet="PACS")
    return web.id, pacs.id


def test_only_uploaders_reference_and_only_from_dicomweb_archives(
    session, settings, imaging, archives
):
    web, pacs = archives
    with pytest.raises(PermissionDenied):
        reference_studies(session, settings, imaging.annotator, imaging.project_id, web, ["1.2"])
    with pytest.raises(ValidationError, match="only DICOMweb archives"):
        reference_studies(session, settings, imaging.dataowner, imaging.project_id, pacs, ["1.2"])
    with pytest.raises(NotFoundError):
        reference_studies(session, settings, imaging.dataowner, imaging.project_id, "Nope", ["1"])
    with pytest.raises(NotFoundError):
        reference_studies(session, settings, imaging.dataowner, imaging.project_id, 999, ["1"])
    assert not session.exec(select(Case)).all()
    assert not [e for e in session.exec(select(LedgerEntry)).all() if e.action.startswith("case")]


def test_an_unreachable_archive_is_a_failed_study_not_a_crash(session, settings, imaging, archives):
    web, _ = archives  # port 9 on loopback: nothing listens
    report = reference_studies(
        session, settings, imaging.dataowner, imaging.project_id, "Web", ["1.2.3"]
    )
    assert [s.ok for s in report.studies] == [False]
    assert "cannot connect" in report.studies[0].reason
    assert report.files.total == 0 and not session.exec(select(Case)).all()


def test_cache_command_shows_use_and_clears(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MARKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MARKIT_ARCHIVE_CACHE_MB", "5")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    cache = ArchiveCache(tmp_path / "data" / "cache" / "archive", 5 << 20)
    cache.put("archive/1/1/2.25.1", b"x" * (1 << 20))
    assert cli.main(["archive-cache", "usage"]) == 0
    assert capsys.readouterr().out.startswith("1 images, 1.0 MB of 5 MB")
    assert cli.main(["archive-cache", "clear"]) == 0
    assert capsys.readouterr().out.startswith("removed 1 cached images")
    assert cache.usage().files == 0


def test_backup_leaves_images_that_are_the_archive_s(engine, settings, session, imaging, admin):
    """A referenced case has no store file: the backup copies the others and succeeds."""
    from markit_core.imaging.ingest import ingest
    from markit_core.operations.backup import backup
    from tests.imaging_fixtures import png_bytes

    ingest(session, settings, imaging.owner, imaging.project_id, [("a.png", png_bytes(1))])
    session.add(
        Case(project_id=imaging.project_id, content_hash="e" * 64, stored_path="archive/1/1/2.25.7")
    )
    session.commit()
    manifest = backup(engine, settings, admin, settings.data_dir.parent / "bk")
    stored = [f for f in manifest["files"] if f.startswith("store/")]
    assert len(stored) == 1 and not any("archive" in f for f in manifest["files"])
