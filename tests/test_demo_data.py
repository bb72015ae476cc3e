"""Demo data generator: determinism, DICOM tags, ground truth that is really drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from markit_core.demo.generator import (
    DEMO_LABELS,
    generate_demo_set,
    main,
    make_chest_array,
    sample_truth,
)
from markit_core.imaging.decode import decode_any
from markit_core.imaging.display import ViewState, render

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
IDENTITY_TAGS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "InstitutionName",
    "ReferringPhysicianName",
    "StudyDate",
)


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo")
    images = generate_demo_set(out, n=24, seed=7, size=512)
    return out, images


def test_generation_is_deterministic(demo_set, tmp_path: Path) -> None:
    out, images = demo_set
    again = generate_demo_set(tmp_path / "again", n=24, seed=7, size=512)
    for first, second in zip(images, again, strict=True):
        assert first.path.read_bytes() == second.path.read_bytes()
        assert first.labels == second.labels and first.boxes == second.boxes
    manifest = (out / "ground_truth.json").read_text()
    assert manifest == (tmp_path / "again" / "ground_truth.json").read_text()
    other = generate_demo_set(tmp_path / "other", n=2, seed=8, size=512)
    assert other[0].path.read_bytes() != images[0].path.read_bytes()


def test_dicom_tags_identity_and_mixed_photometric(demo_set) -> None:
    _, images = demo_set
    dicoms = [i for i in images if i.kind == "dicom"]
    pngs = [i for i in images if i.kind == "png"]
    assert len(dicoms) == 18 and len(pngs) == 6
    photometrics, views, uids = set(), set(), set()
    for image in dicoms:
        ds = pydicom.dcmread(image.path)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SOPClassUID == DX_FOR_PRESENTATION and ds.Modality == "DX"
        assert ds.BitsAllocated == 16 and ds.BitsStored == 12 and ds.Rows == ds.Columns == 512
        assert ds.ViewPosition in ("PA", "AP") and ds.ViewPosition == image.view_position
        assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == 0.0
        assert 0 < float(ds.WindowWidth) <= 4096 and 0 < float(ds.WindowCenter) < 4096
        for tag in IDENTITY_TAGS:
            assert str(ds.get(tag, "")).strip(), tag
        assert str(ds.PatientName) == image.patient.patient_name
        for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID):
            assert uid.is_valid and uid not in uids
            uids.add(uid)
        expected_shape = "INVERSE" if ds.PhotometricInterpretation == "MONOCHROME1" else "IDENTITY"
        assert ds.PresentationLUTShape == expected_shape
        photometrics.add(ds.PhotometricInterpretation)
        views.add(ds.ViewPosition)
    assert photometrics == {"MONOCHROME1", "MONOCHROME2"} and views == {"PA", "AP"}
    for image in pngs:
        with Image.open(image.path) as im:
            assert im.mode == "L" and im.size == (512, 512)


def test_manifest_labels_and_boxes(demo_set) -> None:
    out, images = demo_set
    manifest = json.loads((out / "ground_truth.json").read_text())
    assert manifest["labels"] == list(DEMO_LABELS) and len(manifest["images"]) == 24
    counts = dict.fromkeys(DEMO_LABELS, 0)
    normals = 0
    for image, entry in zip(images, manifest["images"], strict=True):
        assert entry["path"] == image.path.name and (out / entry["path"]).exists()
        assert set(image.labels) == set(DEMO_LABELS)
        positives = {k for k, v in image.labels.items() if v}
        assert set(image.boxes) == positives
        for x0, y0, x1, y1 in image.boxes.values():
            assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
            assert (x1 - x0) * (y1 - y0) >= 100  # a visible lesion, not a speck
        for label in positives:
            counts[label] += 1
        normals += not positives
    assert min(counts.values()) >= 2 and normals >= 1


@pytest.mark.parametrize("label", DEMO_LABELS)
def test_positive_finding_changes_pixels_inside_its_box_only(label: str) -> None:
    negative_truth = dict.fromkeys(DEMO_LABELS, False)
    positive_truth = dict(negative_truth, **{label: True})
    negative, none = make_chest_array(negative_truth, np.random.default_rng(11), 256)
    positive, boxes = make_chest_array(positive_truth, np.random.default_rng(11), 256)
    assert none == {} and set(boxes) == {label}
    x0, y0, x1, y1 = boxes[label]
    diff = np.abs(positive - negative)
    inside = diff[y0:y1, x0:x1]
    assert inside.mean() > 0.015 and inside.max() > 0.1, f"{label} barely visible"
    outside = diff.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() < 0.035  # only soft edges below the box threshold leak out
    assert negative.dtype == np.float32 and negative.min() >= 0 and negative.max() <= 1


def test_non_square_size_and_unknown_label() -> None:
    image, _ = make_chest_array({"cardiomegaly": True}, np.random.default_rng(0), (300, 240))
    assert image.shape == (300, 240)
    with pytest.raises(ValueError, match="unknown demo labels"):
        make_chest_array({"fracture": True}, np.random.default_rng(0), 64)


def test_files_display_like_the_drawn_image(demo_set) -> None:
    _, images = demo_set
    for index in (0, 1, 3):  # MONOCHROME2, MONOCHROME1, PNG
        rng = np.random.default_rng([7, index])
        truth = sample_truth(rng, index)
        drawn, _ = make_chest_array(truth, rng, 512)
        decoded = decode_any(images[index].path)
        assert decoded.invert_for_display == (images[index].photometric == "MONOCHROME1")
        shown = render(decoded, ViewState(zoom=1.0, viewport=(512, 512)), fmt=None).pixels
        correlation = np.corrcoef(shown.ravel().astype(float), drawn.ravel())[0, 1]
        assert correlation > 0.95, (images[index].path.name, correlation)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "-n", "3", "--seed", "2", "--size", "128"]) == 0
    assert "wrote 3 images" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo_2_000.dcm",
        "demo_2_001.dcm",
        "demo_2_002.dcm",
        "ground_truth.json",
    ]
