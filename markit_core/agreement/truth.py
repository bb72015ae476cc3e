"""Truth rules: how the readers' answers of one item become one answer.

Review (consensus, heatmaps) and rewards (Algorithm 1's reference) both use
these, so the two apply the same rule. Review also lets a reviewer's
adjudication override the rule for a disputed item; reward runs use the
readers' answers alone, as the paper's Algorithm 1 does.

* ``majority``: the share of True votes is above one half (a tie is False,
  as in the paper's Algorithm 1);
* ``dawid_skene``: the Dawid–Skene estimate, which lets careful readers
  outvote careless ones;
* in review, an adjudication, where a reviewer recorded one, overrides
  either rule.
"""

from __future__ import annotations

import numpy as np

from markit_core.agreement.dawid_skene import dawid_skene
from markit_core.agreement.measures import MISSING, majority_vote
from markit_core.errors import ValidationError

__all__ = ["TRUTH_RULES", "dense_truth", "normalise_truth"]

TRUTH_RULES: tuple[str, ...] = ("majority", "dawid_skene")


def normalise_truth(truth: str) -> str:
    """``truth`` as one of ``TRUTH_RULES`` (``dawid-skene`` and case variants accepted)."""
    rule = truth.strip().lower().replace("-", "_")
    if rule not in TRUTH_RULES:
        raise ValidationError(f"unknown truth rule {truth!r}; use one of {', '.join(TRUTH_RULES)}")
    return rule


def dense_truth(values: np.ndarray, rule: str) -> np.ndarray:
    """(J,) int8 answer per item of one label's ``values[annotator, item]`` (1 / 0 / -1).

    -1 where nobody answered; ``rule`` must already be normalised.
    """
    if rule == "majority":
        return majority_vote(values).astype(np.int8)
    answered = (values != MISSING).any(axis=0)
    if not answered.any():
        return np.full(values.shape[1], MISSING, dtype=np.int8)
    return np.where(answered, dawid_skene(values).truth, MISSING).astype(np.int8)
