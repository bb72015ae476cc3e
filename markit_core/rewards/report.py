"""JSON-ready dict and plain-text table of a :class:`~markit_core.rewards.engine.RewardResult`.

Shared by the CLI (``markit rewards --json``), the rewards page (stored run,
CSV download) and the ledger entry of a payout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from markit_core.rewards.engine import RewardResult
from markit_core.rewards.labelling_time import TimeStats

__all__ = ["format_table", "result_to_dict"]


def _num(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _time_dict(result: RewardResult) -> dict[str, Any] | None:
    by_label: TimeStats | None = result.time_by_label
    pair: TimeStats | None = result.time_by_label_annotator
    if by_label is None or pair is None:
        return None
    return {
        "by_label": {lab: by_label.row(k) for k, lab in enumerate(result.labels)},
        "by_label_annotator": {
            lab: {a: pair.row((k, i)) for i, a in enumerate(result.annotators)}
            for k, lab in enumerate(result.labels)
        },
    }


def result_to_dict(result: RewardResult) -> dict[str, Any]:
    """Everything in the result as plain JSON types (NaN -> None).

    Keys: ``rewards``, ``scores``, ``paid_scores`` {annotator: x};
    ``excluded`` [{annotator, label, kappa, shared_items}]; ``agreement`` and
    ``agreement_by_label``; ``labels`` {label: {T, tbar, mean_seconds}};
    ``cohen_kappa_vs_ai`` {label: {annotator: kappa}} ({} without AI);
    ``cohen_kappa_vs_consensus`` (same shape); ``contributions``
    {annotator: {label: x}}; ``answers`` {annotator: {label: {total, kept}}};
    ``time_stats`` (None without times); ``parameters``; ``payouts``
    {annotator: amount paid, rounded so they sum to the budget} and
    ``decimals``; ``dawid_skene`` ({converged, iterations}, None under the
    majority rule).
    """
    ann, labs = result.annotators, result.labels

    def per_pair(arr: np.ndarray) -> dict[str, dict[str, float | None]]:
        return {lab: {a: _num(arr[i, k]) for i, a in enumerate(ann)} for k, lab in enumerate(labs)}

    return {
        "parameters": {
            "budget": result.budget,
            "kappa_threshold": result.kappa_threshold,
            "truth": result.truth_rule,
        },
        "rewards": {a: float(x) for a, x in zip(ann, result.rewards, strict=True)},
        "payouts": {a: float(x) for a, x in zip(ann, result.payouts, strict=True)},
        "decimals": result.decimals,
        "dawid_skene": (
            None
            if result.ds_converged is None
            else {"converged": bool(result.ds_converged), "iterations": result.ds_iterations}
        ),
        "scores": {a: float(x) for a, x in zip(ann, result.scores, strict=True)},
        "paid_scores": {a: float(x) for a, x in zip(ann, result.paid_scores, strict=True)},
        "excluded": [
            {
                "annotator": e.annotator,
                "label": e.label,
                "kappa": _num(e.kappa),
                "shared_items": e.shared_items,
            }
            for e in result.exclusions
        ],
        "agreement": result.agreement.to_dict(),
        "agreement_by_label": {
            lab: s.to_dict() for lab, s in zip(labs, result.agreement_by_label, strict=True)
        },
        "labels": {
            lab: {
                "T": float(result.task_value[k]),
                "tbar": float(result.tbar[k]),
                "mean_seconds": float(result.label_mean_seconds[k]),
            }
            for k, lab in enumerate(labs)
        },
        "cohen_kappa_vs_ai": {} if result.kappa_vs_ai is None else per_pair(result.kappa_vs_ai),
        "cohen_kappa_vs_consensus": per_pair(result.kappa_vs_consensus),
        "contributions": {
            a: {lab: float(result.contributions[i, k]) for k, lab in enumerate(labs)}
            for i, a in enumerate(ann)
        },
        "answers": {
            a: {
                lab: {"total": int(result.n_answers[i, k]), "kept": int(result.n_kept[i, k])}
                for k, lab in enumerate(labs)
            }
            for i, a in enumerate(ann)
        },
        "time_stats": _time_dict(result),
    }


def format_table(result: RewardResult, currency: str = "") -> str:
    """A readable plain-text report: rewards, labels, exclusions, agreement."""
    unit = f" {currency}" if currency else ""
    width = max([len("annotator")] + [len(a) for a in result.annotators])
    lines = [f"{'annotator':<{width}}  {'reward' + unit:>14}  {'score S':>10}"]
    for a, r, s in zip(result.annotators, result.payouts, result.scores, strict=True):
        lines.append(f"{a:<{width}}  {r:>14.{result.decimals}f}  {s:>10.4f}")
    lines.append(f"budget {result.budget:g}{unit}, truth rule {result.truth_rule}")
    if result.ds_converged is False:
        lines.append(
            f"warning: Dawid–Skene did not converge in {result.ds_iterations} iterations; "
            "the pseudo answers may be unstable"
        )
    lwidth = max([len("label")] + [len(k) for k in result.labels])
    lines += ["", f"{'label':<{lwidth}}  {'T':>7}  {'tbar':>7}  {'mean s':>8}"]
    for k, lab in enumerate(result.labels):
        lines.append(
            f"{lab:<{lwidth}}  {result.task_value[k]:>7.4f}  {result.tbar[k]:>7.4f}"
            f"  {result.label_mean_seconds[k]:>8.2f}"
        )
    lines.append("")
    if result.exclusions:
        lines.append(f"excluded (kappa vs AI <= {result.kappa_threshold:g}):")
        lines += [f"  {e.annotator} on {e.label}: kappa {e.kappa:.3f}" for e in result.exclusions]
    else:
        lines.append("excluded: none")
    g = result.agreement
    lines += [
        "",
        f"agreement over {g.items} items: {g.all_positive} all positive, "
        f"{g.all_negative} all negative, {g.disagreements} disagreements, "
        f"full agreement {g.full_agreement_rate:.3f}, Fleiss' kappa {g.fleiss_kappa:.3f}",
    ]
    return "\n".join(lines)
