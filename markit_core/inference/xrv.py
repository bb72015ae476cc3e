"""torchxrayvision's DenseNet-121, filled from weight files an administrator copies in.

The network is built with ``weights=None`` (no download). Its weights come from
``MARKIT_WEIGHTS_DIR``, in one of two forms, tried in this order:

1. ``<file>.state.pt``: a plain state dict (see :func:`convert_to_state_dict`),
   read with ``weights_only=True``;
2. ``<file>`` as published by torchxrayvision: a pickled model object, unpickled
   only when its SHA-256 is listed in ``models/weights.sha256``.

Outputs follow torchxrayvision: sigmoid, then its per-label operating-point
normalisation (0.5 = the published operating threshold) for the named weights.
Age, sex and view baselines (other architectures and file formats) are in
:mod:`markit_core.inference.xrv_baselines`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from markit_core.inference import weights as _weights
from markit_core.inference.base import ModelInfo
from markit_core.inference.catalog import XRV_LABELS, XRV_WEIGHTS
from markit_core.inference.errors import WeightsError
from markit_core.inference.torch_task import TorchTask
from markit_core.inference.weights import (
    apply_state_dict,
    load_pickled_model_state,
    read_weights_state,
)

ARCH = "torchxrayvision DenseNet-121 (1 channel, 18 outputs)"


class _DenseNetHead(nn.Module):
    """torchxrayvision's forward after ``features``: ReLU, global pool, classifier."""

    def __init__(self, classifier: nn.Linear) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        out = torch.relu(feats)
        out = torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1)
        return self.classifier(out)


def build_densenet() -> Any:
    """torchxrayvision's DenseNet-121 with random weights (no download)."""
    import torchxrayvision as xrv  # type: ignore[import-untyped]

    return xrv.models.DenseNet(weights=None, num_classes=len(XRV_LABELS), op_threshs=None)


def weights_name(info: ModelInfo) -> str:
    """``xrv-densenet121-all`` -> ``all``."""
    return info.name.removeprefix("xrv-densenet121-")


def load_xrv_densenet(
    info: ModelInfo,
    weights_dir: Path,
    device: str = "cpu",
    *,
    checksums: Path | None = None,
) -> TorchTask:
    """Build the DenseNet and fill it from ``weights_dir`` (see the module docstring).

    Raises
    ------
    WeightsError
        Neither file present (the message names both and the directory), a corrupt
        file, a checksum not listed or not matching, or weights of another network.
    """
    checksums = checksums or _weights.CHECKSUMS_FILE
    filename = XRV_WEIGHTS.get(weights_name(info))
    if filename is None:
        raise WeightsError(f"{info.name}: unknown torchxrayvision weights {weights_name(info)!r}")
    path = Path(weights_dir) / filename
    converted = path.with_name(path.name + ".state.pt")
    if not converted.is_file() and not path.is_file():
        raise WeightsError(
            f"weights for {info.name} not found: copy {filename} (torchxrayvision's "
            f"release file) or {converted.name} into {Path(weights_dir).resolve()} "
            "(MARKIT_WEIGHTS_DIR)"
        )
    state, source = read_weights_state(path, checksums)
    state = {k: v for k, v in state.items() if k != "op_threshs"}
    model = build_densenet()
    apply_state_dict(model, state, source, ARCH)
    activation = _activation(weights_name(info))
    return TorchTask(info, model.features, _DenseNetHead(model.classifier), activation, device)


def convert_to_state_dict(path: Path, *, checksums: Path | None = None) -> Path:
    """Turn a checked, pickled torchxrayvision file into ``<file>.state.pt`` (a plain state dict).

    After conversion the pickle is no longer needed and can be removed; the state dict
    is read with ``weights_only=True``.
    """
    state = load_pickled_model_state(path, checksums or _weights.CHECKSUMS_FILE)
    state = {k: v for k, v in state.items() if k != "op_threshs"}
    apply_state_dict(build_densenet(), state, path, ARCH)
    out = path.with_name(path.name + ".state.pt")
    tmp = out.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(out)
    return out


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    import torchxrayvision as xrv

    threshs = xrv.models.model_urls.get(name, {}).get("op_threshs")
    if threshs is None:
        return torch.sigmoid
    op = torch.tensor(threshs, dtype=torch.float32)

    def calibrated(z: torch.Tensor) -> torch.Tensor:
        out = xrv.models.op_norm(torch.sigmoid(z), op.to(z.device))
        return torch.nan_to_num(out, nan=0.5)  # labels a dataset lacks

    return calibrated
