"""Zip uploads: traversal, absolute paths, links and bombs are refused; nothing lands outside."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from sqlmodel import select

from markit_core.errors import InputFileError
from markit_core.imaging.archive import MemberError, SafeZip
from markit_core.imaging.ingest import ingest
from markit_core.models import Case
from tests.imaging_fixtures import ImagingProject, dicom_bytes, identified_dicom, png_bytes


def _zip(
    members: list[tuple[str | zipfile.ZipInfo, bytes]], *, compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _symlink_member(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _tree(root: Path, deep: bool = True) -> set[str]:
    if not root.exists():
        return set()
    return {str(p) for p in (root.rglob("*") if deep else root.iterdir())}


@pytest.fixture
def watched(tmp_path: Path):
    """Snapshot the test's tmp tree, its parent and the cwd; assert nothing new appears.

    Only the store (and the test's own ``inputs`` folder) may gain files.
    """
    shallow = [Path.cwd(), Path.cwd().parent, Path("/tmp"), Path("/")]
    before = _tree(tmp_path.parent)
    yield
    new = _tree(tmp_path.parent) - before
    outside = {
        p
        for p in new
        if "/data/store/" not in p
        and "/data/cache/" not in p
        and not p.startswith(str(tmp_path / "inputs"))
        and not p.endswith(("markit.db-wal", "markit.db-shm"))
    }
    assert not outside, f"files appeared outside the store: {sorted(outside)[:5]}"
    for root in shallow:  # other processes may write there, so only look for our payload names
        assert not [p for p in _tree(root, deep=False) if "evil" in Path(p).name]


GOOD = dicom_bytes(identified_dicom(seed=1))


@pytest.mark.parametrize(
    "bad_name, why",
    [
        ("../evil.dcm", "'..'"),
        ("images/../../evil.dcm", "'..'"),
        ("/tmp/evil.dcm", "absolute path"),
        ("\\\\server\\share\\evil.dcm", "absolute path"),
        ("C:\\Windows\\evil.dcm", "drive letter"),
        ("C:evil.dcm", "drive letter"),
        ("..\\evil.dcm", "'..'"),
    ],
)
def test_traversal_archives_are_refused_whole(
    session, settings, imaging: ImagingProject, watched, bad_name: str, why: str
):
    data = _zip([("ok/a.dcm", GOOD), (bad_name, GOOD)])
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, [("up.zip", data)])
    assert len(report.outcomes) == 1
    outcome = report.outcomes[0]
    assert outcome.name == "up.zip" and outcome.status == "refused"
    assert "archive refused" in outcome.reason and why in outcome.reason
    assert "nothing was extracted" in outcome.reason
    assert session.exec(select(Case)).all() == []
    assert not any(settings.store_dir.rglob("*.dcm"))


def test_symlink_members_are_refused(session, settings, imaging: ImagingProject, watched):
    data = _zip([("a.dcm", GOOD), (_symlink_member("link.dcm", "/etc/passwd"), b"/etc/passwd")])
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, [("up.zip", data)])
    assert [o.status for o in report.outcomes] == ["refused"]
    assert "symbolic link" in report.outcomes[0].reason


def test_zip_bomb_is_refused_from_the_central_directory(
    session, settings, imaging: ImagingProject, tmp_path, watched
):
    settings.max_archive_mb = 1
    bomb = _zip([("a.dcm", GOOD), ("zeros.bin", b"\0" * (40 << 20))])
    assert len(bomb) < 200_000  # 40 MB of zeros compresses to next to nothing
    (tmp_path / "inputs").mkdir()
    path = tmp_path / "inputs" / "bomb.zip"
    path.write_bytes(bomb)
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, [("bomb.zip", path)])
    assert [o.status for o in report.outcomes] == ["refused"]
    assert "unpacks to 40.0 MB, more than the limit of 1.0 MB" in report.outcomes[0].reason
    assert session.exec(select(Case)).all() == []


def test_size_limit_is_enforced_while_streaming(tmp_path):
    archive = SafeZip(
        _zip([("a.bin", b"\1" * 4000), ("b.bin", b"\2" * 4000)]), "up.zip", max_bytes=10_000
    )
    first, second = archive.members
    assert archive.read(first) == b"\1" * 4000
    archive.max_bytes = 6000  # as if the directory under-declared: the stream is cut off
    with pytest.raises(InputFileError, match="archive refused: member 'b.bin' unpacks to more"):
        archive.read(second)


def test_lying_member_sizes_never_produce_more_than_declared():
    data = bytearray(_zip([("a.bin", b"\0" * 100_000)]))
    # shrink the declared size in the local header and the central directory to 10 bytes
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    data[local + 22 : local + 26] = (10).to_bytes(4, "little")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    archive = SafeZip(bytes(data), "liar.zip", max_bytes=1 << 20)
    assert archive.members[0].size == 10
    with pytest.raises(MemberError, match="corrupt archive member"):
        archive.read(archive.members[0])


def test_good_archive_members_are_ingested_one_by_one(
    session, settings, imaging: ImagingProject, watched
):
    inner = _zip([("x.dcm", GOOD)])
    data = _zip(
        [
            ("study/a.dcm", GOOD),
            ("study/b.png", png_bytes(1)),
            ("study/", b""),
            ("__MACOSX/study/._a.dcm", b"junk"),
            ("study/.DS_Store", b"junk"),
            ("nested.zip", inner),
            ("study/notes.txt", b"hello"),
            ("./study/c.dcm", dicom_bytes(identified_dicom(seed=2))),
        ]
    )
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, [("up.zip", data)])
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["up.zip/study/a.dcm"].status == "ingested"
    assert by_name["up.zip/study/b.png"].status == "ingested"
    assert by_name["up.zip/study/c.dcm"].status == "ingested"
    assert "nested archive" in by_name["up.zip/nested.zip"].reason
    assert "not an image" in by_name["up.zip/study/notes.txt"].reason
    assert "metadata" in by_name["up.zip/__MACOSX/study/._a.dcm"].reason
    assert "metadata" in by_name["up.zip/study/.DS_Store"].reason
    assert len(report.outcomes) == 7  # the directory entry is not a file


def test_stored_member_zip_and_archives_given_as_paths(
    session, settings, imaging: ImagingProject, tmp_path, watched
):
    (tmp_path / "inputs").mkdir()
    path = tmp_path / "inputs" / "plain.zip"
    path.write_bytes(_zip([("a.dcm", GOOD)], compression=zipfile.ZIP_STORED))
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, [("plain.zip", path)])
    assert [o.status for o in report.outcomes] == ["ingested"]
    broken = tmp_path / "inputs" / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + os.urandom(100))
    report = ingest(
        session, settings, imaging.dataowner, imaging.project_id, [("broken.zip", broken)]
    )
    assert report.outcomes[0].status == "refused"
    assert "not a readable zip archive" in report.outcomes[0].reason
