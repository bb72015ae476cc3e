"""torchxrayvision's view, sex and age baselines, filled from files an administrator copies in.

torchxrayvision ships code for three single-task chest X-ray models whose
constructors download their weights: ``baseline_models.xinario.ViewModel``
(ResNet-50, frontal vs lateral), ``baseline_models.mira.SexModel`` (ResNet-34,
male vs female) and ``baseline_models.riken.AgeModel`` (SE-Net-154 as a
TorchScript archive, age in years). MarkIt rebuilds the same networks and the
same input handling (its ``forward``: 1 channel repeated to 3, the [-1024, 1024]
range mapped to what each network was trained on) from files in
``MARKIT_WEIGHTS_DIR``, never downloading:

* view: a plain state dict, read with ``weights_only=True``;
* sex: a PyTorch Lightning checkpoint (a pickle): unpickled only when its SHA-256
  is listed in ``models/weights.sha256``, or read as ``<file>.state.pt`` after
  :func:`markit_core.inference.xrv.convert_to_state_dict`-style conversion;
* age: TorchScript, which carries its own code: loaded only when listed.

Two-class outputs become MarkIt binary tasks: the logit difference of the
positive and the negative class, so the sigmoid equals torchxrayvision's softmax
of the positive class and Grad-CAM explains that class against the other.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from markit_core.inference import weights as _weights
from markit_core.inference.base import ModelInfo
from markit_core.inference.catalog import XRV_BASELINE_FILES
from markit_core.inference.errors import WeightsError
from markit_core.inference.torch_task import TorchTask
from markit_core.inference.weights import (
    apply_state_dict,
    read_weights_state,
    verify_checksum,
)

__all__ = ["BASELINES", "Baseline", "load_xrv_baseline"]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_SENET_LAYERS = ("layer0", "layer1", "layer2", "layer3", "layer4")


@dataclass(frozen=True)
class Baseline:
    """One torchxrayvision baseline: its release file and how MarkIt rebuilds it."""

    filename: str
    arch: str
    size: int  # the network's native input resolution
    imagenet_norm: bool  # ImageNet mean/std after [0, 1] (else scaled to [0, 255])
    positive: int | None  # class index of the binary label; None: regression


BASELINES: dict[str, Baseline] = {
    "xrv-view-xinario": Baseline(
        XRV_BASELINE_FILES["xrv-view-xinario"], "ResNet-50 (xinario view)", 224, True, 1
    ),
    "xrv-sex-mira": Baseline(
        XRV_BASELINE_FILES["xrv-sex-mira"], "ResNet-34 (MIRA sex)", 224, False, 1
    ),
    "xrv-age-riken": Baseline(
        XRV_BASELINE_FILES["xrv-age-riken"],
        "SE-Net-154 TorchScript (RIKEN age)",
        320,
        True,
        None,
    ),
}


class _XrvToRgb(nn.Module):
    """torchxrayvision's baseline input handling: [-1024, 1024] grey -> the network's RGB."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, imagenet_norm: bool) -> None:
        super().__init__()
        self.imagenet_norm = imagenet_norm
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.repeat(1, 3, 1, 1) + 1024) / 2048
        if self.imagenet_norm:
            return (x - self.mean) / self.std
        return x * 255


class _PositiveVsNegative(nn.Module):
    """Two logits -> one: positive minus negative (sigmoid of it = softmax of the positive)."""

    def __init__(self, positive: int) -> None:
        super().__init__()
        self.positive = positive

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z[:, self.positive] - z[:, 1 - self.positive]).unsqueeze(1)


def _resnet_halves(resnet: Any, prep: nn.Module, out: nn.Module) -> tuple[nn.Module, nn.Module]:
    features = nn.Sequential(
        prep, resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
        resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4,
    )  # fmt: skip
    head = nn.Sequential(resnet.avgpool, nn.Flatten(1), resnet.fc, out)
    return features, head


class _FirstTwo(nn.Module):
    """xinario's ResNet-50 keeps ImageNet's 1000 outputs; the first two are the classes."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z[:, :2]


def _view_halves(path: Path, base: Baseline, checksums: Path) -> tuple[nn.Module, nn.Module]:
    import torchvision  # type: ignore[import-untyped]

    resnet = torchvision.models.resnet50(weights=None)
    state, source = read_weights_state(path, checksums)
    apply_state_dict(resnet, state, source, base.arch)
    out = nn.Sequential(_FirstTwo(), _PositiveVsNegative(1))
    return _resnet_halves(resnet, _XrvToRgb(base.imagenet_norm), out)


def _lightning_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A Lightning checkpoint's ``model.``-prefixed keys, as the bare network's keys."""
    return {k.removeprefix("model."): v for k, v in state.items()}


def _sex_halves(path: Path, base: Baseline, checksums: Path) -> tuple[nn.Module, nn.Module]:
    import torchvision

    resnet = torchvision.models.resnet34(weights=None)
    resnet.fc = nn.Linear(resnet.fc.in_features, 2)
    state, source = read_weights_state(path, checksums)
    apply_state_dict(resnet, _lightning_state(state), source, base.arch)
    return _resnet_halves(resnet, _XrvToRgb(base.imagenet_norm), _PositiveVsNegative(1))


class _SenetHead(nn.Module):
    """SE-Net's ``logits``: average pool, flatten, last linear layer (dropout is off in eval)."""

    def __init__(self, scripted: Any) -> None:
        super().__init__()
        self.avg_pool = scripted.avg_pool
        self.last_linear = scripted.last_linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_linear(torch.flatten(self.avg_pool(x), 1))


def _age_halves(path: Path, base: Baseline, checksums: Path) -> tuple[nn.Module, nn.Module]:
    verify_checksum(path, checksums)  # TorchScript carries code: only a listed file loads
    try:
        with warnings.catch_warnings():  # TorchScript is the release's format: no choice
            warnings.simplefilter("ignore", FutureWarning)
            scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # torch raises several types for bad archives
        raise WeightsError(
            f"weights file {path.name} in {path.parent} is not a TorchScript archive: "
            f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
        ) from e
    children = {name for name, _ in scripted.named_children()}
    missing = [n for n in (*_SENET_LAYERS, "avg_pool", "last_linear") if n not in children]
    if missing:
        raise WeightsError(
            f"weights file {path.name} in {path.parent} is not {base.arch}: "
            f"it lacks the SE-Net parts {', '.join(missing)}"
        )
    layers = [getattr(scripted, n) for n in _SENET_LAYERS]
    features = nn.Sequential(_XrvToRgb(base.imagenet_norm), *layers)
    return features, _SenetHead(scripted)


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


_Halves = Callable[[Path, Baseline, Path], tuple[nn.Module, nn.Module]]
_BUILDERS: dict[str, _Halves] = {
    "xrv-view-xinario": _view_halves,
    "xrv-sex-mira": _sex_halves,
    "xrv-age-riken": _age_halves,
}


def load_xrv_baseline(
    info: ModelInfo,
    weights_dir: Path,
    device: str = "cpu",
    *,
    checksums: Path | None = None,
) -> TorchTask:
    """Rebuild a torchxrayvision baseline and fill it from ``weights_dir`` (see the module).

    Raises
    ------
    WeightsError
        The file is missing (the message names it and the directory), corrupt, not listed
        or not matching its checksum (pickles and TorchScript), or for another network.
    """
    base = BASELINES.get(info.name)
    if base is None:
        raise WeightsError(f"{info.name}: not a torchxrayvision baseline MarkIt knows")
    checksums = checksums or _weights.CHECKSUMS_FILE
    path = Path(weights_dir) / base.filename
    converted = path.with_name(path.name + ".state.pt")
    if not path.is_file() and not converted.is_file():
        raise WeightsError(
            f"weights for {info.name} not found: copy {base.filename} (torchxrayvision's "
            f"release file) into {Path(weights_dir).resolve()} (MARKIT_WEIGHTS_DIR)"
        )
    features, head = _BUILDERS[info.name](path, base, checksums)
    activation = _identity if base.positive is None else torch.sigmoid
    return TorchTask(info, features, head, activation, device)
