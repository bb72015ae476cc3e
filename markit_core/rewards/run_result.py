"""A stored reward run as typed values, for the rewards page and a lab's own scripts.

The run is stored as plain JSON (``RewardRun.params`` / ``.result``, written by
:func:`markit_core.rewards.runs.run_rewards`); :func:`run_result` reads that JSON
once, here, so nothing else indexes it by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markit_core.rewards.run_result_parts import (
    RewardIntervals,
    RulePayout,
    RunQc,
    TimeTable,
    intervals_from,
    qc_from,
    rules_from,
    time_table_from,
)
from markit_core.rewards.runs import RunRecord

__all__ = [
    "AnnotatorPay",
    "LabelFactors",
    "RunAgreement",
    "RunExclusion",
    "RunResult",
    "TimeRow",
    "run_result",
]


@dataclass(frozen=True)
class AnnotatorPay:
    """What one annotator is paid and why."""

    annotator: str
    reward: float
    score: float  # S of Eq. 1 (may be <= 0: then nothing is paid)
    excluded_on: tuple[str, ...]  # labels whose answers quality control dropped


@dataclass(frozen=True)
class LabelFactors:
    """One label's factors of Eq. 1 and its agreement."""

    label: str
    t: float  # T: share of positive pseudo-answers
    tbar: float  # the time factor
    mean_seconds: float | None
    fleiss_kappa: float | None


@dataclass(frozen=True)
class RunExclusion:
    """An (annotator, label) pair dropped by quality control (kappa vs the AI too low)."""

    annotator: str
    label: str
    kappa: float | None  # None: undefined (a constant reader and AI); such a pair is excluded
    shared_items: int


@dataclass(frozen=True)
class RunAgreement:
    """Agreement over the items every reader answered."""

    items: int
    disagreements: int
    full_agreement_rate: float | None
    fleiss_kappa: float | None


@dataclass(frozen=True)
class TimeRow:
    """Labelling-time figures of one label, for everyone (``annotator`` "all") or one person."""

    label: str
    annotator: str
    n: int
    mean: float | None
    half_width: float | None  # of the 95 % confidence interval of the mean
    median: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class RunResult:
    """A stored run, typed. ``contributions`` and ``time_boxes`` feed the charts.

    The explaining parts (``intervals``, ``qc``, ``rules``, ``time_table``) are
    None for a run stored before they existed (or, for ``time_table``, without
    any timed answer; for ``intervals``, without a bootstrap).
    """

    id: int
    at: str
    run_by: str
    budget: float
    currency: str
    truth: str
    kappa_threshold: float
    answers: int
    input_sha256: str
    ai_reference: bool
    pay: tuple[AnnotatorPay, ...]
    labels: tuple[LabelFactors, ...]
    exclusions: tuple[RunExclusion, ...]
    agreement: RunAgreement
    times: tuple[TimeRow, ...] | None  # None: no labelling times were recorded
    contributions: Mapping[str, Mapping[str, float]]  # annotator -> label -> share of S
    time_boxes: Mapping[str, Mapping[str, Mapping[str, float]]]  # label -> annotator -> box
    ds_converged: bool | None  # None: not the Dawid-Skene rule (or stored before it was recorded)
    ds_iterations: int
    decimals: int  # decimals the payouts are rounded to
    intervals: RewardIntervals | None
    qc: RunQc | None
    rules: tuple[RulePayout, ...] | None  # the run under every truth rule
    time_table: TimeTable | None

    @property
    def anyone_unpaid(self) -> bool:
        """Whether some annotator's score S is <= 0 (paid nothing)."""
        return any(p.score <= 0 for p in self.pay)


def _agreement(g: Mapping[str, Any]) -> RunAgreement:
    return RunAgreement(
        int(g["items"]), int(g["disagreements"]), g["full_agreement_rate"], g["fleiss_kappa"]
    )


def _time_row(label: str, annotator: str, t: Mapping[str, Any]) -> TimeRow:
    return TimeRow(
        label,
        annotator,
        int(t["n"]),
        t["mean"],
        t["half_width"],
        t["median"],
        t["ci_low"],
        t["ci_high"],
    )


def _times(times: Mapping[str, Any] | None) -> tuple[TimeRow, ...] | None:
    """Per label for everyone first, then per label and annotator (those with times)."""
    if not times:
        return None
    rows = [_time_row(lab, "all", t) for lab, t in times["by_label"].items()]
    rows += [
        _time_row(lab, a, t)
        for lab, per in times["by_label_annotator"].items()
        for a, t in per.items()
        if t["n"]
    ]
    return tuple(rows)


def run_result(run: RunRecord) -> RunResult:
    """The typed view of a stored run (see :func:`markit_core.rewards.report.result_to_dict`)."""
    res, params = run.result, run.params
    exclusions = tuple(
        RunExclusion(
            e["annotator"],
            e["label"],
            None if e["kappa"] is None else float(e["kappa"]),
            int(e["shared_items"]),
        )
        for e in res["excluded"]
    )
    excluded: dict[str, list[str]] = {}
    for e in exclusions:
        excluded.setdefault(e.annotator, []).append(e.label)
    by_label = res["agreement_by_label"]
    return RunResult(
        id=run.id,
        at=run.at,
        run_by=run.run_by,
        budget=float(params["budget"]),
        currency=run.currency,
        truth=str(params["truth"]),
        kappa_threshold=float(params["kappa_threshold"]),
        answers=int(params.get("answers", 0)),
        input_sha256=str(params.get("input_sha256", "")),
        ai_reference=bool(params.get("ai_reference")),
        pay=tuple(
            AnnotatorPay(a, float(r), float(res["scores"][a]), tuple(excluded.get(a, [])))
            # payouts: rounded to sum to the budget (runs stored before that: rewards)
            for a, r in (res.get("payouts") or res["rewards"]).items()
        ),
        labels=tuple(
            LabelFactors(lab, v["T"], v["tbar"], v["mean_seconds"], by_label[lab]["fleiss_kappa"])
            for lab, v in res["labels"].items()
        ),
        exclusions=exclusions,
        agreement=_agreement(res["agreement"]),
        times=_times(res.get("time_stats")),
        contributions=res["contributions"],
        time_boxes=res.get("time_boxes") or {},
        ds_converged=(res.get("dawid_skene") or {}).get("converged"),
        ds_iterations=int((res.get("dawid_skene") or {}).get("iterations", 0)),
        decimals=int(res.get("decimals", 2)),
        intervals=intervals_from(res),
        qc=qc_from(res),
        rules=rules_from(res),
        time_table=time_table_from(res),
    )
