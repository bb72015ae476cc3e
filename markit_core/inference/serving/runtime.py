"""The MLServer runtime that serves one registered MarkIt model version.

``mlserver start DIR`` (with the folder :mod:`markit_core.inference.serving.config`
writes) builds one :class:`MarkitRuntime` per model version. It loads the version through
the SAME registry and loaders as the app process (checksums, ``weights_only`` reads,
trained versions re-registered from what their ``model_version`` row holds) and answers
infer requests with the same :class:`~markit_core.inference.torch_task.TorchTask`: the
outputs of a batch, or outputs plus Grad-CAM maps from one batched backward pass.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from mlserver import MLModel
from mlserver.errors import MLServerError
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
)

from markit_core.errors import MarkitError
from markit_core.inference import registry
from markit_core.inference.base import InferTask, ModelInfo
from markit_core.inference.serving.protocol import (
    ProtocolError,
    decode_request,
    encode_response,
    metadata_tensors,
)


class MarkitRuntime(MLModel):
    """One MarkIt model version behind the Open Inference Protocol.

    ``parameters.extra`` of its ``model-settings.json``: ``model`` and ``version`` (the
    registry key), ``weights_dir`` (``MARKIT_WEIGHTS_DIR`` on this host), ``device``
    (``cuda`` / ``cpu``, empty = CUDA when there is one) and, for a version trained by
    MarkIt, ``trained`` (its ``model_version`` row: labels, task, weights path and SHA-256).
    """

    async def load(self) -> bool:
        extra = _extra(self._settings)
        trained = extra.get("trained")
        if trained:
            _register_trained(trained)
        name, version = str(extra["model"]), str(extra["version"])
        weights_dir = extra.get("weights_dir") or None
        device = extra.get("device") or None
        self._task: InferTask = await asyncio.to_thread(
            registry.get, name, version, weights_dir=weights_dir, device=device
        )
        self._info: ModelInfo = self._task.info()
        return True

    async def metadata(self) -> MetadataModelResponse:
        tensors = metadata_tensors(self._info)
        return MetadataModelResponse.model_validate(
            {
                "name": self.name,
                "versions": [self._info.version],
                "platform": "markit-pytorch",
                **tensors,
                "parameters": {
                    "task_type": str(self._info.task_type),
                    "key": self._info.key,
                },
            }
        )

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        try:
            images, labels = decode_request(payload.model_dump(), self._info)
        except ProtocolError as e:
            raise MLServerError(str(e), status_code=400) from e
        try:
            body = await asyncio.to_thread(self._run, images, labels)
        except MarkitError as e:
            raise MLServerError(str(e), status_code=400) from e
        body["id"] = payload.id
        return InferenceResponse.model_validate(body)

    def _run(self, images: np.ndarray, labels: list[str]) -> dict[str, Any]:
        if not labels:
            return encode_response(self._info, self._task(images))
        indices = [self._info.labels.index(lb) for lb in labels]
        outputs, cams = self._task.explain(images[0], indices)
        return encode_response(self._info, np.asarray(outputs)[None], cams)


def _extra(settings: Any) -> dict[str, Any]:
    params = getattr(settings, "parameters", None)
    extra = dict(getattr(params, "extra", None) or {})
    missing = [k for k in ("model", "version") if not extra.get(k)]
    if missing:
        raise MLServerError(
            f"model {getattr(settings, 'name', '?')}: parameters.extra lacks {', '.join(missing)}"
        )
    return extra


def _register_trained(row: dict[str, Any]) -> None:
    """Register a MarkIt-trained version from its row's fields (weights checked on load)."""
    from markit_core.inference.training_run import registry_entry
    from markit_core.models import ModelVersion

    version = ModelVersion(
        project_id=int(row["project_id"]),
        model_name=str(row["model_name"]),
        version=str(row["version"]),
        task=str(row["task"]),
        labels=list(row["labels"]),
        weights_path=str(Path(row["weights_path"]).resolve()),
        weights_sha256=str(row["weights_sha256"]),
    )
    registry.register(registry_entry(version), replace=True)
