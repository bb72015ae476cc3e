"""Selection strategies for active learning: how uncertain is each prediction?

Scores are uncertainties (higher = send to a human first). For binary and
multi-label outputs every label is its own two-class problem; an image is as
uncertain as its least certain label.
"""

from __future__ import annotations

import numpy as np

from markit_core.errors import ValidationError
from markit_core.inference.base import TaskType

_EPS = 1e-7


def max_class_likelihood(outputs: np.ndarray, task_type: TaskType) -> np.ndarray:
    """Per image, the smallest over labels of max(p, 1 - p): the semi-automatic paper's ``c``.

    Cases with ``c`` below a threshold ``t`` go to humans.
    """
    p = _probabilities(outputs, task_type)
    return np.maximum(p, 1.0 - p).min(axis=1)


class MaxClassLikelihood:
    """Uncertainty = 1 - max class likelihood (the paper's criterion)."""

    name = "max-class-likelihood"

    def __call__(self, outputs: np.ndarray, task_type: TaskType) -> np.ndarray:
        return 1.0 - max_class_likelihood(outputs, task_type)


class Entropy:
    """Uncertainty = the largest binary entropy over labels, in bits (0..1)."""

    name = "entropy"

    def __call__(self, outputs: np.ndarray, task_type: TaskType) -> np.ndarray:
        p = np.clip(_probabilities(outputs, task_type), _EPS, 1.0 - _EPS)
        h = -(p * np.log2(p) + (1.0 - p) * np.log2(1.0 - p))
        return h.max(axis=1)


STRATEGIES = {s.name: s for s in (MaxClassLikelihood(), Entropy())}


def strategy(name: str) -> MaxClassLikelihood | Entropy:
    """A strategy by name (``max-class-likelihood`` or ``entropy``)."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValidationError(
            f"unknown selection strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        ) from None


def _probabilities(outputs: np.ndarray, task_type: TaskType) -> np.ndarray:
    if task_type is TaskType.REGRESSION:
        raise ValidationError("uncertainty sampling needs probabilities, not regression values")
    p = np.asarray(outputs, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2 or (p.size and (p.min() < 0.0 or p.max() > 1.0)):
        raise ValidationError(f"expected (N, L) probabilities in [0, 1], got shape {p.shape}")
    return p
