"""Grad-CAM: one forward, batched labels, the model output returned, one CAM object reused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from markit_core.inference import registry
from markit_core.inference.base import InferTask
from markit_core.inference.cnn import ChestCNN, activation_for
from markit_core.inference.errors import InferenceInputError
from markit_core.inference.torch_task import TorchTask


@pytest.fixture
def task() -> TorchTask:
    torch.manual_seed(1)
    info = registry.entry("demo-pathologies").info
    model = ChestCNN(len(info.labels))
    return TorchTask(info, model.features, model.head, activation_for(info, model))


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, 128, 128)).astype(np.float32)


def test_explain_returns_the_same_outputs_as_predict_and_maps_in_range(task) -> None:
    assert isinstance(task, InferTask)
    image = _image()
    outputs, cams = task.explain(image, [0, 3, 6])
    np.testing.assert_allclose(outputs, task(image[None])[0], atol=1e-5)
    assert outputs.shape == (7,) and np.all((outputs > 0) & (outputs < 1))
    assert cams.shape == (3, 128, 128) and cams.dtype == np.float32
    assert cams.min() >= 0.0 and cams.max() <= 1.0
    assert all(c.max() == pytest.approx(1.0, abs=1e-4) for c in cams if c.max() > 0)


def test_batched_labels_equal_one_label_at_a_time(task) -> None:
    image = _image(2)
    _, together = task.explain(image, [1, 4, 5])
    for k, label in enumerate([1, 4, 5]):
        _, alone = task.explain(image, [label])
        np.testing.assert_allclose(together[k], alone[0], atol=1e-4)
    assert not np.allclose(together[0], together[1])  # different labels, different maps


def test_one_forward_pass_and_one_cam_object(task) -> None:
    calls = []
    hook = task.net.features.register_forward_hook(lambda *a: calls.append(1))
    try:
        task.explain(_image(), [0, 1, 2, 3, 4, 5, 6])
        assert len(calls) == 1  # seven labels, one pass through the backbone
    finally:
        hook.remove()
    cam = task._cam
    task.explain(_image(3), [2])
    assert task._cam is cam and cam is not None
    task.close()
    assert task._cam is None
    _, cams = task.explain(_image(), [0])  # still works after close (hooks rebuilt)
    assert cams.shape == (1, 128, 128)


def test_a_lesion_moves_the_map() -> None:
    """A model whose one channel fires on bright spots: the map peaks where the spot is."""
    info = registry.entry("demo-view").info
    model = ChestCNN(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.zero_()
                m.weight[:, :, 1, 1] = 1.0  # identity-like: brightness flows through
        model.head[3].weight.fill_(1.0)
    task = TorchTask(info, model.features.eval(), model.head.eval(), torch.sigmoid)
    for y, x in ((30, 90), (100, 20)):
        image = np.zeros((1, 128, 128), np.float32)
        image[0, y - 6 : y + 6, x - 6 : x + 6] = 1.0
        _, cams = task.explain(image, [0])
        py, px = np.unravel_index(np.argmax(cams[0]), cams[0].shape)
        assert abs(py - y) <= 10 and abs(px - x) <= 10


def test_bad_inputs(task) -> None:
    with pytest.raises(InferenceInputError, match=r"takes \(N, 1, 128, 128\)"):
        task(np.zeros((2, 1, 64, 64), np.float32))
    with pytest.raises(InferenceInputError, match="out of range"):
        task.explain(_image(), [7])
    with pytest.raises(InferenceInputError, match="one image"):
        task.explain(np.zeros((2, 1, 128, 128), np.float32), [0])
