"""MarkIt's tensors on the Open Inference Protocol (KServe v2 REST), as plain JSON dicts.

Both sides use these functions: the client (:mod:`markit_core.inference.remote`, plain
``requests``) and the MLServer runtime (:mod:`markit_core.inference.serving.runtime`), so
what one writes the other reads. No mlserver import here: the app host does not need it.

A request carries ``image``, the preprocessed batch ``(N, C, H, W)`` FP32 (the client
preprocesses exactly as in process, so the model sees the same numbers), and optionally
``cam_labels`` (BYTES ``[K]``, label names; then ``N`` must be 1). The response carries
``outputs`` ``(N, L)`` FP32 and, when labels were asked for, ``cams`` ``(K, H, W)`` FP32.
Floats travel as JSON numbers: a float32 written as its exact double and read back is
the same float32, so nothing is lost on the way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np

from markit_core.inference.base import ModelInfo

IMAGE = "image"
CAM_LABELS = "cam_labels"
OUTPUTS = "outputs"
CAMS = "cams"
_FLOAT_TYPES = ("FP32", "FP64", "FP16")


class ProtocolError(ValueError):
    """A request or response that does not follow MarkIt's tensor layout (says what is wrong)."""


def model_path(name: str, version: str) -> str:
    """``/v2/models/{name}/versions/{version}`` with both parts URL-quoted."""
    return f"/v2/models/{quote(name, safe='')}/versions/{quote(version, safe='')}"


def _tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    data = np.asarray(array, dtype=np.float32)
    if not np.isfinite(data).all():
        raise ProtocolError(f"tensor {name!r} holds NaN or infinite values")
    return {
        "name": name,
        "shape": list(data.shape),
        "datatype": "FP32",
        "data": data.ravel().tolist(),  # exact doubles of the float32 values
    }


def _strings(name: str, values: Sequence[str]) -> dict[str, Any]:
    return {"name": name, "shape": [len(values)], "datatype": "BYTES", "data": list(values)}


def encode_request(images: np.ndarray, cam_labels: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON body of an infer request for a batch ``(N, C, H, W)`` (and Grad-CAM labels)."""
    batch = np.asarray(images, dtype=np.float32)
    if batch.ndim != 4:
        raise ProtocolError(f"{IMAGE!r} must be (N, C, H, W), got shape {batch.shape}")
    if cam_labels and batch.shape[0] != 1:
        raise ProtocolError(f"Grad-CAM maps are made for one image, got {batch.shape[0]}")
    inputs = [_tensor(IMAGE, batch)]
    outputs = [{"name": OUTPUTS}]
    if cam_labels:
        inputs.append(_strings(CAM_LABELS, [str(lb) for lb in cam_labels]))
        outputs.append({"name": CAMS})
    return {"inputs": inputs, "outputs": outputs}


def _named(items: object, what: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(items, list):
        raise ProtocolError(f"{what} must be a list of tensors")
    out: dict[str, Mapping[str, Any]] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ProtocolError(f"every entry of {what} must be a tensor with a name")
        out[item["name"]] = item
    return out


def _shape(tensor: Mapping[str, Any]) -> tuple[int, ...]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ProtocolError(f"tensor {tensor.get('name')!r} has no valid shape: {shape!r}")
    return tuple(shape)


def _flat(data: object) -> list[Any]:
    if not isinstance(data, list):
        raise ProtocolError("tensor data must be a JSON array")
    if data and isinstance(data[0], list):
        return [v for row in data for v in _flat(row)]
    return data


def decode_floats(tensor: Mapping[str, Any]) -> np.ndarray:
    """A numeric tensor as float32 of its declared shape (checks type, size and values)."""
    name, shape = tensor.get("name"), _shape(tensor)
    if tensor.get("datatype") not in _FLOAT_TYPES:
        raise ProtocolError(f"tensor {name!r} is {tensor.get('datatype')!r}, expected FP32")
    data = _flat(tensor.get("data"))
    if len(data) != math.prod(shape):
        raise ProtocolError(f"tensor {name!r} has {len(data)} values for shape {list(shape)}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in data):
        raise ProtocolError(f"tensor {name!r} holds values that are not numbers (or NaN)")
    return np.asarray(data, dtype=np.float64).astype(np.float32).reshape(shape)


def decode_strings(tensor: Mapping[str, Any]) -> list[str]:
    """A BYTES tensor of UTF-8 strings (JSON strings, or bytes from a decoded payload)."""
    data = _flat(tensor.get("data"))
    out = []
    for v in data:
        if isinstance(v, bytes):
            v = v.decode("utf-8", errors="strict")
        if not isinstance(v, str):
            raise ProtocolError(f"tensor {tensor.get('name')!r} must hold strings")
        out.append(v)
    return out


def decode_request(body: Mapping[str, Any], info: ModelInfo) -> tuple[np.ndarray, list[str]]:
    """``(images (N, C, H, W), cam label names)`` of a request for the model ``info``."""
    inputs = _named(body.get("inputs"), "inputs")
    if IMAGE not in inputs:
        raise ProtocolError(f"the request has no {IMAGE!r} input (got {sorted(inputs)})")
    images = decode_floats(inputs[IMAGE])
    spec = info.input
    want = (spec.channels, *spec.size)
    if images.ndim != 4 or tuple(images.shape[1:]) != want or images.shape[0] < 1:
        raise ProtocolError(
            f"{info.key} takes {IMAGE!r} of shape (N, {want[0]}, {want[1]}, {want[2]}), "
            f"got {list(images.shape)}"
        )
    labels = decode_strings(inputs[CAM_LABELS]) if CAM_LABELS in inputs else []
    unknown = [lb for lb in labels if lb not in info.labels]
    if unknown:
        raise ProtocolError(f"{info.key} has no label {', '.join(map(repr, unknown))}")
    if labels and images.shape[0] != 1:
        raise ProtocolError(f"Grad-CAM maps are made for one image, got {images.shape[0]}")
    return images, labels


def encode_response(
    info: ModelInfo, outputs: np.ndarray, cams: np.ndarray | None = None
) -> dict[str, Any]:
    """The JSON body of the infer response (``model_name``, ``model_version``, tensors)."""
    tensors = [_tensor(OUTPUTS, outputs)]
    if cams is not None:
        tensors.append(_tensor(CAMS, cams))
    return {"model_name": info.name, "model_version": info.version, "outputs": tensors}


def decode_response(
    body: object, info: ModelInfo, n_images: int, n_cams: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(outputs (N, L), cams (K, H, W) or None)``, checked against what was asked."""
    if not isinstance(body, Mapping):
        raise ProtocolError("the response is not a JSON object")
    tensors = _named(body.get("outputs"), "outputs")
    if OUTPUTS not in tensors:
        raise ProtocolError(f"the response has no {OUTPUTS!r} tensor (got {sorted(tensors)})")
    outputs = decode_floats(tensors[OUTPUTS])
    if outputs.shape != (n_images, len(info.labels)):
        raise ProtocolError(
            f"{OUTPUTS!r} has shape {list(outputs.shape)}, expected "
            f"[{n_images}, {len(info.labels)}] for {info.key}"
        )
    if not n_cams:
        return outputs, None
    if CAMS not in tensors:
        raise ProtocolError(f"the response has no {CAMS!r} tensor")
    cams = decode_floats(tensors[CAMS])
    want = (n_cams, *info.input.size)
    if cams.shape != want:
        raise ProtocolError(f"{CAMS!r} has shape {list(cams.shape)}, expected {list(want)}")
    return outputs, cams


def metadata_tensors(info: ModelInfo) -> dict[str, list[dict[str, Any]]]:
    """The ``inputs`` / ``outputs`` a model's metadata declares (labels in the parameters)."""
    c, (h, w) = info.input.channels, info.input.size
    return {
        "inputs": [
            {"name": IMAGE, "datatype": "FP32", "shape": [-1, c, h, w]},
            {"name": CAM_LABELS, "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {
                "name": OUTPUTS,
                "datatype": "FP32",
                "shape": [-1, len(info.labels)],
                "parameters": {"labels": list(info.labels)},
            },
            {"name": CAMS, "datatype": "FP32", "shape": [-1, h, w]},
        ],
    }


def check_metadata(body: object, info: ModelInfo) -> None:
    """Refuse a served model whose input or labels differ from the registered version's."""
    if not isinstance(body, Mapping):
        raise ProtocolError("the model metadata is not a JSON object")
    want = metadata_tensors(info)
    inputs = _named(body.get("inputs") or [], "inputs")
    outputs = _named(body.get("outputs") or [], "outputs")
    got_in = inputs.get(IMAGE, {}).get("shape")
    if got_in != want["inputs"][0]["shape"]:
        raise ProtocolError(
            f"the served {info.key} takes {IMAGE!r} of shape {got_in}, this app sends "
            f"{want['inputs'][0]['shape']}"
        )
    params = outputs.get(OUTPUTS, {}).get("parameters") or {}
    labels = params.get("labels") if isinstance(params, Mapping) else None
    if labels != list(info.labels):
        raise ProtocolError(
            f"the served {info.key} has labels {labels}, this app expects {list(info.labels)}"
        )
