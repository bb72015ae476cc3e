"""Synthetic chest radiographs with known ground truth, for the demo project.

Each image is drawn from a seed, so the same seed always gives the same pixels,
tags and UIDs. Anatomy: dark lung fields with vascular markings, ribs and
clavicles, mediastinum and spine, heart shadow, diaphragm domes. Each of the 7
demo labels has a visible, learnable sign whose bounding box is recorded:

- cardiomegaly: heart shadow wider than half the thorax;
- pleural effusion: fluid filling the lung base with a meniscus (blunted angle);
- pneumothorax: a lucent rim without lung markings behind a thin pleural line;
- pneumonia: patchy consolidation in one zone;
- interstitial lung disease: reticular net texture in the lower zones;
- pulmonary edema: bilateral perihilar (bat-wing) haze;
- atelectasis: a dense plate-like band in a lower zone.

Each image also has a subject (sex, age, view position) that leaves learnable
signs (see :mod:`markit_core.demo.anatomy`); the DICOM tags (PatientSex,
PatientBirthDate / PatientAge, ViewPosition) and the manifest carry it.

DICOMs are 16-bit (12 bits stored) DX "For Presentation", MONOCHROME1 and
MONOCHROME2 mixed, with PA/AP view, a window from the data, rescale tags and a
fake patient identity (to exercise de-identification). Every fourth image is an
8-bit PNG instead. ``python -m markit_core.demo.generator OUT_DIR [-n N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from markit_core.demo.anatomy import Subject, draw_subject_chest
from markit_core.demo.dicom import PatientIdentity, build_dicom, fake_identity, with_subject

DEMO_LABELS: tuple[str, ...] = (
    "interstitial lung disease",
    "pneumonia",
    "pulmonary edema",
    "pleural effusion",
    "cardiomegaly",
    "pneumothorax",
    "atelectasis",
)
Box = tuple[int, int, int, int]
_BOX_THRESHOLD = 0.03  # brightness change that counts as "inside the lesion"


@dataclass(frozen=True)
class DemoImage:
    """One generated image and its ground truth.

    Attributes
    ----------
    path : Path
        The written file.
    kind : str
        ``"dicom"`` or ``"png"``.
    labels : dict[str, bool]
        Truth for each of :data:`DEMO_LABELS`.
    boxes : dict[str, tuple[int, int, int, int]]
        (x0, y0, x1, y1) in image pixels (x1/y1 exclusive) per positive label.
    patient : PatientIdentity
        The fake identity (written into DICOM tags; for PNGs only in the manifest).
    view_position : str
        ``"PA"`` or ``"AP"``.
    photometric : str
        ``MONOCHROME1``/``MONOCHROME2`` for DICOM, ``MONOCHROME2`` for PNG.
    uids : dict[str, str]
        Study/series/instance UIDs (DICOM only).
    sex : str
        ``F`` or ``M`` (drawn into the image; also ``patient.sex``).
    age : int
        Age in years at the study date (drawn into the image).
    """

    path: Path
    kind: str
    labels: dict[str, bool]
    boxes: dict[str, Box]
    patient: PatientIdentity
    view_position: str
    photometric: str
    uids: dict[str, str] = field(default_factory=dict)
    sex: str = ""
    age: int = 0


def make_chest_array(
    truth: dict[str, bool], rng: np.random.Generator, size: int | tuple[int, int] = 512
) -> tuple[np.ndarray, dict[str, Box]]:
    """Draw one chest radiograph with the given findings.

    Parameters
    ----------
    truth : dict[str, bool]
        Label -> present; missing labels count as absent.
    rng : numpy.random.Generator
        Source of all randomness (anatomy jitter, lesion placement, noise).
    size : int | tuple[int, int]
        Square side, or (rows, cols).

    Returns
    -------
    tuple[numpy.ndarray, dict[str, tuple[int, int, int, int]]]
        Brightness image, float32 in [0, 1] (1 = dense/white, MONOCHROME2
        sense), and the lesion box of each positive label in image pixels.
    """
    image, boxes, _ = make_chest(truth, rng, size)
    return image, boxes


def make_chest(
    truth: dict[str, bool],
    rng: np.random.Generator,
    size: int | tuple[int, int] = 512,
    subject: Subject | None = None,
) -> tuple[np.ndarray, dict[str, Box], Subject]:
    """Like :func:`make_chest_array`, also returning the subject (sex, age, view).

    With ``subject=None`` the subject is drawn from ``rng`` first, exactly as
    :func:`make_chest_array` does, so both give the same pixels for the same ``rng``.
    """
    rows, cols = (size, size) if isinstance(size, int) else size
    unknown = set(truth) - set(DEMO_LABELS)
    if unknown:
        raise ValueError(f"unknown demo labels: {sorted(unknown)}")
    full = {k: bool(truth.get(k)) for k in DEMO_LABELS}
    return draw_subject_chest(full, rng, rows, cols, subject)


def sample_truth(rng: np.random.Generator, index: int) -> dict[str, bool]:
    """Labels for image ``index``: every label positive in the first 14, some normals."""
    truth = {label: bool(rng.random() < 0.15) for label in DEMO_LABELS}
    if index < 2 * len(DEMO_LABELS):
        truth[DEMO_LABELS[index % len(DEMO_LABELS)]] = True
    elif index % 5 == 0:
        truth = dict.fromkeys(DEMO_LABELS, False)
    return truth


def generate_demo_set(
    out_dir: Path, n: int = 24, seed: int = 7, size: int = 512
) -> list[DemoImage]:
    """Write ``n`` demo images plus ``ground_truth.json`` into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Created if missing; existing demo files with the same names are replaced.
    n : int
        Number of images; every 4th (index % 4 == 3) is a PNG, the rest DICOM.
    seed : int
        Same seed -> identical files (pixels, tags and UIDs).
    size : int
        Square image side in pixels.

    Returns
    -------
    list[DemoImage]
        One entry per written file, in order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images: list[DemoImage] = []
    for index in range(n):
        rng = np.random.default_rng([seed, index])
        truth = sample_truth(rng, index)
        pixels, boxes, subject = make_chest(truth, rng, size)
        patient = with_subject(fake_identity(rng, seed, index), subject.sex, subject.age)
        view = subject.view
        subject_truth = (subject.sex, subject.age)
        stem = f"demo_{seed}_{index:03d}"
        if index % 4 == 3:
            path = out_dir / f"{stem}.png"
            Image.fromarray((pixels * 255.0 + 0.5).astype(np.uint8)).save(path, compress_level=1)
            images.append(
                DemoImage(
                    path, "png", truth, boxes, patient, view, "MONOCHROME2", {}, *subject_truth
                )
            )
            continue
        photometric = "MONOCHROME1" if index % 3 == 1 else "MONOCHROME2"
        ds = build_dicom(
            pixels,
            patient=patient,
            photometric=photometric,
            view_position=view,
            uid_seed=f"markit-demo-{seed}-{index}",
        )
        path = out_dir / f"{stem}.dcm"
        ds.save_as(path, enforce_file_format=True)
        uids = {
            k: str(ds[k].value) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
        }
        images.append(
            DemoImage(path, "dicom", truth, boxes, patient, view, photometric, uids, *subject_truth)
        )
    _write_manifest(out_dir, images, seed=seed, size=size)
    return images


def _write_manifest(out_dir: Path, images: list[DemoImage], *, seed: int, size: int) -> None:
    entries = []
    for image in images:
        entry = asdict(image)
        entry["path"] = image.path.name
        entry["boxes"] = {k: list(v) for k, v in image.boxes.items()}
        entries.append(entry)
    manifest = {"seed": seed, "size": size, "labels": list(DEMO_LABELS), "images": entries}
    (out_dir / "ground_truth.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line: generate a demo set into a folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("-n", type=int, default=24, help="number of images (default 24)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args(argv)
    if args.n < 1 or args.size < 64:
        parser.error("need -n >= 1 and --size >= 64")
    images = generate_demo_set(args.out_dir, n=args.n, seed=args.seed, size=args.size)
    for image in images:
        positives = ", ".join(k for k, v in image.labels.items() if v) or "normal"
        print(f"{image.path.name}\t{image.kind}\t{positives}")
    print(f"wrote {len(images)} images and ground_truth.json to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
