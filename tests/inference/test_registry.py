"""The explicit registry: names, versions, clear errors, one loaded copy per process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import markit_core.inference as inference
from markit_core.errors import NotFoundError
from markit_core.inference import registry
from markit_core.inference.base import ModelInfo, TaskType
from markit_core.inference.cnn import ChestCNN, load_project_cnn
from markit_core.inference.registry import ModelEntry


def test_builtin_models_are_listed_with_their_tasks() -> None:
    entries = {e.info.key: e for e in registry.list_models()}
    for task in ("pathologies", "view", "sex", "age"):
        info = entries[f"demo-{task}@1"].info
        assert info.task == task and info.input.size == (128, 128)
        assert not entries[f"demo-{task}@1"].external_weights
    assert entries["demo-age@1"].info.task_type is TaskType.REGRESSION
    assert entries["demo-view@1"].info.task_type is TaskType.BINARY
    assert len(entries["demo-pathologies@1"].info.labels) == 7
    xrv = entries["xrv-densenet121-all@1"]
    assert xrv.external_weights and len(xrv.info.labels) == 18 and xrv.weights_file


def test_unknown_model_or_version_is_a_clear_not_found() -> None:
    with pytest.raises(inference.ModelNotFound, match="no model named 'chexnet'.*demo-age"):
        registry.get("chexnet")
    with pytest.raises(NotFoundError, match="has no version '9'; versions: 1"):
        registry.get("demo-view", "9")


def test_register_a_trained_version_latest_wins_and_one_copy(tmp_path: Path) -> None:
    base = registry.entry("demo-view").info
    path = tmp_path / "view-2.pt"
    torch.save(ChestCNN(1).state_dict(), path)
    loads = []

    def loader(info: ModelInfo, _wd: Path, device: str):
        loads.append(device)
        return load_project_cnn(info, path, device)

    info = ModelInfo(**{**base.__dict__, "version": "10"})
    registry.register(ModelEntry(info, loader))
    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register(ModelEntry(info, loader))
        assert registry.entry("demo-view").version == "10"  # 10 > 1 numerically
        first = registry.get("demo-view")
        assert registry.get("demo-view", "10") is first and len(loads) == 1
        assert loads == [registry.default_device()]
        assert first.info().key == "demo-view@10"
        assert first(np.zeros((2, 1, 128, 128), np.float32)).shape == (2, 1)
    finally:
        registry.unregister("demo-view", "10")
    assert registry.entry("demo-view").version == "1"


def test_device_is_cuda_only_when_available() -> None:
    assert registry.default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
