"""Acceptance of the shipped demo models on held-out synthetic images (real files, real loaders).

The held-out set is written by the demo generator (DICOM, MONOCHROME1/2, and PNG) with a
seed the training never used, read back with the image decoders and preprocessed like a
stored case: the whole path a project case takes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markit_core.demo.generator import DEMO_LABELS, DemoImage, generate_demo_set
from markit_core.imaging.decode import decode_any
from markit_core.inference import registry
from markit_core.inference.base import TaskType
from markit_core.inference.metrics import mean_absolute_error, per_label_auc, roc_auc
from markit_core.inference.preprocess import preprocess
from markit_core.inference.weights import CHECKSUMS_FILE, read_checksums, sha256_of

HELD_OUT_SEED = 901  # training draws use seeds >= 10000
N_IMAGES = 140
SIZE = 256


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[DemoImage], np.ndarray]:
    out = tmp_path_factory.mktemp("held_out")
    images = generate_demo_set(out, n=N_IMAGES, seed=HELD_OUT_SEED, size=SIZE)
    spec = registry.entry("demo-pathologies").info.input
    tensors = np.stack([preprocess(decode_any(image.path), spec) for image in images])
    return images, tensors


def _predict(name: str, tensors: np.ndarray) -> np.ndarray:
    task = registry.get(name, device="cpu")
    return np.concatenate([task(tensors[i : i + 32]) for i in range(0, len(tensors), 32)])


def test_shipped_weights_are_small_and_listed() -> None:
    sums = read_checksums(CHECKSUMS_FILE)
    total = 0
    for task in ("pathologies", "view", "sex", "age"):
        path = Path(CHECKSUMS_FILE.parent, f"demo-{task}-1.pt")
        assert sums[path.name] == sha256_of(path)
        assert Path(CHECKSUMS_FILE.parent, f"demo-{task}-1.md").is_file()  # model card
        total += path.stat().st_size
    assert total < 4 * 1024 * 1024


def test_pathology_auc_per_label(held_out) -> None:
    images, tensors = held_out
    probs = _predict("demo-pathologies", tensors)
    assert probs.shape == (N_IMAGES, 7) and probs.min() >= 0 and probs.max() <= 1
    truth = np.array([[image.labels[label] for label in DEMO_LABELS] for image in images])
    aucs = dict(zip(DEMO_LABELS, per_label_auc(truth, probs), strict=True))
    assert min(truth.sum(0)) >= 8, "too few positives for a meaningful AUC"
    assert all(auc >= 0.9 for auc in aucs.values()), aucs


def test_view_sex_and_age(held_out) -> None:
    images, tensors = held_out
    view = _predict("demo-view", tensors)[:, 0]
    sex = _predict("demo-sex", tensors)[:, 0]
    age = _predict("demo-age", tensors)[:, 0]
    assert registry.entry("demo-age").info.task_type is TaskType.REGRESSION
    view_auc = roc_auc([i.view_position == "AP" for i in images], view)
    sex_auc = roc_auc([i.sex == "F" for i in images], sex)
    mae = mean_absolute_error([i.age for i in images], age)
    assert view_auc >= 0.9, view_auc
    assert sex_auc >= 0.9, sex_auc
    assert mae <= 5.0, mae


def test_gradcam_peak_falls_inside_the_lesion_box(held_out) -> None:
    images, tensors = held_out
    task = registry.get("demo-pathologies", device="cpu")
    hits, misses = 0, []
    for image, tensor in zip(images, tensors, strict=True):
        positives = [
            j
            for j, label in enumerate(DEMO_LABELS)
            if image.labels[label] and image.boxes[label][2] > image.boxes[label][0]
        ]  # a finding drawn outside the lung leaves no box to localise
        if not positives:
            continue
        outputs, cams = task.explain(tensor, positives)
        assert cams.shape == (len(positives), 128, 128) and outputs.shape == (7,)
        for j, cam in zip(positives, cams, strict=True):
            py, px = np.unravel_index(int(np.argmax(cam)), cam.shape)
            x, y = (px + 0.5) * SIZE / cam.shape[1], (py + 0.5) * SIZE / cam.shape[0]
            x0, y0, x1, y1 = image.boxes[DEMO_LABELS[j]]
            if x0 <= x <= x1 and y0 <= y <= y1:
                hits += 1
            else:
                misses.append((image.path.name, DEMO_LABELS[j]))
    total = hits + len(misses)
    assert total >= 100
    assert hits / total >= 0.8, (hits, total, misses[:10])
