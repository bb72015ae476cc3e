"""The small interfaces of the AI-assist code, in the MONAI Label style.

An :class:`InferTask` is one model version: it describes itself with
:meth:`InferTask.info`, turns a preprocessed batch into probabilities (or
values, for regression) and explains a prediction with Grad-CAM maps computed in
the same forward pass. A :class:`TrainTask` makes a new version from labelled
images; a :class:`Strategy` turns predictions into an uncertainty score for
active learning. The registry (:mod:`markit_core.inference.registry`) maps
names to tasks explicitly: no discovery, no ``eval``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # importing torch takes seconds; the interfaces do not need it
    from torch import Tensor


class TaskType(enum.StrEnum):
    """What a model's outputs mean."""

    BINARY = "binary"  # one probability per image (L == 1)
    MULTILABEL = "multilabel"  # one independent probability per label
    REGRESSION = "regression"  # one value per output (e.g. age in years)


class Normalisation(enum.StrEnum):
    """Intensity range the model expects after preprocessing."""

    UNIT = "unit"  # [0, 1], 0 = black (air) on a MONOCHROME2 display
    XRV = "xrv"  # torchxrayvision's [-1024, 1024]


@dataclass(frozen=True)
class InputSpec:
    """The tensor a model takes: ``(N, channels, size[0], size[1])`` float32."""

    size: tuple[int, int] = (224, 224)
    channels: int = 1
    normalisation: Normalisation = Normalisation.UNIT


@dataclass(frozen=True)
class ModelInfo:
    """Everything the UI and the stored predictions need to know about a model version.

    Attributes
    ----------
    name, version : str
        Registry key; ``version`` is stored with every prediction.
    task_type : TaskType
        Binary, multi-label or regression.
    labels : tuple[str, ...]
        One name per output column (for binary: the positive class, e.g. ``"AP"``).
    input : InputSpec
        Size, channels and intensity range of the preprocessed input.
    description : str
        One line for pickers.
    units : str
        For regression outputs (e.g. ``"years"``); empty otherwise.
    card : str
        Path of the model card (relative to the repository), empty if none.
    task : str
        Which of the paper's tasks: ``pathologies``, ``view``, ``sex`` or ``age``
        (a project's active model is chosen per task).
    modalities : tuple[str, ...]
        Modalities the model was made for; other cases get a warning.
    """

    name: str
    version: str
    task_type: TaskType
    labels: tuple[str, ...]
    input: InputSpec = field(default_factory=InputSpec)
    description: str = ""
    units: str = ""
    card: str = ""
    task: str = ""
    modalities: tuple[str, ...] = ("CR", "DX")

    @property
    def key(self) -> str:
        """``name@version``: the identity stored with predictions and caches."""
        return f"{self.name}@{self.version}"


@runtime_checkable
class InferTask(Protocol):
    """One loaded model version."""

    def info(self) -> ModelInfo:
        """Name, version, task type, labels and input spec."""
        ...

    def __call__(self, batch: Tensor | np.ndarray) -> np.ndarray:
        """Outputs for a preprocessed batch ``(N, C, H, W)``.

        Returns ``(N, L)`` float32: probabilities in [0, 1] for binary and
        multi-label tasks, values (e.g. years) for regression.
        """
        ...

    def explain(
        self, image: Tensor | np.ndarray, label_indices: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Outputs and Grad-CAM maps for one preprocessed image, from ONE forward pass.

        ``image`` is ``(C, H, W)`` or ``(1, C, H, W)``. Returns ``(outputs (L_all,),
        cams (len(label_indices), H, W) float32 in [0, 1])`` at the input size.
        """
        ...


@dataclass(frozen=True)
class TrainingData:
    """Preprocessed images and targets for a training run.

    ``images`` ``(N, C, H, W)`` float32; ``targets`` ``(N, L)`` float32 (0/1 or
    values); ``case_ids`` identify the rows (used for the fixed split).
    """

    images: np.ndarray
    targets: np.ndarray
    case_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class TrainResult:
    """A finished training run: where the weights are and how well they did."""

    weights_path: str
    metrics: dict[str, float]
    history: tuple[dict[str, float], ...] = ()


Progress = Callable[[int, int, dict[str, float]], None]
"""``progress(epoch, epochs, metrics)``; may raise to cancel a run."""


@runtime_checkable
class TrainTask(Protocol):
    """Trains a new version of a model from labelled data."""

    def info(self) -> ModelInfo:
        """The model this task trains (the new version is set on success)."""
        ...

    def __call__(
        self,
        data: TrainingData,
        *,
        out_dir: str,
        epochs: int,
        seed: int,
        progress: Progress | None = None,
        val: TrainingData | None = None,
    ) -> TrainResult:
        """Train, write the weights under ``out_dir`` and return metrics.

        With ``val``, metrics include ``val_auc`` (classification) or ``val_mae``
        (regression) per epoch; ``progress`` may raise to cancel the run.
        """
        ...


@runtime_checkable
class Strategy(Protocol):
    """Scores predictions of unlabelled cases: higher score = more uncertain."""

    name: str

    def __call__(self, outputs: np.ndarray, task_type: TaskType) -> np.ndarray:
        """``outputs`` ``(N, L)`` probabilities -> ``(N,)`` uncertainty scores."""
        ...
