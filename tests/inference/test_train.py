"""Training a new version: TrainTask contract, metrics, cancellation, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markit_core.demo.generator import make_chest
from markit_core.errors import ValidationError
from markit_core.inference import registry
from markit_core.inference.base import TrainingData, TrainTask
from markit_core.inference.cnn import load_project_cnn
from markit_core.inference.preprocess import preprocess_array
from markit_core.inference.train import TrainConfig, trainer_for


def _view_data(n: int, seed: int) -> TrainingData:
    """Synthetic images with the view drawn in (AP magnifies the heart, raises clavicles)."""
    spec = registry.entry("demo-view").info.input
    images, targets = [], []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        pixels, _, subject = make_chest({}, rng, 128)
        images.append(preprocess_array(pixels, spec))
        targets.append([subject.view == "AP"])
    return TrainingData(np.stack(images), np.array(targets, np.float32), tuple(range(n)))


def test_train_a_view_model_reports_progress_and_loads(tmp_path: Path) -> None:
    info = registry.entry("demo-view").info
    task = trainer_for(info, TrainConfig(batch_size=16, lr=5e-3, threads=1))
    assert isinstance(task, TrainTask) and task.info() is info
    seen: list[tuple[int, int, dict]] = []
    result = task(
        _view_data(96, 1),
        out_dir=str(tmp_path),
        epochs=3,
        seed=0,
        progress=lambda e, n, m: seen.append((e, n, m)),
        val=_view_data(40, 2),
    )
    assert [(e, n) for e, n, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all("loss" in m and 0.0 <= m["val_auc"] <= 1.0 for _, _, m in seen)
    assert result.metrics == seen[-1][2] and len(result.history) == 3
    loaded = load_project_cnn(info, Path(result.weights_path))
    assert loaded(_view_data(4, 3).images).shape == (4, 1)


def test_same_seed_same_weights(tmp_path: Path) -> None:
    info = registry.entry("demo-age").info
    data = _view_data(32, 4)
    ages = TrainingData(data.images, np.linspace(20, 85, 32, dtype=np.float32)[:, None])
    task = trainer_for(info, TrainConfig(batch_size=16, threads=1))
    a = task(ages, out_dir=str(tmp_path / "a"), epochs=1, seed=3, val=ages)
    b = task(ages, out_dir=str(tmp_path / "b"), epochs=1, seed=3)
    assert Path(a.weights_path).read_bytes() == Path(b.weights_path).read_bytes()
    assert "val_mae" in a.metrics


def test_cancel_from_progress_writes_nothing(tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def cancel(epoch: int, epochs: int, metrics: dict) -> None:
        raise Cancelled

    task = trainer_for(registry.entry("demo-view").info, TrainConfig(threads=1))
    with pytest.raises(Cancelled):
        task(_view_data(16, 5), out_dir=str(tmp_path), epochs=2, seed=0, progress=cancel)
    assert not list(tmp_path.iterdir())


def test_refusals(tmp_path: Path) -> None:
    info = registry.entry("demo-pathologies").info
    task = trainer_for(info)
    with pytest.raises(ValidationError, match=r"targets must be \(8, 7\)"):
        task(
            TrainingData(np.zeros((8, 1, 128, 128), np.float32), np.zeros((8, 1), np.float32)),
            out_dir=str(tmp_path),
            epochs=1,
            seed=0,
        )
    with pytest.raises(ValidationError, match="images must be"):
        task(
            TrainingData(np.zeros((8, 1, 64, 64), np.float32), np.zeros((8, 7), np.float32)),
            out_dir=str(tmp_path),
            epochs=1,
            seed=0,
        )
    with pytest.raises(ValidationError, match="epochs must be at least 1"):
        task(
            TrainingData(np.zeros((1, 1, 128, 128)), np.zeros((1, 7))),
            out_dir=".",
            epochs=0,
            seed=0,
        )
    with pytest.raises(ValidationError, match="trains only its own CNN"):
        trainer_for(registry.entry("xrv-densenet121-all").info)
