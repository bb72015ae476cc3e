"""torchxrayvision's view, sex and age baselines through MarkIt's real loaders.

Each test builds the architecture the release file holds, saves weights in the
release file's format (plain state dict, Lightning checkpoint pickle,
TorchScript), then checks that MarkIt's task gives the same outputs as
torchxrayvision's own class reading the same file (pointed at it through
``HOME``, so nothing is downloaded), and that unlisted, corrupt or foreign files
are refused with a message naming the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from markit_core.inference import registry
from markit_core.inference.catalog import XRV_BASELINE_FILES
from markit_core.inference.errors import WeightsError
from markit_core.inference.weights import sha256_of
from markit_core.inference.xrv_baselines import load_xrv_baseline

xrv = pytest.importorskip("torchxrayvision")


class ToySenet(nn.Module):
    """SE-Net's layout (pretrainedmodels' names), small: what the RIKEN archive scripts."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()
            )

        self.layer0 = block(3, 8, 2)
        self.layer1 = block(8, 8, 1)
        self.layer2 = block(8, 12, 2)
        self.layer3 = block(12, 12, 2)
        self.layer4 = block(12, 16, 2)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.last_linear = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.layer0(x)))))
        x = self.avg_pool(x)
        return self.last_linear(x.view(x.size(0), -1))


def _info(name: str):
    return registry.entry(name).info


def _home(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """torchxrayvision reads its files from ~/.torchxrayvision/models_data."""
    monkeypatch.setenv("HOME", str(tmp))
    folder = tmp / ".torchxrayvision" / "models_data"
    folder.mkdir(parents=True)
    return folder


def _listed(folder: Path, *names: str) -> Path:
    sums = folder / "weights.sha256"
    sums.write_text("".join(f"{sha256_of(folder / n)}  {n}\n" for n in names))
    return sums


def _inputs(size: int) -> np.ndarray:
    return np.random.default_rng(3).uniform(-1024, 1024, (2, 1, size, size)).astype(np.float32)


def test_view_model_equals_torchxrayvision(tmp_path: Path, monkeypatch) -> None:
    folder = _home(tmp_path, monkeypatch)
    torch.manual_seed(1)
    resnet = torchvision.models.resnet50(weights=None)
    name = XRV_BASELINE_FILES["xrv-view-xinario"]
    torch.save(resnet.state_dict(), folder / name)  # the release is a plain state dict
    task = load_xrv_baseline(_info("xrv-view-xinario"), folder, checksums=tmp_path / "none")
    x = _inputs(224)
    with torch.no_grad():
        expected = torch.softmax(xrv.baseline_models.xinario.ViewModel()(torch.from_numpy(x)), 1)
    out = task(x)
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out[:, 0], expected[:, 1].numpy(), rtol=1e-4, atol=1e-5)
    outputs, cams = task.explain(x[0], [0])
    np.testing.assert_allclose(outputs, out[0], rtol=1e-4, atol=1e-5)
    assert cams.shape == (1, 224, 224) and cams.min() >= 0 and cams.max() <= 1


def _sex_checkpoint(folder: Path) -> nn.Module:
    torch.manual_seed(2)
    resnet = torchvision.models.resnet34(weights=None)
    resnet.fc = nn.Linear(resnet.fc.in_features, 2)
    checkpoint = {
        "epoch": 13,
        "state_dict": {f"model.{k}": v for k, v in resnet.state_dict().items()},
        "hyper_parameters": argparse.Namespace(lr=1e-3),  # what makes Lightning files pickles
    }
    torch.save(checkpoint, folder / XRV_BASELINE_FILES["xrv-sex-mira"])
    return resnet


def test_sex_checkpoint_equals_torchxrayvision_and_needs_its_checksum(
    tmp_path: Path, monkeypatch
) -> None:
    folder = _home(tmp_path, monkeypatch)
    _sex_checkpoint(folder)
    info = _info("xrv-sex-mira")
    with pytest.raises(WeightsError, match="is not listed"):
        load_xrv_baseline(info, folder, checksums=_listed(folder))
    task = load_xrv_baseline(info, folder, checksums=_listed(folder, XRV_BASELINE_FILES[info.name]))
    x = _inputs(224)
    with torch.no_grad():
        expected = torch.softmax(xrv.baseline_models.mira.SexModel()(torch.from_numpy(x)), 1)
    np.testing.assert_allclose(task(x)[:, 0], expected[:, 1].numpy(), rtol=1e-4, atol=1e-5)


def test_age_torchscript_equals_torchxrayvision(tmp_path: Path, monkeypatch) -> None:
    folder = _home(tmp_path, monkeypatch)
    torch.manual_seed(4)
    name = XRV_BASELINE_FILES["xrv-age-riken"]
    net = ToySenet().eval()
    with torch.no_grad():
        net.last_linear.bias.fill_(55.0)  # an age-like output
    torch.jit.script(net).save(str(folder / name))
    info = _info("xrv-age-riken")
    with pytest.raises(WeightsError, match="is not listed"):
        load_xrv_baseline(info, folder, checksums=_listed(folder))
    task = load_xrv_baseline(info, folder, checksums=_listed(folder, name))
    x = _inputs(320)
    with torch.no_grad():
        expected = xrv.baseline_models.riken.AgeModel()(torch.from_numpy(x)).numpy()
    out = task(x)
    assert out.shape == (2, 1) and info.task_type == "regression" and info.units == "years"
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    outputs, cams = task.explain(x[1], [0])
    np.testing.assert_allclose(outputs, out[1], rtol=1e-4, atol=1e-4)
    assert cams.shape == (1, 320, 320)


def test_foreign_torchscript_is_refused_with_what_it_lacks(tmp_path: Path) -> None:
    name = XRV_BASELINE_FILES["xrv-age-riken"]
    torch.jit.script(nn.Sequential(nn.Conv2d(3, 1, 1))).save(str(tmp_path / name))
    with pytest.raises(WeightsError, match=r"lacks the SE-Net parts layer0"):
        load_xrv_baseline(_info("xrv-age-riken"), tmp_path, checksums=_listed(tmp_path, name))


def test_corrupt_and_wrong_files_name_the_file(tmp_path: Path) -> None:
    info = _info("xrv-view-xinario")
    name = XRV_BASELINE_FILES[info.name]
    with pytest.raises(WeightsError, match=f"copy {name}") as err:
        load_xrv_baseline(info, tmp_path)
    assert str(tmp_path) in str(err.value)
    (tmp_path / name).write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(WeightsError, match=name):
        load_xrv_baseline(info, tmp_path, checksums=_listed(tmp_path))
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / name)
    with pytest.raises(WeightsError, match=r"is not for ResNet-50"):
        load_xrv_baseline(info, tmp_path)


def test_the_registry_lists_the_three_baselines_per_paper_task() -> None:
    tasks = {name: _info(name).task for name in XRV_BASELINE_FILES}
    assert tasks == {"xrv-view-xinario": "view", "xrv-sex-mira": "sex", "xrv-age-riken": "age"}
    for name in XRV_BASELINE_FILES:
        found = registry.entry(name)
        assert found.external_weights and found.weights_file == XRV_BASELINE_FILES[name]
