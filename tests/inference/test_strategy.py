"""Selection strategies: max class likelihood (the semi-automatic paper's c) and entropy."""

from __future__ import annotations

import numpy as np
import pytest

from markit_core.errors import ValidationError
from markit_core.inference.base import Strategy, TaskType
from markit_core.inference.strategy import (
    Entropy,
    MaxClassLikelihood,
    max_class_likelihood,
    strategy,
)


def test_max_class_likelihood_takes_the_least_certain_label() -> None:
    p = np.array([[0.95, 0.02], [0.6, 0.01], [0.5, 0.5]])
    np.testing.assert_allclose(max_class_likelihood(p, TaskType.MULTILABEL), [0.95, 0.6, 0.5])
    np.testing.assert_allclose(MaxClassLikelihood()(p, TaskType.MULTILABEL), [0.05, 0.4, 0.5])
    np.testing.assert_allclose(
        max_class_likelihood(np.array([0.1, 0.7]), TaskType.BINARY), [0.9, 0.7]
    )


def test_entropy_orders_like_uncertainty_and_is_in_bits() -> None:
    p = np.array([[0.99], [0.8], [0.5]])
    h = Entropy()(p, TaskType.BINARY)
    assert h[0] < h[1] < h[2] and h[2] == pytest.approx(1.0)
    assert isinstance(Entropy(), Strategy) and strategy("entropy").name == "entropy"


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValidationError, match="regression"):
        MaxClassLikelihood()(np.array([[40.0]]), TaskType.REGRESSION)
    with pytest.raises(ValidationError, match="probabilities"):
        Entropy()(np.array([[1.5]]), TaskType.BINARY)
    with pytest.raises(ValidationError, match="unknown selection strategy"):
        strategy("random-forest")
