"""A reward run a PI can defend: the payout plus what it rests on and how certain it is.

:func:`analyse_rewards` is what the ``rewards`` command and the rewards page
call. It runs quality control and Eq. 1 (:func:`~markit_core.rewards.diagnostics.rewards_with_qc`,
the paper's rule unless the trusted-AI-only gate is on), and adds

* ``quality_control``: per-label diagnostics and each exclusion's kappa
  with its 95 % CI and warnings (:mod:`~markit_core.rewards.diagnostics`);
* ``reward_ci`` / ``rank_ci`` / ``bootstrap``: a bootstrap over cases
  (:mod:`~markit_core.rewards.bootstrap`);
* ``rule_comparison`` (on request): the run under every truth rule
  (:mod:`~markit_core.rewards.compare`);
* ``time_table``: mean labelling time per label and overall with a 95 % CI.

The keys of :func:`~markit_core.rewards.report.result_to_dict` are unchanged,
so older readers of the JSON keep working.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from markit_core.rewards.bootstrap import BootstrapResult, bootstrap_rewards
from markit_core.rewards.compare import RuleOutcome, compare_rules, comparison_to_dict
from markit_core.rewards.diagnostics import QcDiagnostics, QcSettings, rewards_with_qc
from markit_core.rewards.engine import RewardResult, time_stats
from markit_core.rewards.labelling_time import time_table
from markit_core.rewards.report import result_to_dict
from markit_core.rewards.table import AnnotationTable

__all__ = ["RewardAnalysis", "analyse_rewards", "format_analysis"]


@dataclass(frozen=True, eq=False)
class RewardAnalysis:
    """The run's result and everything reported beside it."""

    table: AnnotationTable
    result: RewardResult
    diagnostics: QcDiagnostics
    bootstrap: BootstrapResult | None = None
    comparison: tuple[RuleOutcome, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``result_to_dict`` plus the keys in the module docstring (plain JSON types)."""
        out = result_to_dict(self.result)
        out["parameters"] = {
            **out["parameters"],
            "trust_level": self.diagnostics.settings.trust_level,
            "min_positives": self.diagnostics.settings.min_positives,
            "trusted_ai_only": self.diagnostics.settings.trusted_ai_only,
        }
        out["quality_control"] = self.diagnostics.to_dict()
        if self.bootstrap is not None:
            out.update(self.bootstrap.to_dict())
        if self.comparison is not None:
            out["rule_comparison"] = comparison_to_dict(self.comparison, self.result.annotators)
        seconds = self.table.seconds
        out["time_table"] = (
            None
            if seconds is None
            else time_table(seconds, self.table.label, self.table.labels, self.result.time_by_label)
        )
        return out


def analyse_rewards(
    table: AnnotationTable,
    *,
    budget: float = 1000.0,
    ai: np.ndarray | None = None,
    label_seconds: np.ndarray | None = None,
    kappa_threshold: float = 0.05,
    truth: str = "majority",
    adjudicated: np.ndarray | None = None,
    settings: QcSettings | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    compare: bool = False,
) -> RewardAnalysis:
    """Reward run with diagnostics, bootstrap intervals and (optionally) the rule comparison.

    Parameters
    ----------
    table, budget, ai, label_seconds, kappa_threshold, truth
        As :func:`~markit_core.rewards.engine.compute_rewards`; ``ai`` may be
        partial (-1 where an item has no AI reference).
    adjudicated : (J, K) int8, optional
        Reviewers' final answers, used by the rule comparison only.
    settings : QcSettings
        Trust level, minimum positives and the trusted-AI-only gate.
    n_resamples : int
        Bootstrap resamples (0 = no bootstrap).
    seed : int
        Bootstrap seed.
    compare : bool
        Also run every truth rule (:func:`~markit_core.rewards.compare.compare_rules`).

    Raises
    ------
    NoPositiveScoresError, ValidationError
        As :func:`~markit_core.rewards.engine.compute_rewards`.
    """
    settings = settings or QcSettings()
    common: dict[str, Any] = {
        "budget": budget,
        "label_seconds": label_seconds,
        "kappa_threshold": kappa_threshold,
    }
    # The time statistics are the same under every rule, and the other rules and the
    # bootstrap only read the table and this run: on two cores they run side by side
    # (numpy and BLAS release the GIL in the bulk work).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward-rules") as pool:
        times = pool.submit(time_stats, table)  # the run below waits for it if need be
        result, diagnostics = rewards_with_qc(
            table, ai=ai, settings=settings, truth=truth, **common
        )
        times.result()  # raises here if it failed
        other_rules = None
        if compare:
            other_rules = pool.submit(
                compare_rules,
                table,
                ai=ai,
                adjudicated=adjudicated,
                settings=settings,
                computed={result.truth_rule: result},  # this run, not computed twice
                **common,
            )
        boot = None
        if n_resamples:
            boot = bootstrap_rewards(
                table,
                result,
                ai=ai,  # the gate, if on, is re-judged in every resample
                label_seconds=label_seconds,
                trusted_ai_only=settings.trusted_ai_only,
                trust_level=settings.trust_level,
                n_resamples=n_resamples,
                seed=seed,
            )
        comparison = None if other_rules is None else other_rules.result()
    return RewardAnalysis(table, result, diagnostics, boot, comparison)


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "—" if x is None else format(x, fmt)


def format_analysis(data: dict[str, Any]) -> str:
    """Plain-text lines for the parts :func:`format_table` does not print."""
    lines: list[str] = []
    qc = data.get("quality_control") or {}
    if qc:
        lines += ["", "quality control by label (AI kappa vs consensus, prevalence, positives):"]
        for lab, d in qc["labels"].items():
            if not d["ai_items"]:
                lines.append(f"  {lab}: {d['status']}")
                continue
            lines.append(
                f"  {lab}: AI kappa {_num(d['ai_kappa_vs_consensus'])}, prevalence consensus "
                f"{_num(d['prevalence_consensus'], '.2%')} / AI {_num(d['prevalence_ai'], '.2%')}, "
                f"{d['positives']} positives; {d['status']}"
            )
        for e in qc["exclusions"]:
            lines.append(
                f"  excluded {e['annotator']} on {e['label']}: kappa {_num(e['kappa'])} "
                f"[95% CI {_num(e['ci_low'])}, {_num(e['ci_high'])}]"
                + ("" if e["applied"] else " (not applied: AI untrusted)")
            )
            lines += [f"    warning: {w}" for w in e["warnings"]]
    if "reward_ci" in data:
        boot = data["bootstrap"]
        lines += ["", f"95% intervals ({boot['resamples']} bootstrap resamples over cases):"]
        for a, (lo, hi) in data["reward_ci"].items():
            rlo, rhi = data["rank_ci"][a]
            lines.append(f"  {a}: reward [{_num(lo, '.2f')}, {_num(hi, '.2f')}], rank {rlo}-{rhi}")
        for a, b in boot["overlaps"]:
            lines.append(f"  {a} and {b}: intervals overlap")
    for rule, o in (data.get("rule_comparison") or {}).items():
        if o["rewards"] is None:
            lines.append(f"rule {rule}: {o['error']}")
        else:
            shown = ", ".join(f"{a} {x:.2f}" for a, x in o["rewards"].items())
            lines.append(f"rule {rule}: {shown}; {len(o['excluded'])} exclusions")
    table = data.get("time_table")
    if table:
        o = table["overall"]
        lines += [
            "",
            f"mean labelling time: overall {_num(o['mean'], '.2f')} ± "
            f"{_num(o['half_width'], '.2f')} s ({table['method']})",
        ]
        for lab, t in table["by_label"].items():
            lines.append(f"  {lab}: {_num(t['mean'], '.2f')} ± {_num(t['half_width'], '.2f')} s")
    return "\n".join(lines)
