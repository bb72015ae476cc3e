"""Ingest: every file becomes a case or gets a reason; duplicates; rasters; progress; rights."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from sqlmodel import select

from markit_core import ledger
from markit_core.errors import ImageError, NotFoundError, PermissionDenied
from markit_core.imaging.decode import decode_any
from markit_core.imaging.ingest import ingest
from markit_core.imaging.store import ImageStore
from markit_core.imaging.trace import trace_case
from markit_core.models import Case, CaseOrigin, LedgerEntry
from markit_core.review.answers import case_name
from tests.imaging_fixtures import (
    ImagingProject,
    dicom_bytes,
    identified_dicom,
    png_bytes,
    pydicom_files,
)


def _cases(session, project_id: int) -> list[Case]:
    return list(
        session.exec(select(Case).where(Case.project_id == project_id).order_by(Case.id)).all()
    )


def _store_files(settings) -> set[str]:
    root = settings.store_dir
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_all_pydicom_test_files_in_one_batch(session, settings, imaging: ImagingProject):
    paths = pydicom_files()
    report = ingest(
        session, settings, imaging.dataowner, imaging.project_id, [(p.name, p) for p in paths]
    )

    # one outcome per file, in input order
    assert [o.name for o in report.outcomes] == [p.name for p in paths]
    assert len(report.ingested) >= 40 and len(report.refused) >= 20
    for path, outcome in zip(paths, report.outcomes, strict=True):
        try:
            decode_any(path)
            decodable = True
        except ImageError:
            decodable = False
        if decodable:  # every image (compressed ones included) is ingested or already present
            assert outcome.status in ("ingested", "duplicate"), outcome.line()
        else:  # every non-image or broken file gets a one-line reason
            assert outcome.status == "refused", outcome.line()
            assert outcome.reason and "\n" not in outcome.reason
    by_name = {o.name: o for o in report.outcomes}
    assert "not an image" in by_name["rtplan.dcm"].reason
    assert "RT Plan" in by_name["rtplan.dcm"].reason
    assert "Comprehensive SR" in by_name["test-SR.dcm"].reason
    assert "truncated" in by_name["MR_truncated.dcm"].reason
    assert by_name["README.txt"].status == "refused"
    for name in (
        "JPEG2000.dcm",
        "SC_rgb_rle.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "JPEGLSNearLossless_16.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "rtdose_rle.dcm",
    ):
        assert by_name[name].status in ("ingested", "duplicate"), by_name[name].line()

    cases = _cases(session, imaging.project_id)
    assert len(cases) == len(report.ingested)
    store = ImageStore.from_settings(settings)
    assert _store_files(settings) == {c.stored_path for c in cases}  # no orphan, no missing file
    for case in cases:
        image = decode_any(store.read(case.stored_path, verify=True), case.original_name)
        assert (case.rows, case.cols, case.n_frames) == (image.rows, image.cols, image.n_frames)
    multi = session.get(Case, by_name["examples_ybr_color.dcm"].case_id)
    assert multi.n_frames == 30 and multi.modality == "US" and multi.meta["is_color"]
    assert ledger.integrity(session).ok
    uploads = session.exec(select(LedgerEntry).where(LedgerEntry.action == "case.upload")).all()
    assert len(uploads) == len(cases)


def test_one_bad_file_never_stops_the_batch(session, settings, imaging: ImagingProject):
    good = dicom_bytes(identified_dicom(seed=1))
    truncated = good[: len(good) - 500]
    items = [
        ("a.dcm", good),
        ("garbage.dcm", b"\x00\x01not dicom at all" * 20),
        ("cut.dcm", truncated),
        ("empty.dcm", b""),
        ("b.dcm", dicom_bytes(identified_dicom(seed=2))),
    ]
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, items)
    assert [o.status for o in report.outcomes] == [
        "ingested",
        "refused",
        "refused",
        "refused",
        "ingested",
    ]
    assert "not an image" in report.outcomes[1].reason
    assert "truncated" in report.outcomes[2].reason or "pixel data" in report.outcomes[2].reason
    assert report.outcomes[3].reason == "empty file"
    assert report.summary().startswith("5 files: 2 ingested, 0 already present, 3 refused")


def test_duplicates_are_detected_not_duplicated(session, settings, imaging: ImagingProject):
    mr = Path(get_testdata_file("MR_small.dcm"))
    rle = Path(get_testdata_file("MR_small_RLE.dcm"))  # same pixels, other transfer syntax
    first = ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [("mr.dcm", mr), ("mr-again.dcm", mr.read_bytes())],
    )
    assert [o.status for o in first.outcomes] == ["ingested", "duplicate"]
    case_id = first.outcomes[0].case_id
    assert first.outcomes[1].case_id == case_id and f"case {case_id}" in first.outcomes[1].reason

    again = ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [("mr.dcm", mr), ("mr-rle.dcm", rle)],
    )
    assert [o.status for o in again.outcomes] == ["duplicate", "duplicate"]
    assert len(_cases(session, imaging.project_id)) == 1
    assert len(_store_files(settings)) == 1

    # the same image in another project is that project's own case
    other = ingest(session, settings, imaging.dataowner, imaging.other_project_id, [("mr.dcm", mr)])
    assert other.outcomes[0].status == "ingested"


def test_png_jpeg_tiff_are_stored_as_is(session, settings, imaging: ImagingProject):
    items = [
        ("x.png", png_bytes(1)),
        ("x.jpg", png_bytes(2, fmt="JPEG")),
        ("x.tif", png_bytes(3, fmt="TIFF")),
        ("x.bmp", png_bytes(4, fmt="BMP")),
    ]
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, items)
    assert [o.status for o in report.outcomes] == ["ingested"] * 4
    store = ImageStore.from_settings(settings)
    for (name, data), case in zip(items, _cases(session, imaging.project_id), strict=True):
        assert case.kind == "raster"
        assert case.original_name == f"image-{case.content_hash[:10]}{Path(name).suffix}"
        assert (case.rows, case.cols) == (40, 50)
        assert case.stored_path.endswith(Path(name).suffix)
        assert store.read(case.stored_path) == data  # byte for byte
        origin = session.exec(select(CaseOrigin).where(CaseOrigin.case_id == case.id)).one()
        assert origin.source == f"upload: {name}" and origin.patient_id == ""


def test_progress_callback_reports_every_file(session, settings, imaging: ImagingProject, tmp_path):
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "one.dcm").write_bytes(dicom_bytes(identified_dicom(seed=3)))
    (folder / "notes.txt").write_text("hello")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("inner/two.dcm", dicom_bytes(identified_dicom(seed=4)))
        zf.writestr("inner/three.png", png_bytes(5))
    (folder / "more.zip").write_bytes(archive.getvalue())
    calls: list[tuple[int, int, str]] = []
    report = ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [("batch", folder), ("four.png", png_bytes(6))],
        progress=lambda done, total, name: calls.append((done, total, name)),
    )
    names = [o.name for o in report.outcomes]
    assert names == [
        "batch/more.zip/inner/two.dcm",
        "batch/more.zip/inner/three.png",
        "batch/notes.txt",
        "batch/sub/one.dcm",
        "four.png",
    ]
    assert [o.status for o in report.outcomes] == [
        "ingested",
        "ingested",
        "refused",
        "ingested",
        "ingested",
    ]
    assert calls == [(i, 5, n) for i, n in enumerate(names)] + [(5, 5, "")]


def test_only_uploaders_may_ingest(session, settings, imaging: ImagingProject, make_user):
    data = dicom_bytes(identified_dicom(seed=5))
    with pytest.raises(PermissionDenied, match="may not upload"):
        ingest(session, settings, imaging.annotator, imaging.project_id, [("a.dcm", data)])
    stranger = make_user("stranger")
    with pytest.raises(NotFoundError):
        ingest(session, settings, stranger, imaging.project_id, [("a.dcm", data)])
    assert _cases(session, imaging.project_id) == [] and _store_files(settings) == set()
    # owners may
    report = ingest(session, settings, imaging.owner, imaging.project_id, [("a.dcm", data)])
    assert report.outcomes[0].status == "ingested"


def test_failed_case_leaves_no_row_and_no_file(
    session, settings, imaging: ImagingProject, monkeypatch
):
    real_append = ledger.append
    calls = {"n": 0}

    def flaky_append(*args, **kwargs):
        if kwargs.get("action") == "case.upload":
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("disk full")
        return real_append(*args, **kwargs)

    monkeypatch.setattr(ledger, "append", flaky_append)
    items = [(f"{i}.dcm", dicom_bytes(identified_dicom(seed=10 + i))) for i in range(3)]
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, items)
    assert [o.status for o in report.outcomes] == ["ingested", "refused", "ingested"]
    assert "disk full" in report.outcomes[1].reason
    cases = _cases(session, imaging.project_id)
    assert len(cases) == 2
    assert _store_files(settings) == {c.stored_path for c in cases}
    origins = session.exec(select(CaseOrigin)).all()
    assert sorted(o.case_id for o in origins) == sorted(c.id for c in cases)
    monkeypatch.setattr(ledger, "append", real_append)
    assert ledger.integrity(session).ok
    retry = ingest(session, settings, imaging.dataowner, imaging.project_id, [items[1]])
    assert retry.outcomes[0].status == "ingested"


def test_upload_limit_and_missing_paths(session, settings, imaging: ImagingProject, tmp_path):
    settings.max_upload_files = 2
    items = [(f"{i}.png", png_bytes(20 + i)) for i in range(3)] + [("gone", tmp_path / "nope")]
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, items)
    assert [o.status for o in report.outcomes] == ["ingested", "ingested", "refused", "refused"]
    assert "limit of 2 files" in report.outcomes[2].reason


def test_case_fields_and_names_hold_no_original_identifiers(
    session, settings, imaging: ImagingProject
):
    ds = identified_dicom(seed=7)
    name = f"{ds.SOPInstanceUID}_{ds.PatientID}_quixote.dcm"
    report = ingest(
        session, settings, imaging.dataowner, imaging.project_id, [(name, dicom_bytes(ds))]
    )
    case = session.get(Case, report.outcomes[0].case_id)
    assert case.kind == "dicom" and case.modality == "MR" and (case.rows, case.cols) == (64, 64)
    for original in (
        str(ds.SOPInstanceUID),
        str(ds.StudyInstanceUID),
        ds.PatientID,
        ds.AccessionNumber,
        "quixote",
    ):
        for value in (
            case.original_name,
            case.study_uid,
            case.series_uid,
            case.sop_uid,
            case.accession,
            str(case.meta),
        ):
            assert original.lower() not in value.lower()
    assert case.sop_uid.startswith("2.25.")
    assert case.original_name == f"MR-{case.sop_uid[-10:]}.dcm"  # pseudonymised SOP UID
    origin = session.exec(select(CaseOrigin).where(CaseOrigin.case_id == case.id)).one()
    assert origin.source == f"upload: {name}" and origin.sop_uid == str(ds.SOPInstanceUID)


def test_stored_pixels_equal_the_upload(session, settings, imaging: ImagingProject):
    path = Path(get_testdata_file("JPEG2000.dcm"))
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, [("j2k.dcm", path)])
    case = session.get(Case, report.outcomes[0].case_id)
    stored = pydicom.dcmread(io.BytesIO(ImageStore.from_settings(settings).read(case.stored_path)))
    assert stored.file_meta.TransferSyntaxUID == pydicom.dcmread(path).file_meta.TransferSyntaxUID
    np.testing.assert_array_equal(stored.pixel_array, pydicom.dcmread(path).pixel_array)


def test_demo_images_are_seeded_through_ingest_idempotently(session, settings, imaging):
    from markit_core.demo.seed import seed_demo_images

    note = seed_demo_images(session, settings, imaging.project_id, n=4)
    assert note == "demo images: 4 ingested, 0 already present"
    cases = _cases(session, imaging.project_id)
    assert len(cases) == 4 and {c.kind for c in cases} == {"dicom", "raster"}
    assert {c.created_by for c in cases} == {imaging.dataowner.id}  # as the data owner
    assert all(c.modality == "DX" for c in cases if c.kind == "dicom")
    assert (settings.cache_dir / "demo_images" / "ground_truth.json").exists()
    assert (
        seed_demo_images(session, settings, imaging.project_id, n=4)
        == "demo images: 4 cases already in the demo project"
    )
    assert (
        seed_demo_images(session, settings, imaging.project_id, n=5)
        == "demo images: 1 ingested, 4 already present"
    )


def test_uploaded_names_are_not_shown_to_annotators(session, settings, imaging: ImagingProject):
    """A patient's name in the file or folder name stays with the data owner's trace-back."""
    mr = identified_dicom(seed=30)
    mr.Modality = "DX"
    items = [
        ("Smith_John_1234.png", png_bytes(30)),
        ("2024-03-05 Smith John/Smith_John_1234.dcm", dicom_bytes(mr)),
        ("Smith_John_1234.jpg", png_bytes(31, fmt="JPEG")),
    ]
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, items)
    assert [o.status for o in report.outcomes] == ["ingested"] * 3
    names = []
    for (uploaded, _), case_id in zip(items, report.case_ids, strict=True):
        case = session.get(Case, case_id)
        names.append(case.original_name)
        for shown in (case.original_name, case_name(case)):
            for part in ("smith", "john", "03-05", "/"):  # digits: see the exact names below
                assert part not in shown.lower(), shown
        origin = session.exec(select(CaseOrigin).where(CaseOrigin.case_id == case_id)).one()
        assert origin.source == f"upload: {uploaded}"  # the data owner can still trace it back
        assert trace_case(session, imaging.dataowner, case_id).source == f"upload: {uploaded}"
    raster, dicom, jpeg = (session.get(Case, i) for i in report.case_ids)
    assert names == [
        f"image-{raster.content_hash[:10]}.png",
        f"DX-{dicom.sop_uid[-10:]}.dcm",
        f"image-{jpeg.content_hash[:10]}.jpg",
    ]
    assert case_name(raster) == f"#{raster.id} image-{raster.content_hash[:10]}.png"
    with pytest.raises(PermissionDenied):
        trace_case(session, imaging.annotator, raster.id)


def test_failures_are_logged_without_the_file_name(
    session, settings, imaging: ImagingProject, monkeypatch, caplog
):
    real_append = ledger.append

    def broken_append(*args, **kwargs):
        if kwargs.get("action") == "case.upload":
            raise RuntimeError("disk full while writing Smith_John_1234.dcm")
        return real_append(*args, **kwargs)

    monkeypatch.setattr(ledger, "append", broken_append)
    items = [
        ("a.png", png_bytes(40)),
        ("Smith_John_1234.dcm", dicom_bytes(identified_dicom(seed=41))),
    ]
    with caplog.at_level(logging.DEBUG, logger="markit_core"):
        report = ingest(session, settings, imaging.dataowner, imaging.project_id, items)
    assert [o.status for o in report.outcomes] == ["refused", "refused"]
    assert "Smith_John_1234.dcm" in report.outcomes[1].reason  # the uploader sees the reason
    failures = [r for r in caplog.records if r.name == "markit_core.imaging.ingest"]
    assert len(failures) == 2
    assert "file 2 of the batch" in failures[1].getMessage()
    assert "RuntimeError" in failures[1].getMessage()
    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    for secret in ("Smith", "John", "1234", "Quixote"):
        assert secret not in logged
