"""Hostile input is refused before anything is decoded, with bounded memory (issue 9, point 9).

Each refusal is checked by what it must not do (no pydicom parse of a file of
zeros, no pixel decoding) and by its peak of traced allocations, never by
wall-clock time (that is ``benchmarks/hostile.py``).
"""

from __future__ import annotations

import tracemalloc
import zipfile
from pathlib import Path

import pydicom
import pytest
from PIL import Image

from benchmarks.hostile import _dicom, _jpeg_bomb, _png_bomb, _zip_of_zeros
from markit_core.errors import ImageError
from markit_core.imaging import dicom_prepare as prepare_module  # where uploads are parsed
from markit_core.imaging.decode import decode_any
from markit_core.imaging.ingest import ingest
from markit_core.imaging.limits import decoded_budget, looks_like_dataset
from tests.imaging_fixtures import ImagingProject


@pytest.fixture
def small_budget(settings):
    """The same settings with a 10 MB decoded budget (file limit 74 MB)."""
    return settings.model_copy(update={"max_decoded_mb": 10})


@pytest.fixture
def no_pydicom_parse(monkeypatch):
    """Fail if pydicom is asked to parse the upload (the slow forced parse)."""

    def refuse(*args, **kwargs):
        raise AssertionError("pydicom.dcmread was called on hostile input")

    monkeypatch.setattr(pydicom, "dcmread", refuse)
    monkeypatch.setattr(prepare_module.pydicom, "dcmread", refuse)


def _ingest_one(session, settings, imaging, path: Path) -> tuple[str, float]:
    tracemalloc.start()
    report = ingest(session, settings, imaging.owner, imaging.project_id, [(path.name, path)])
    peak = tracemalloc.get_traced_memory()[1] / (1 << 20)
    tracemalloc.stop()
    (outcome,) = report.outcomes
    assert outcome.status == "refused", outcome
    return outcome.reason, peak


def test_zero_filled_dcm_is_refused_without_a_forced_parse(
    session, settings, imaging: ImagingProject, tmp_path, no_pydicom_parse
):
    path = tmp_path / "zeros.dcm"
    with open(path, "wb") as fh:
        fh.truncate(50 << 20)
    reason, peak = _ingest_one(session, settings, imaging, path)
    assert "not an image" in reason
    assert peak < 5, f"{peak:.1f} MB traced: the file was read"
    with pytest.raises(ImageError, match="not an image"):
        decode_any(path)
    with pytest.raises(ImageError, match="not an image"):
        decode_any(path.read_bytes()[: 1 << 20], name="zeros.dcm")


def test_header_then_zeros_is_refused_by_the_structure_walk(
    session, settings, imaging: ImagingProject, tmp_path, no_pydicom_parse
):
    good = _dicom(64, 64)
    cut = good.index(b"\xe0\x7f\x10\x00")
    for name, data in (
        ("preamble_zeros.dcm", b"\0" * 128 + b"DICM" + bytes(20 << 20)),
        ("header_zeros.dcm", good[:cut] + bytes(20 << 20)),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        reason, _ = _ingest_one(session, settings, imaging, path)
        assert "not a valid DICOM file" in reason and "ascending tag order" in reason, reason


def test_dicom_claiming_many_frames_is_refused_before_decoding(
    session, settings, imaging: ImagingProject, tmp_path, monkeypatch
):
    import pydicom.pixels

    def no_decoder(*a, **k):
        raise AssertionError("a pixel decoder was requested")

    path = tmp_path / "frames.dcm"
    path.write_bytes(_dicom(512, 512, frames=100_000, pixels=bytes(512 * 512 * 2)))
    monkeypatch.setattr(pydicom.pixels, "get_decoder", no_decoder)
    reason, peak = _ingest_one(session, settings, imaging, path)
    assert "too large to decode safely" in reason and "100000 frame(s)" in reason, reason
    assert "MARKIT_MAX_DECODED_MB" in reason
    assert peak < 20
    with pytest.raises(ImageError, match="too large to decode safely"):
        decode_any(path)


def test_multi_page_tiff_sums_every_page(session, small_budget, imaging, tmp_path):
    path = tmp_path / "pages.tif"
    blank = Image.new("L", (1000, 1000))
    blank.save(
        path, "TIFF", save_all=True, append_images=[blank] * 19, compression="tiff_adobe_deflate"
    )
    assert path.stat().st_size < 1 << 20  # 20 MB of pixels in well under a megabyte
    reason, peak = _ingest_one(session, small_budget, imaging, path)
    assert "too large to decode safely" in reason and "TIFF page" in reason, reason
    assert peak < 8, f"{peak:.1f} MB traced: pages were decoded"
    # one page fits: the same image as a single page is accepted
    one = tmp_path / "one.tif"
    blank.save(one, "TIFF")
    report = ingest(session, small_budget, imaging.owner, imaging.project_id, [("one.tif", one)])
    assert len(report.ingested) == 1, report.outcomes


def test_png_and_jpeg_bombs_are_refused_from_their_headers(
    session, small_budget, imaging, tmp_path
):
    png, jpg = tmp_path / "bomb.png", tmp_path / "bomb.jpg"
    _png_bomb(png, 5000)  # 25 MB of pixels
    _jpeg_bomb(jpg)  # claims 65000 x 65000
    for path in (png, jpg):
        reason, peak = _ingest_one(session, small_budget, imaging, path)
        assert "too large to decode safely" in reason, reason
        assert peak < 8, f"{path.name}: {peak:.1f} MB traced"
    with pytest.raises(ImageError, match="too large"):
        decode_any(png, max_decoded_bytes=decoded_budget(10))


def test_zip_bombs_are_refused_with_bounded_memory(session, small_budget, imaging, tmp_path):
    big, small, nested = tmp_path / "big.zip", tmp_path / "small.zip", tmp_path / "nested.zip"
    _zip_of_zeros(big, "scan.dcm", 200 << 20)  # over the 74 MB a file may have
    _zip_of_zeros(small, "scan.dcm", 40 << 20)  # under it, but zeros from the first byte
    with zipfile.ZipFile(nested, "w") as zf:
        zf.write(small, "inner.zip")
    expected = {big: "over the 74 MB", small: "not an image", nested: "nested archive"}
    for path, words in expected.items():
        tracemalloc.start()
        report = ingest(
            session, small_budget, imaging.owner, imaging.project_id, [(path.name, path)]
        )
        peak = tracemalloc.get_traced_memory()[1] / (1 << 20)
        tracemalloc.stop()
        assert [o.status for o in report.outcomes] == ["refused"], report.outcomes
        assert words in report.outcomes[0].reason, report.outcomes[0].reason
        assert peak < 8, f"{path.name}: {peak:.1f} MB traced"


def test_loose_file_over_the_limit_is_not_read(session, small_budget, imaging, tmp_path):
    path = tmp_path / "huge.dcm"
    path.write_bytes(_dicom(64, 64))
    with open(path, "r+b") as fh:
        fh.truncate(100 << 20)
    reason, peak = _ingest_one(session, small_budget, imaging, path)
    assert "over the 74 MB limit" in reason and peak < 2


def test_the_budget_is_one_setting_and_normal_images_pass(
    session, settings, imaging, tmp_path, monkeypatch
):
    monkeypatch.setenv("MARKIT_MAX_DECODED_MB", "3")
    from markit_core.config import load_settings

    assert load_settings().max_decoded_mb == 3
    three = settings.model_copy(update={"max_decoded_mb": 3})
    under, over = tmp_path / "under.dcm", tmp_path / "over.dcm"
    under.write_bytes(_dicom(1024, 1024))  # 2 MB of 16-bit pixels
    over.write_bytes(_dicom(1024, 1024, frames=2, pixels=bytes(1024 * 1024 * 4)))  # 4 MB
    report = ingest(
        session, three, imaging.owner, imaging.project_id, [("under", under), ("over", over)]
    )
    assert [o.status for o in report.outcomes] == ["ingested", "refused"], report.outcomes
    assert "4.0 MB decoded, over the limit of 3.0 MB" in report.outcomes[1].reason


def test_plausible_dataset_start() -> None:
    meta_less = _dicom(8, 8)[132:]
    assert not looks_like_dataset(bytes(256), 1 << 20)
    assert not looks_like_dataset(b"hello world, this is text" * 10, 250)
    assert looks_like_dataset(meta_less[:256], len(meta_less))
