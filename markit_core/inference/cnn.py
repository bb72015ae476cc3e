"""MarkIt's own small chest X-ray CNN (the demo models and versions trained from annotations).

Four residual-free conv blocks take a 128 x 128 single-channel image to a
16 x 16 x 48 feature map (Grad-CAM reads it there: 8-pixel cells, fine enough to
fall inside a lesion box), then global average pooling and one linear layer.
About 35 k parameters, 0.15 MB of weights per model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from markit_core.inference.base import ModelInfo, TaskType
from markit_core.inference.torch_task import TorchTask
from markit_core.inference.weights import apply_state_dict, load_state_dict_file, verify_checksum

WIDTHS = (8, 16, 32, 48)


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ChestCNN(nn.Module):
    """The project CNN: ``features`` (to 1/8 resolution) and ``head`` (pool + linear)."""

    out_mean: torch.Tensor
    out_std: torch.Tensor

    def __init__(self, n_outputs: int, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        w = widths
        self.features = nn.Sequential(
            _block(1, w[0], 2), _block(w[0], w[1], 2), _block(w[1], w[2], 2), _block(w[2], w[3], 1)
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(w[3], n_outputs)
        )
        # regression targets are standardised; these buffers undo that on output
        self.register_buffer("out_mean", torch.zeros(n_outputs))
        self.register_buffer("out_std", torch.ones(n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def activation_for(info: ModelInfo, model: ChestCNN) -> Callable[[torch.Tensor], torch.Tensor]:
    """Logits -> outputs: sigmoid, or de-standardised values for regression."""
    if info.task_type is TaskType.REGRESSION:
        mean, std = model.out_mean.clone(), model.out_std.clone()

        def regress(z: torch.Tensor) -> torch.Tensor:
            return z * std.to(z.device) + mean.to(z.device)

        return regress
    return torch.sigmoid


def load_project_cnn(
    info: ModelInfo, path: Path, device: str = "cpu", *, checksums: Path | None = None
) -> TorchTask:
    """A :class:`TorchTask` for a project CNN state dict at ``path``.

    The file is read with ``weights_only=True``; when ``checksums`` is given (the
    shipped demo models use ``models/weights.sha256``) its SHA-256 is checked too.

    Raises
    ------
    WeightsError
        Missing, corrupt, not listed / mismatched checksum, or another architecture.
    """
    if checksums is not None:
        verify_checksum(path, checksums)
    state = load_state_dict_file(path)
    model = ChestCNN(len(info.labels))
    apply_state_dict(model, state, path, f"the MarkIt chest CNN with {len(info.labels)} outputs")
    return TorchTask(info, model.features, model.head, activation_for(info, model), device)
