"""MarkIt's tensors on the Open Inference Protocol: (de)serialisation, config, the runtime.

Requests and responses go through real JSON text (``json.dumps`` / ``loads``), so what is
checked is what travels. The runtime is MLServer's own ``MLModel`` machinery built from the
``model-settings.json`` that ``write_serve_config`` writes, run without the HTTP server.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from markit_core.errors import ValidationError
from markit_core.inference import registry
from markit_core.inference.serving.config import (
    ServedModel,
    select_models,
    server_settings,
    write_serve_config,
)
from markit_core.inference.serving.protocol import (
    ProtocolError,
    check_metadata,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    metadata_tensors,
    model_path,
)


def _wire(body: object) -> object:
    return json.loads(json.dumps(body))


@pytest.fixture
def info():
    return registry.entry("demo-pathologies", "1").info


def _batch(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 128, 128), dtype=np.float32)
    x[0, 0, 0, :4] = [0.0, 1.0, np.float32(1e-38), np.float32(0.1)]  # awkward float32s
    return x


def test_request_round_trip_is_exact(info) -> None:
    x = _batch(3)
    images, labels = decode_request(_wire(encode_request(x)), info)
    assert images.dtype == np.float32 and np.array_equal(images, x) and labels == []
    images, labels = decode_request(_wire(encode_request(x[:1], ["pneumonia"])), info)
    assert np.array_equal(images, x[:1]) and labels == ["pneumonia"]


def test_response_round_trip_is_exact(info) -> None:
    rng = np.random.default_rng(1)
    outputs = rng.random((1, 7), dtype=np.float32)
    cams = rng.random((2, 128, 128), dtype=np.float32)
    got, got_cams = decode_response(_wire(encode_response(info, outputs, cams)), info, 1, 2)
    assert np.array_equal(got, outputs) and np.array_equal(got_cams, cams)
    got, none = decode_response(_wire(encode_response(info, outputs)), info, 1)
    assert np.array_equal(got, outputs) and none is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["inputs"].pop(0), "no 'image' input"),
        (lambda b: b["inputs"][0].update(shape=[1, 1, 64, 64]), "has 16384 values for shape"),
        (lambda b: b["inputs"][0].update(datatype="INT8"), "expected FP32"),
        (lambda b: b["inputs"][0]["data"].__setitem__(5, "x"), "not numbers"),
        (lambda b: b["inputs"][0]["data"].__setitem__(5, None), "not numbers"),
        (lambda b: b["inputs"][1].update(data=["no such"]), "has no label 'no such'"),
        (lambda b: b.update(inputs="x"), "must be a list"),
    ],
)
def test_bad_requests_say_what_is_wrong(info, mutate, message) -> None:
    body = _wire(encode_request(_batch(1), ["pneumonia"]))
    mutate(body)
    with pytest.raises(ProtocolError, match=message):
        decode_request(body, info)


def test_wrong_input_size_and_batched_cams_are_refused(info) -> None:
    small = {"inputs": [{"name": "image", "shape": [1, 1, 2, 2], "datatype": "FP32",
                         "data": [0.0] * 4}]}  # fmt: skip
    with pytest.raises(ProtocolError, match=r"takes 'image' of shape \(N, 1, 128, 128\)"):
        decode_request(small, info)
    body = _wire(encode_request(_batch(2)))
    body["inputs"].append({"name": "cam_labels", "shape": [1], "datatype": "BYTES",
                           "data": ["pneumonia"]})  # fmt: skip
    with pytest.raises(ProtocolError, match="one image, got 2"):
        decode_request(body, info)
    with pytest.raises(ProtocolError, match="one image"):
        encode_request(_batch(2), ["pneumonia"])


def test_bad_responses_are_refused(info) -> None:
    outputs = np.zeros((1, 7), np.float32)
    with pytest.raises(ProtocolError, match=r"expected \[2, 7\]"):
        decode_response(_wire(encode_response(info, outputs)), info, 2)
    with pytest.raises(ProtocolError, match="no 'cams' tensor"):
        decode_response(_wire(encode_response(info, outputs)), info, 1, 1)
    nan = _wire(encode_response(info, outputs))
    nan["outputs"][0]["data"][3] = None  # how MLServer writes NaN
    with pytest.raises(ProtocolError, match="not numbers"):
        decode_response(nan, info, 1)
    with pytest.raises(ProtocolError, match="not a JSON object"):
        decode_response(["x"], info, 1)
    with pytest.raises(ProtocolError, match="NaN"):
        encode_response(info, np.full((1, 7), np.nan, np.float32))


def test_metadata_must_match_the_registered_version(info) -> None:
    meta = {"name": info.name, **_wire(metadata_tensors(info))}
    check_metadata(meta, info)
    meta["outputs"][0]["parameters"]["labels"][0] = "something else"
    with pytest.raises(ProtocolError, match="has labels"):
        check_metadata(meta, info)
    other = registry.entry("xrv-densenet121-all").info
    with pytest.raises(ProtocolError, match=r"of shape \[-1, 1, 128, 128\].*\[-1, 1, 224, 224\]"):
        check_metadata({"name": info.name, **metadata_tensors(info)}, other)


def test_model_path_quotes_names() -> None:
    assert model_path("demo-view", "1") == "/v2/models/demo-view/versions/1"
    assert model_path("a/b c", "1?x") == "/v2/models/a%2Fb%20c/versions/1%3Fx"


def test_serve_config_files(tmp_path) -> None:
    from mlserver.settings import ModelSettings, Settings  # the server's own validation

    served, skipped = select_models([], tmp_path / "weights")
    keys = {s.entry.info.key for s in served}
    assert {"demo-pathologies@1", "demo-age@1", "demo-view@1", "demo-sex@1"} <= keys
    assert any(r.startswith("xrv-densenet121-all@1: no ") for r in skipped)  # no weights here
    written = write_serve_config(tmp_path / "repo", served, http_port=9001, grpc_port=9002)
    assert len(written) == len(served) + 1
    server = Settings.model_validate(json.loads((tmp_path / "repo/settings.json").read_text()))
    assert (server.host, server.http_port, server.grpc_port) == ("127.0.0.1", 9001, 9002)
    assert server.metrics_endpoint is None and server.parallel_workers == 0
    raw = json.loads((tmp_path / "repo/demo-age-1/model-settings.json").read_text())
    model = ModelSettings.model_validate({**raw, "_source": str(tmp_path / "repo/demo-age-1")})
    assert model.name == "demo-age" and model.parameters.version == "1"
    assert model.parameters.extra["model"] == "demo-age"


def test_serve_config_refusals(tmp_path) -> None:
    with pytest.raises(ValidationError, match="ports must differ"):
        server_settings("127.0.0.1", 9000, 9000)
    with pytest.raises(ValidationError, match="port must be 1..65535"):
        server_settings("127.0.0.1", 0, 9000)
    with pytest.raises(ValidationError, match="cannot serve xrv-densenet121-all@1"):
        select_models(["xrv-densenet121-all"], tmp_path)
    age = [ServedModel(registry.entry("demo-age"))]
    write_serve_config(tmp_path / "repo", age)
    view = [ServedModel(registry.entry("demo-view"))]
    with pytest.raises(ValidationError, match=r"already serves other models \(demo-age-1\)"):
        write_serve_config(tmp_path / "repo", view)


def test_runtime_answers_like_the_in_process_model(tmp_path, info) -> None:
    """MLServer's MLModel built from the written settings, fed real InferenceRequests."""
    from mlserver.errors import MLServerError
    from mlserver.settings import ModelSettings
    from mlserver.types import InferenceRequest

    from markit_core.inference.serving.runtime import MarkitRuntime

    write_serve_config(tmp_path, [ServedModel(registry.entry(info.name))], device="cpu")
    folder = tmp_path / "demo-pathologies-1"
    raw = json.loads((folder / "model-settings.json").read_text())
    runtime = MarkitRuntime(ModelSettings.model_validate({**raw, "_source": str(folder)}))
    assert asyncio.run(runtime.load())
    local = registry.get(info.name, info.version, device="cpu")
    x = _batch(2, seed=5)
    answer = asyncio.run(runtime.predict(InferenceRequest.model_validate(encode_request(x))))
    outputs, _ = decode_response(_wire(answer.model_dump()), info, 2)
    np.testing.assert_allclose(outputs, local(x), rtol=1e-6, atol=1e-7)
    labels = ["pneumonia", "cardiomegaly"]
    request = InferenceRequest.model_validate(encode_request(x[:1], labels))
    answer = asyncio.run(runtime.predict(request))
    outputs, cams = decode_response(_wire(answer.model_dump()), info, 1, 2)
    want_out, want_cams = local.explain(x[0], [info.labels.index(lb) for lb in labels])
    np.testing.assert_allclose(outputs[0], want_out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(cams, want_cams, atol=1e-6)
    meta = asyncio.run(runtime.metadata()).model_dump()
    check_metadata(_wire(meta), info)
    bad = InferenceRequest.model_validate(encode_request(x[:1], ["no such"]))
    with pytest.raises(MLServerError, match="has no label 'no such'"):
        asyncio.run(runtime.predict(bad))


def test_serve_config_serves_a_trained_version(session, settings, make_user, make_project,
                                               monkeypatch, tmp_path) -> None:  # fmt: skip
    """``serve-config --trained`` reads the ``model_version`` row; the runtime re-registers it
    from those fields alone (no database on the server) and checks its SHA-256."""
    import torch
    from mlserver.settings import ModelSettings
    from mlserver.types import InferenceRequest

    from markit_core.cli import main
    from markit_core.inference.cnn import ChestCNN, load_project_cnn
    from markit_core.inference.errors import WeightsError
    from markit_core.inference.serving.runtime import MarkitRuntime
    from markit_core.inference.weights import sha256_of
    from markit_core.models import ModelVersion
    from tests.apptest_helpers import point_app_at

    project = make_project("Trained here", make_user("owner"))
    weights = settings.data_dir / "trained" / "chest-1.pt"
    weights.parent.mkdir(parents=True)
    torch.manual_seed(3)
    torch.save(ChestCNN(2).state_dict(), weights)
    name = f"project-{project.id}-pathologies"
    session.add(
        ModelVersion(project_id=project.id, model_name=name, version="1", task="pathologies",
                     labels=["effusion", "pneumothorax"], weights_path="trained/chest-1.pt",
                     weights_sha256=sha256_of(weights))
    )  # fmt: skip
    session.commit()
    point_app_at(settings, monkeypatch)
    try:
        assert main(["serve-config", str(tmp_path / "repo"), "--trained", "--model", name]) == 0
        folder = tmp_path / "repo" / f"{name}-1"
        raw = json.loads((folder / "model-settings.json").read_text())
        assert raw["parameters"]["extra"]["trained"]["weights_path"] == str(weights.resolve())
        registry.unregister(name, "1")  # the server registers it from the file's fields
        runtime = MarkitRuntime(ModelSettings.model_validate({**raw, "_source": str(folder)}))
        assert asyncio.run(runtime.load())
        info = registry.entry(name, "1").info
        assert info.labels == ("effusion", "pneumothorax")
        x = _batch(2, seed=9)
        answer = asyncio.run(runtime.predict(InferenceRequest.model_validate(encode_request(x))))
        outputs, _ = decode_response(_wire(answer.model_dump()), info, 2)
        local = load_project_cnn(info, weights, "cpu")
        np.testing.assert_allclose(outputs, local(x), rtol=1e-6, atol=1e-7)
        weights.write_bytes(weights.read_bytes()[:-8] + b"tampered")
        registry.clear_cache()
        with pytest.raises(WeightsError, match="SHA-256 does not match"):
            asyncio.run(MarkitRuntime(runtime._settings).load())
    finally:
        registry.unregister(name, "1")
        registry.clear_cache()
