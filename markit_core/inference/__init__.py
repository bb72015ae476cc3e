"""AI assist: model registry, backends, preprocessing, Grad-CAM overlays.

Heavy modules (torch, torchxrayvision) load only when a model is built; importing
this package imports the interfaces, the registry and the strategies.
"""

from __future__ import annotations

# --- issue 10 (models, registry, preprocessing, overlays) ---
from markit_core.inference.base import (
    InferTask,
    InputSpec,
    ModelInfo,
    Normalisation,
    Strategy,
    TaskType,
    TrainingData,
    TrainResult,
    TrainTask,
)
from markit_core.inference.errors import (
    InferenceError,
    InferenceInputError,
    ModelNotFound,
    WeightsError,
)
from markit_core.inference.label_map import map_outputs, read_label_map
from markit_core.inference.overlay import cam_overlay, composite, full_image_mapping
from markit_core.inference.preprocess import preprocess, preprocess_case
from markit_core.inference.registry import (
    ModelEntry,
    clear_cache,
    default_device,
    entry,
    get,
    list_models,
    register,
    unregister,
)
from markit_core.inference.remote import (  # issue 13: model server (runtime in serving/)
    ModelServerClient,
    RemoteTask,
    remote_task,
)
from markit_core.inference.strategy import Entropy, MaxClassLikelihood, max_class_likelihood

__all__ = [
    "TaskType",
    "Normalisation",
    "InputSpec",
    "ModelInfo",
    "InferTask",
    "TrainTask",
    "TrainingData",
    "TrainResult",
    "Strategy",
    "ModelNotFound",
    "WeightsError",
    "InferenceInputError",
    "ModelEntry",
    "get",
    "entry",
    "list_models",
    "register",
    "unregister",
    "clear_cache",
    "default_device",
    "MaxClassLikelihood",
    "Entropy",
    "max_class_likelihood",
    "preprocess",
    "preprocess_case",
    "cam_overlay",
    "composite",
    "full_image_mapping",
    "read_label_map",
    "map_outputs",
    "InferenceError",
    "ModelServerClient",
    "RemoteTask",
    "remote_task",
]
