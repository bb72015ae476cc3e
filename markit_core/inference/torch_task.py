"""A PyTorch model as an :class:`~markit_core.inference.base.InferTask`, with Grad-CAM.

The model is split into ``features`` (image -> last feature map) and ``head``
(feature map -> logits). For explanations one pytorch-grad-cam ``GradCAM`` object
is built once per task and reused; between the two halves sits a fan-out layer
that hands the head one copy of the feature map per requested label. So an
explanation of L labels costs ONE forward pass of the backbone and ONE batched
backward pass through the head (the graph starts at the feature map, so the
backward pass never enters the backbone), and the model outputs come from that
same forward pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
from pytorch_grad_cam import GradCAM  # type: ignore[import-untyped]
from pytorch_grad_cam.utils.model_targets import (  # type: ignore[import-untyped]
    ClassifierOutputTarget,
)
from torch import nn

from markit_core.inference.base import ModelInfo
from markit_core.inference.errors import InferenceInputError

Activation = Callable[[torch.Tensor], torch.Tensor]


class _FanOut(nn.Module):
    """Starts the autograd graph at the feature map and repeats it ``copies`` times."""

    def __init__(self) -> None:
        super().__init__()
        self.copies = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        return x.expand(self.copies, *x.shape[1:])


class _ExplainNet(nn.Module):
    def __init__(self, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.fanout = _FanOut()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            feats = self.features(x)
        return self.head(self.fanout(feats))


class TorchTask:
    """InferTask over ``features`` + ``head`` modules (see the module docstring).

    Parameters
    ----------
    info : ModelInfo
        What the model is.
    features, head : torch.nn.Module
        The two halves; ``head(features(x))`` are the logits ``(N, L)``.
    activation : callable
        Logits -> outputs (sigmoid for binary/multi-label, identity or a scale
        for regression).
    device : str
        Where the model runs.
    """

    def __init__(
        self,
        info: ModelInfo,
        features: nn.Module,
        head: nn.Module,
        activation: Activation,
        device: str = "cpu",
    ) -> None:
        self._info = info
        self.device = torch.device(device)
        self.net = _ExplainNet(features, head).to(self.device).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.activation = activation
        self._lock = threading.Lock()
        self._cam: GradCAM | None = None

    def info(self) -> ModelInfo:
        """Name, version, task type, labels and input spec."""
        return self._info

    def __call__(self, batch: torch.Tensor | np.ndarray) -> np.ndarray:
        """Outputs ``(N, L)`` for a preprocessed batch ``(N, C, H, W)``."""
        x = self._as_batch(batch)
        with self._lock, torch.inference_mode():
            logits = self.net.head(self.net.features(x))
            return self.activation(logits).float().cpu().numpy()

    def explain(
        self, image: torch.Tensor | np.ndarray, label_indices: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``(L,)`` and Grad-CAM maps ``(len(label_indices), H, W)`` in [0, 1]."""
        x = self._as_batch(image)
        if x.shape[0] != 1:
            raise InferenceInputError(f"explain takes one image, got a batch of {x.shape[0]}")
        n_labels = len(self._info.labels)
        indices = [int(i) for i in label_indices]
        if not indices or any(not 0 <= i < n_labels for i in indices):
            raise InferenceInputError(
                f"{self._info.key}: label indices {indices} out of range 0..{n_labels - 1}"
            )
        with self._lock:
            cam = self._gradcam()
            self.net.fanout.copies = len(indices)
            try:
                maps = cam(x, targets=[ClassifierOutputTarget(i) for i in indices])
                logits = cam.outputs[:1].detach()
            finally:
                self.net.fanout.copies = 1
                cam.activations_and_grads.clear()
            outputs = self.activation(logits).float().cpu().numpy()[0]
        return outputs, np.clip(maps, 0.0, 1.0).astype(np.float32, copy=False)

    def close(self) -> None:
        """Release the Grad-CAM hooks (the task still predicts; explain rebuilds them)."""
        with self._lock:
            if self._cam is not None:
                self._cam.__exit__(None, None, None)
                self._cam = None

    def _gradcam(self) -> GradCAM:
        if self._cam is None:
            self._cam = GradCAM(model=self.net, target_layers=[self.net.fanout])
        return self._cam

    def _as_batch(self, batch: torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(batch, np.ndarray) and not batch.flags.writeable:
            batch = batch.copy()  # torch cannot share a read-only buffer (cached decoded pixels)
        x = torch.as_tensor(batch, dtype=torch.float32)
        if x.ndim == 3:
            x = x.unsqueeze(0)
        spec = self._info.input
        want = (spec.channels, *spec.size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise InferenceInputError(
                f"{self._info.key} takes (N, {want[0]}, {want[1]}, {want[2]}) tensors, "
                f"got {tuple(x.shape)}"
            )
        return x.to(self.device)
