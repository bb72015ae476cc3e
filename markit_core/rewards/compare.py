"""Which rule decides: the same reward run under each truth rule, side by side.

Before paying, a PI sees how much the choice of pseudo answer matters:

* ``majority`` — the paper's rule (a tie is False);
* ``dawid_skene`` — the Dawid–Skene posterior >= 0.5;
* ``adjudication`` — a reviewer's final answer where one exists, the
  majority elsewhere (the review pages' consensus); only when the project
  (or the ``--adjudication`` file) has adjudications.

Every rule uses the same quality-control settings, so the exclusions differ
only where the trusted-AI-only gate depends on the consensus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from markit_core.agreement.measures import MISSING
from markit_core.rewards.diagnostics import QcSettings, rewards_with_qc
from markit_core.rewards.engine import NoPositiveScoresError, RewardResult
from markit_core.rewards.table import AnnotationTable

__all__ = ["COMPARED_RULES", "RuleOutcome", "compare_rules", "comparison_to_dict"]

COMPARED_RULES: dict[str, str] = {
    "majority": "majority vote (paper)",
    "dawid_skene": "Dawid–Skene",
    "adjudication": "adjudication where available, majority elsewhere",
}


@dataclass(frozen=True, eq=False)
class RuleOutcome:
    """One rule's payout; ``error`` says why there is none (then ``rewards`` is None)."""

    rule: str
    title: str
    rewards: np.ndarray | None
    scores: np.ndarray | None
    excluded: tuple[tuple[str, str], ...]
    error: str | None = None


def compare_rules(
    table: AnnotationTable,
    *,
    ai: np.ndarray | None = None,
    adjudicated: np.ndarray | None = None,
    settings: QcSettings | None = None,
    computed: Mapping[str, RewardResult] | None = None,
    **kwargs: Any,
) -> tuple[RuleOutcome, ...]:
    """The run under majority, Dawid–Skene and adjudication where available.

    ``kwargs`` (budget, kappa threshold, label times) go to
    :func:`~markit_core.rewards.engine.compute_rewards`; ``truth`` must not be
    among them. A rule under which no annotator has a positive score gets an
    outcome with its error instead of rewards. ``computed``: results already
    computed with these arguments, by rule (``majority`` / ``dawid_skene``,
    without adjudications), which are used instead of computing them again.
    """
    has_adjudication = adjudicated is not None and bool((np.asarray(adjudicated) != MISSING).any())
    out = []
    for rule, title in COMPARED_RULES.items():
        if rule == "adjudication" and not has_adjudication:
            out.append(RuleOutcome(rule, title, None, None, (), "no adjudications recorded"))
            continue
        truth = "majority" if rule == "adjudication" else rule
        adj = adjudicated if rule == "adjudication" else None
        try:
            known = None if adj is not None else (computed or {}).get(rule)
            result = (
                known
                if known is not None
                else rewards_with_qc(
                    table, ai=ai, settings=settings, truth=truth, adjudicated=adj, **kwargs
                )[0]
            )
        except NoPositiveScoresError as e:
            out.append(RuleOutcome(rule, title, None, None, (), str(e)))
            continue
        excluded = tuple((e.annotator, e.label) for e in result.exclusions)
        out.append(RuleOutcome(rule, title, result.rewards, result.scores, excluded))
    return tuple(out)


def comparison_to_dict(
    outcomes: tuple[RuleOutcome, ...], annotators: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """``{rule: {title, rewards {annotator: x} | None, scores, excluded [[a, label]], error}}``."""

    def by_name(arr: np.ndarray | None) -> dict[str, float] | None:
        return None if arr is None else {a: float(x) for a, x in zip(annotators, arr, strict=True)}

    return {
        o.rule: {
            "title": o.title,
            "rewards": by_name(o.rewards),
            "scores": by_name(o.scores),
            "excluded": [list(p) for p in o.excluded],
            "error": o.error,
        }
        for o in outcomes
    }
