"""Facts the imaging modules share are defined once and used everywhere.

Two copies of a list (pixel keywords, raster signatures, junk file names) drift
apart: one module then accepts what another refuses. These tests check that
the modules use the one definition, and that they behave alike where it matters.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from markit_core.imaging import archive, cache, decode, dicom_prepare, ingest, inputs, raster, store


def test_one_definition_of_each_shared_fact():
    assert dicom_prepare.PIXEL_KEYWORDS is decode.PIXEL_KEYWORDS  # uploads and archive images
    assert (
        not hasattr(ingest, "PIXEL_KEYWORDS")
        and not hasattr(ingest, "_PIXEL_KEYWORDS")
        and not hasattr(decode, "_PIXEL_KEYWORDS")
    )
    assert not hasattr(ingest, "_RASTER_SUFFIX")
    assert tuple(raster.RASTER_SUFFIX) == raster.RASTER_MAGIC
    assert cache.content_key is store.sha256_hex
    assert ingest.strip_name is inputs.strip_name and not hasattr(ingest, "_strip")
    assert not hasattr(inputs, "_JUNK_NAMES") and inputs.is_os_metadata is archive.is_os_metadata


def test_raster_detection_agrees_with_the_decoder():
    for magic, suffix in raster.RASTER_SUFFIX.items():
        data = magic + b"\0" * 200
        assert raster.raster_suffix(data) == suffix
        assert data.startswith(decode.RASTER_MAGIC)
    assert raster.raster_suffix(b"\x89PNG\0\0\0\0") is None  # not the full PNG signature
    assert raster.raster_suffix(b"\0" * 128 + b"DICM") is None


def test_folders_and_archives_skip_the_same_metadata_files(tmp_path: Path):
    names = [".DS_Store", "Thumbs.db", "desktop.ini", "._scan.dcm", "scan.dcm", "a._b.dcm"]
    folder = tmp_path / "upload"
    folder.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            (folder / name).write_bytes(b"x")
            zf.writestr(name, b"x")
    with inputs.Expansion(
        [("upload", folder), ("upload.zip", buf.getvalue())],
        max_archive_bytes=1 << 20,
        max_files=100,
    ) as expansion:
        skipped = {e.name for e in expansion.entries if "metadata" in e.refused}
    expected = {".DS_Store", "Thumbs.db", "desktop.ini", "._scan.dcm"}
    assert skipped == {f"upload/{n}" for n in expected} | {f"upload.zip/{n}" for n in expected}
