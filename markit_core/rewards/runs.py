"""Reward runs over a project's stored annotations: compute, store, audit, export.

A run reads the current binary answers of the project's active labels (the
same data the review page shows), computes Algorithm 1 / Eq. 1 with
:func:`markit_core.rewards.engine.compute_rewards`, and stores a ``RewardRun`` with
its parameters, a SHA-256 digest of the exact answers it was computed from,
and the full result (``result_to_dict``) in one transaction with a
``rewards.run`` ledger entry. A payout can therefore be audited later: the
stored result says what was paid and why, the ledger proves the row was not
edited, and the input digest shows whether the answers have changed since.
The inputs (answers table, adjudications, AI reference, digest) are read in
:mod:`markit_core.rewards.run_inputs`.
"""

from __future__ import annotations

import io
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.db import require_id, rolls_back
from markit_core.errors import NotFoundError, ValidationError
from markit_core.export.spreadsheet import csv_writer
from markit_core.models import RewardRun, User
from markit_core.review.answers import AiReference, load_ai_reference
from markit_core.rewards.analysis import analyse_rewards
from markit_core.rewards.diagnostics import QcSettings
from markit_core.rewards.engine import RewardResult
from markit_core.rewards.labelling_time import pair_times
from markit_core.rewards.run_inputs import (
    adjudication_matrix,
    ai_reference_matrix,
    answers_table,
    input_params,
)
from markit_core.rewards.settings import get_qc_settings
from markit_core.rewards.table import AnnotationTable

__all__ = [
    "RunRecord",
    "RunSummary",
    "get_run",
    "list_runs",
    "run_csv",
    "run_rewards",
    "time_boxes",
]

MAX_CURRENCY = 24
_CURRENCY_RE = re.compile(r"^[^\x00-\x1f\x7f]*$")


def time_boxes(table: AnnotationTable) -> dict[str, dict[str, dict[str, float | int]]]:
    """Box-plot figures of answer seconds per label and annotator (the paper's Fig. 4).

    ``{label: {annotator: {n, q1, median, q3, lowerfence, upperfence, mean}}}``
    with Tukey whiskers (furthest time within 1.5 IQR of the box). Stored
    with the run so the figure can be redrawn for an audit without keeping
    every per-answer time. Loops over (label, annotator) groups only, on the
    table's times grouped once (percentiles by partition, no sort).
    """
    grouped = pair_times(table)
    if grouped is None or not grouped.x.size:
        return {}
    n_i = len(table.annotators)
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    starts = grouped.starts().tolist()
    for g in np.flatnonzero(grouped.n).tolist():
        x = grouped.by_group[starts[g] : starts[g] + int(grouped.n[g])]
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        iqr = q3 - q1
        inside = x[(x >= q1 - 1.5 * iqr) & (x <= q3 + 1.5 * iqr)]
        label, annotator = table.labels[g // n_i], table.annotators[g % n_i]
        out.setdefault(label, {})[annotator] = {
            "n": int(x.size),
            "q1": float(q1),
            "median": float(med),
            "q3": float(q3),
            "lowerfence": float(inside.min()),
            "upperfence": float(inside.max()),
            "mean": float(x.mean()),
        }
    return out


def _finite(obj: Any) -> Any:
    """The same structure with non-finite floats as None (JSON columns reject NaN)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _check_params(budget: float, currency: str, kappa_threshold: float) -> str:
    try:
        budget, kappa_threshold = float(budget), float(kappa_threshold)
    except (TypeError, ValueError) as e:
        raise ValidationError("budget and kappa threshold must be numbers") from e
    if not math.isfinite(budget) or budget <= 0:
        raise ValidationError(f"budget must be a positive number, got {budget:g}")
    if not -1.0 <= kappa_threshold <= 1.0:
        raise ValidationError(f"kappa threshold must lie between -1 and 1, got {kappa_threshold:g}")
    currency = (currency or "").strip()
    if len(currency) > MAX_CURRENCY or not _CURRENCY_RE.match(currency):
        raise ValidationError(f"currency name must be at most {MAX_CURRENCY} printable characters")
    return currency


@rolls_back
def run_rewards(
    session: Session,
    actor: User,
    project_id: int,
    *,
    budget: float,
    currency: str = "",
    kappa_threshold: float = 0.05,
    truth: str = "majority",
    ai: AiReference | None = None,
    qc: QcSettings | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[int, RewardResult]:
    """Compute rewards on the project's current answers and store the run; return (run id, result).

    Parameters
    ----------
    budget : float
        Amount split between the annotators (> 0).
    currency : str
        Name of the unit paid (tokens, EUR, ...), stored for the record.
    kappa_threshold : float
        Quality control: an (annotator, label) pair whose kappa vs the AI is
        not above this is excluded (only when an AI reference exists).
    truth : {"majority", "dawid_skene"}
        Pseudo-answer rule of Algorithm 1.
    ai : mapping, optional
        ``{(case id, label): bool}``; default :func:`load_ai_reference`. It
        may cover only some items; quality control uses those.
    qc : QcSettings, optional
        Trust level, minimum positives and the trusted-AI-only gate; default
        the project's settings (:func:`~markit_core.rewards.settings.get_qc_settings`).
    n_resamples, seed : int
        Bootstrap over cases for the reward and rank intervals.

    The stored result also holds the quality-control diagnostics, the
    bootstrap intervals, the run under every truth rule (adjudications
    from the review pages included) and the time table
    (:func:`~markit_core.rewards.analysis.analyse_rewards`).

    Raises
    ------
    ValidationError
        Bad parameters, or no answers to reward.
    NoPositiveScoresError
        No annotator has a positive score; nothing is stored.
    """
    require(session, actor, project_id, Action.REWARDS)
    currency = _check_params(budget, currency, kappa_threshold)
    table = answers_table(session, project_id)
    if table is None:
        raise ValidationError(
            "no answers to reward yet: nobody has answered a present/absent label"
        )
    # What is stored beside the result reads only the table: worked out while the
    # result is computed (the input digest hashes every answer).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward-inputs") as pool:
        digest = pool.submit(input_params, table)
        boxes = pool.submit(time_boxes, table)
        ai = ai if ai is not None else load_ai_reference(session, project_id)
        ai_matrix = ai_reference_matrix(table, ai)
        qc = qc if qc is not None else get_qc_settings(session, actor, project_id)
        analysis = analyse_rewards(
            table,
            budget=float(budget),
            ai=ai_matrix,
            kappa_threshold=float(kappa_threshold),
            truth=truth,
            adjudicated=adjudication_matrix(session, project_id, table),
            settings=qc,
            n_resamples=int(n_resamples),
            seed=int(seed),
            compare=True,
        )
        result = analysis.result
        params = {
            "budget": float(budget),
            "currency": currency,
            "kappa_threshold": float(kappa_threshold),
            "truth": result.truth_rule,
            "ai_reference": ai_matrix is not None,
            **digest.result(),
            "trust_level": qc.trust_level,
            "min_positives": qc.min_positives,
            "trusted_ai_only": qc.trusted_ai_only,
            "bootstrap_resamples": int(n_resamples),
            "bootstrap_seed": int(seed),
        }
        stored = analysis.to_dict()
        stored["time_boxes"] = boxes.result()
    run = RewardRun(
        project_id=project_id, run_by=require_id(actor), params=params, result=_finite(stored)
    )
    session.add(run)
    session.flush()
    ledger.append(session, actor=actor, project_id=project_id, action="rewards.run", record=run)
    session.commit()
    return require_id(run), result


@dataclass(frozen=True)
class RunSummary:
    """One line of the audit list."""

    id: int
    at: str
    run_by: str
    budget: float
    currency: str
    truth: str
    kappa_threshold: float
    annotators: int
    answers: int


@dataclass(frozen=True)
class RunRecord:
    """A stored run: parameters and result exactly as stored (plain JSON types)."""

    id: int
    project_id: int
    at: str
    run_by: str
    params: dict[str, Any]
    result: dict[str, Any]

    @property
    def currency(self) -> str:
        return str(self.params.get("currency", ""))


def list_runs(session: Session, actor: User, project_id: int) -> list[RunSummary]:
    """The project's reward runs, newest first."""
    require(session, actor, project_id, Action.REWARDS)
    rows = session.exec(
        select(RewardRun, User.username)
        .join(User, col(User.id) == RewardRun.run_by)
        .where(RewardRun.project_id == project_id)
        .order_by(col(RewardRun.id).desc())
    ).all()
    return [
        RunSummary(
            require_id(r),
            r.at.isoformat(timespec="seconds"),
            name,
            float(r.params.get("budget", 0.0)),
            str(r.params.get("currency", "")),
            str(r.params.get("truth", "")),
            float(r.params.get("kappa_threshold", 0.0)),
            len(r.result.get("rewards", {})),
            int(r.params.get("answers", 0)),
        )
        for r, name in rows
    ]


def get_run(session: Session, actor: User, project_id: int, run_id: int) -> RunRecord:
    """One stored run of the project (NotFoundError for another project's run)."""
    require(session, actor, project_id, Action.REWARDS)
    row = session.get(RewardRun, run_id)
    if row is None or row.project_id != project_id:
        raise NotFoundError(f"reward run {run_id} not found in this project")
    user = session.get(User, row.run_by)
    return RunRecord(
        require_id(row),
        row.project_id,
        row.at.isoformat(timespec="seconds"),
        user.username if user else "",
        dict(row.params),
        dict(row.result),
    )


def run_csv(run: RunRecord) -> str:
    """The run's payout as CSV: one row per annotator, with where the score came from.

    Columns: ``annotator, reward, currency, score, paid_score, excluded_labels``
    and one ``contribution:<label>`` per label. ``reward`` is the payout, rounded
    so the column sums exactly to the budget (runs stored before payouts were
    rounded show their exact share at two decimals). Every text cell (names,
    currency, labels) is neutralised against spreadsheet formulas.
    """
    res = run.result
    decimals = int(res.get("decimals", 2))
    paid = res.get("payouts") or res.get("rewards", {})
    labels = list(res.get("labels", {}))
    excluded: dict[str, list[str]] = {}
    for e in res.get("excluded", []):
        excluded.setdefault(e["annotator"], []).append(e["label"])
    buf = io.StringIO()
    out = csv_writer(buf)
    out.writerow(
        [
            "annotator",
            "reward",
            "currency",
            "score",
            "paid_score",
            "excluded_labels",
            *(f"contribution:{lab}" for lab in labels),
        ]
    )
    for name, reward in paid.items():
        contrib = res.get("contributions", {}).get(name, {})
        out.writerow(
            [
                name,
                f"{reward:.{decimals}f}",
                run.currency,
                _six(res["scores"][name]),
                _six(res["paid_scores"][name]),
                ";".join(excluded.get(name, [])),
                *(_six(contrib.get(lab, 0.0)) for lab in labels),
            ]
        )
    return buf.getvalue()


def _six(x: float) -> float:
    """Six significant digits, kept a number (a negative score is not text to neutralise)."""
    return float(f"{x:.6g}")
