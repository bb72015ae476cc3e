"""The explaining parts of a stored reward run, typed: intervals, QC diagnostics, rules, times.

:func:`~markit_core.rewards.run_result.run_result` reads them from the stored
JSON with the readers below (the keys :meth:`RewardAnalysis.to_dict
<markit_core.rewards.analysis.RewardAnalysis.to_dict>` writes). Each reader
gives None for a run stored before its part existed, so the rewards page
draws nothing for it, as it did then. Figures that were NaN are stored as
None and stay None here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AnnotatorInterval",
    "ExclusionQc",
    "LabelQc",
    "RewardIntervals",
    "RulePayout",
    "RunQc",
    "TimeTable",
    "TimeTableRow",
    "intervals_from",
    "qc_from",
    "rules_from",
    "time_table_from",
]


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def _int(x: Any) -> int | None:
    return None if x is None else int(x)


@dataclass(frozen=True)
class AnnotatorInterval:
    """One annotator's reward and rank with their bootstrap intervals (None: no resample split)."""

    annotator: str
    reward: float  # the unrounded reward of Eq. 1 the intervals are about
    low: float | None
    high: float | None
    rank: int  # of the full-data reward, 1 = highest
    rank_low: int | None
    rank_high: int | None


@dataclass(frozen=True)
class RewardIntervals:
    """The bootstrap over cases: each annotator's intervals and which of them overlap."""

    annotators: tuple[AnnotatorInterval, ...]
    overlaps: tuple[tuple[str, str], ...]
    method: str
    resamples: int
    seed: int
    level: float
    truth_note: str | None  # why the rule's intervals leave something out (Dawid-Skene)
    failed: int  # resamples without a positive score, left out

    def of(self, annotator: str) -> AnnotatorInterval:
        """The intervals of ``annotator`` (KeyError if the run has none for that name)."""
        for a in self.annotators:
            if a.annotator == annotator:
                return a
        raise KeyError(annotator)


@dataclass(frozen=True)
class LabelQc:
    """What quality control on one label rests on."""

    label: str
    status: str
    ai_items: int
    prevalence_consensus: float | None
    prevalence_ai: float | None
    positives: int  # the rarer side's positive count (consensus or AI)
    ai_kappa_vs_consensus: float | None
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class ExclusionQc:
    """One excluded (annotator, label) pair with its kappa's 95 % interval and warnings."""

    annotator: str
    label: str
    kappa: float | None  # None: undefined (e.g. reader and AI both never positive)
    ci_low: float | None
    ci_high: float | None
    se: float | None
    shared_items: int
    applied: bool  # False: kept, because the AI is untrusted on the label
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class RunQc:
    """Quality-control diagnostics: per label, and per exclusion of the paper's rule."""

    labels: tuple[LabelQc, ...]
    exclusions: tuple[ExclusionQc, ...]
    kappa_ci_method: str


@dataclass(frozen=True)
class RulePayout:
    """The run under one truth rule: its rewards, or the error why it has none."""

    rule: str
    title: str
    rewards: Mapping[str, float] | None  # annotator -> reward; None when ``error``
    error: str | None
    excluded: tuple[tuple[str, str], ...]  # (annotator, label) pairs


@dataclass(frozen=True)
class TimeTableRow:
    """Mean labelling time of a label (or ``overall``) with the half-width of its 95 % CI."""

    label: str
    n: int
    mean: float | None
    half_width: float | None
    median: float | None


@dataclass(frozen=True)
class TimeTable:
    """The paper's time table: overall and per label."""

    overall: TimeTableRow
    by_label: tuple[TimeTableRow, ...]
    method: str


def intervals_from(res: Mapping[str, Any]) -> RewardIntervals | None:
    """``reward_ci``, ``rank_ci`` and ``bootstrap`` (None: the run had no bootstrap)."""
    ci = res.get("reward_ci")
    if not ci:
        return None
    boot, rank_ci = res["bootstrap"], res["rank_ci"]
    return RewardIntervals(
        annotators=tuple(
            AnnotatorInterval(
                annotator=a,
                reward=float(res["rewards"][a]),
                low=_float(low),
                high=_float(high),
                rank=int(boot["rank"][a]),
                rank_low=_int(rank_ci[a][0]),
                rank_high=_int(rank_ci[a][1]),
            )
            for a, (low, high) in ci.items()
        ),
        overlaps=tuple((str(a), str(b)) for a, b in boot["overlaps"]),
        method=str(boot["method"]),
        resamples=int(boot["resamples"]),
        seed=int(boot["seed"]),
        level=float(boot.get("level", 0.95)),
        truth_note=boot.get("truth_note") or None,
        failed=int(boot["failed"]),
    )


def qc_from(res: Mapping[str, Any]) -> RunQc | None:
    """``quality_control`` (None: stored before the diagnostics existed)."""
    qc = res.get("quality_control")
    if not qc:
        return None
    return RunQc(
        labels=tuple(
            LabelQc(
                label=lab,
                status=str(d["status"]),
                ai_items=int(d["ai_items"]),
                prevalence_consensus=_float(d["prevalence_consensus"]),
                prevalence_ai=_float(d["prevalence_ai"]),
                positives=int(d["positives"]),
                ai_kappa_vs_consensus=_float(d["ai_kappa_vs_consensus"]),
                warnings=tuple(d["warnings"]),
            )
            for lab, d in qc["labels"].items()
        ),
        exclusions=tuple(
            ExclusionQc(
                annotator=e["annotator"],
                label=e["label"],
                kappa=_float(e["kappa"]),
                ci_low=_float(e["ci_low"]),
                ci_high=_float(e["ci_high"]),
                se=_float(e["se"]),
                shared_items=int(e["shared_items"]),
                applied=bool(e["applied"]),
                warnings=tuple(e["warnings"]),
            )
            for e in qc["exclusions"]
        ),
        kappa_ci_method=str(qc["kappa_ci_method"]),
    )


def rules_from(res: Mapping[str, Any]) -> tuple[RulePayout, ...] | None:
    """``rule_comparison``, in the order the rules were run (None: not compared)."""
    rules = res.get("rule_comparison")
    if not rules:
        return None
    return tuple(
        RulePayout(
            rule=rule,
            title=str(o["title"]),
            rewards=None
            if o["rewards"] is None
            else {a: float(x) for a, x in o["rewards"].items()},
            error=o["error"],
            excluded=tuple((str(a), str(lab)) for a, lab in o["excluded"]),
        )
        for rule, o in rules.items()
    )


def _time_row(label: str, t: Mapping[str, Any]) -> TimeTableRow:
    return TimeTableRow(
        label, int(t["n"]), _float(t["mean"]), _float(t["half_width"]), _float(t["median"])
    )


def time_table_from(res: Mapping[str, Any]) -> TimeTable | None:
    """``time_table`` (None: no answer was timed, or stored before the table existed)."""
    table = res.get("time_table")
    if not table:
        return None
    return TimeTable(
        overall=_time_row("overall", table["overall"]),
        by_label=tuple(_time_row(lab, t) for lab, t in table["by_label"].items()),
        method=str(table["method"]),
    )
