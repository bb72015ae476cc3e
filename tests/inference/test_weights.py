"""Weight loading through the real loaders: good, corrupt, wrong checksum, wrong architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from markit_core.inference import registry
from markit_core.inference.catalog import XRV_LABELS, XRV_WEIGHTS
from markit_core.inference.cnn import ChestCNN, load_project_cnn
from markit_core.inference.errors import WeightsError
from markit_core.inference.weights import read_checksums, sha256_of
from markit_core.inference.xrv import build_densenet, convert_to_state_dict, load_xrv_densenet

NIH = XRV_WEIGHTS["nih"]


@pytest.fixture(scope="module")
def densenet_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, torch.nn.Module]:
    """A weights dir holding a pickled DenseNet-121 (like torchxrayvision's files) + its list."""
    wdir = tmp_path_factory.mktemp("weights")
    torch.manual_seed(5)
    model = build_densenet()
    with torch.no_grad():  # non-trivial classifier so outputs differ per label
        model.classifier.bias.copy_(torch.linspace(-2, 2, len(XRV_LABELS)))
    torch.save(model, wdir / NIH)  # a pickled model object, as published
    sums = wdir / "weights.sha256"
    sums.write_text(f"# test list\n{sha256_of(wdir / NIH)}  {NIH}\n")
    return wdir, sums, model


def _info(name: str = "xrv-densenet121-nih"):
    return registry.entry(name).info


def test_good_pickled_file_loads_and_predicts(densenet_dir) -> None:
    wdir, sums, model = densenet_dir
    task = load_xrv_densenet(_info(), wdir, checksums=sums)
    x = np.random.default_rng(0).uniform(-1024, 1024, (2, 1, 224, 224)).astype(np.float32)
    out = task(x)
    assert out.shape == (2, 18) and out.dtype == np.float32
    assert np.all((out >= 0) & (out <= 1)) and np.ptp(out[0]) > 0.05
    # the weights are really the saved ones: torchxrayvision's own forward gives the same
    import torchxrayvision as xrv

    model.op_threshs = torch.tensor(xrv.models.model_urls["nih"]["op_threshs"])
    with torch.no_grad():
        expected = model.eval()(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(out, np.nan_to_num(expected, nan=0.5), atol=1e-5)
    outputs, cams = task.explain(x[0], [0, 7])
    np.testing.assert_allclose(outputs, out[0], atol=1e-5)
    assert cams.shape == (2, 224, 224) and cams.min() >= 0 and cams.max() <= 1


def test_missing_file_names_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as err:
        load_xrv_densenet(_info(), tmp_path)
    assert NIH in str(err.value) and str(tmp_path) in str(err.value)
    assert "MARKIT_WEIGHTS_DIR" in str(err.value)


def test_corrupt_file_is_refused_before_unpickling(densenet_dir, tmp_path: Path) -> None:
    wdir, _, _ = densenet_dir
    data = (wdir / NIH).read_bytes()
    (tmp_path / NIH).write_bytes(data[: len(data) // 3])
    sums = tmp_path / "list.sha256"
    sums.write_text(f"{sha256_of(wdir / NIH)}  {NIH}\n")  # the list has the good file's hash
    with pytest.raises(WeightsError, match="does not match .*corrupt or a different file") as err:
        load_xrv_densenet(_info(), tmp_path, checksums=sums)
    assert str(tmp_path) in str(err.value)
    # a corrupt file whose (wrong) hash someone listed still fails cleanly when unpickled
    sums.write_text(f"{sha256_of(tmp_path / NIH)}  {NIH}\n")
    with pytest.raises(WeightsError, match="cannot be unpickled"):
        load_xrv_densenet(_info(), tmp_path, checksums=sums)


def test_wrong_or_missing_checksum_is_refused(densenet_dir, tmp_path: Path) -> None:
    wdir, _, _ = densenet_dir
    wrong = tmp_path / "wrong.sha256"
    wrong.write_text(f"{'0' * 64}  {NIH}\n")
    with pytest.raises(WeightsError, match="SHA-256 is [0-9a-f]{64}, expected 0{64}"):
        load_xrv_densenet(_info(), wdir, checksums=wrong)
    unlisted = tmp_path / "unlisted.sha256"
    unlisted.write_text("# nothing listed\n")
    with pytest.raises(WeightsError, match="is not listed in"):
        load_xrv_densenet(_info(), wdir, checksums=unlisted)
    bad = tmp_path / "bad.sha256"
    bad.write_text("not a checksum line\n")
    with pytest.raises(WeightsError, match="line 1"):
        read_checksums(bad)


def test_wrong_architecture_is_refused(tmp_path: Path) -> None:
    other = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Linear(4, 18))
    torch.save(other, tmp_path / NIH)
    sums = tmp_path / "list.sha256"
    sums.write_text(f"{sha256_of(tmp_path / NIH)}  {NIH}\n")
    with pytest.raises(WeightsError, match="is not for torchxrayvision DenseNet-121") as err:
        load_xrv_densenet(_info(), tmp_path, checksums=sums)
    assert NIH in str(err.value) and str(tmp_path) in str(err.value)


def test_converted_state_dict_loads_with_weights_only(densenet_dir, tmp_path: Path) -> None:
    wdir, sums, _ = densenet_dir
    (tmp_path / NIH).write_bytes((wdir / NIH).read_bytes())
    converted = convert_to_state_dict(tmp_path / NIH, checksums=sums)
    (tmp_path / NIH).unlink()  # the pickle is no longer needed
    state = torch.load(converted, weights_only=True)
    assert "classifier.weight" in state
    task = load_xrv_densenet(_info(), tmp_path, checksums=sums)
    reference = load_xrv_densenet(_info(), wdir, checksums=sums)
    x = np.zeros((1, 1, 224, 224), np.float32)
    np.testing.assert_allclose(task(x), reference(x), atol=1e-6)


def test_registry_reads_the_weights_dir_once_per_process(densenet_dir, monkeypatch) -> None:
    wdir, sums, _ = densenet_dir
    monkeypatch.setattr("markit_core.inference.weights.CHECKSUMS_FILE", sums)
    registry.clear_cache()
    try:
        task = registry.get("xrv-densenet121-nih", weights_dir=wdir)
        assert registry.get("xrv-densenet121-nih", "1", weights_dir=str(wdir)) is task
        assert task.info().labels == XRV_LABELS and task.info().input.size == (224, 224)
        with pytest.raises(WeightsError, match="not found") as err:
            registry.get("xrv-densenet121-all", weights_dir=wdir)
        assert XRV_WEIGHTS["all"] in str(err.value)
    finally:
        registry.clear_cache()


def test_project_cnn_loader_checks(tmp_path: Path) -> None:
    info = registry.entry("demo-view").info
    path = tmp_path / "view.pt"
    torch.save(ChestCNN(1).state_dict(), path)
    task = load_project_cnn(info, path)
    assert task(np.zeros((3, 1, 128, 128), np.float32)).shape == (3, 1)
    with pytest.raises(WeightsError, match="is not for the MarkIt chest CNN with 7 outputs"):
        load_project_cnn(registry.entry("demo-pathologies").info, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError, match="cannot be read"):
        load_project_cnn(info, path)
    torch.save({"model": "not weights"}, path)
    with pytest.raises(WeightsError, match="holds no state dict"):
        load_project_cnn(info, path)
    sums = tmp_path / "s.sha256"
    sums.write_text(f"{'a' * 64}  view.pt\n")
    with pytest.raises(WeightsError, match="does not match"):
        load_project_cnn(info, path, checksums=sums)
