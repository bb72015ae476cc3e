"""AI quality control, Algorithm 1 and Eq. 1 of the MarkIt paper, as one reward run.

:func:`compute_rewards` runs the named steps in order: quality control (``qc``),
Algorithm 1 (``algorithm1``), Eq. 1 (``eq1``), the budget split, then the
agreement and time figures of the result. The rules are described in
``docs/reward-math.md``. Everything is vectorised over the answers of an
:class:`~markit_core.rewards.table.AnnotationTable` with ``np.bincount`` on
flat codes: ``item = case * K + label`` for a (j, k) item and
``cell = annotator * K + label`` for an (i, k) pair. No Python loop runs over
answers; the only loop is over labels for the per-label agreement figures.

Truth rules
-----------
``"majority"`` (the paper): the pseudo answer is True when more remaining
answers say True than False (a tie is False).

``"dawid_skene"``: the pseudo answer is True when the Dawid–Skene posterior
(one confusion matrix per annotator and label, one prevalence per label,
fitted on the answers left after quality control) is >= 0.5. M, r, D, t and T
are then computed against that answer exactly as in Algorithm 1; M counts the
answers that agree with it. Note the consequence: where Dawid–Skene overrules
the majority, D = M / (NT + NF) < 0.5, so D~ > 0 and the signs of that item's
terms flip (answers that disagree with the pseudo answer earn, those that
agree lose), because Eq. 1's scaling assumes D >= 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markit_core.agreement.measures import MISSING, AgreementSummary, agreement_from_counts
from markit_core.agreement.truth import TRUTH_RULES, normalise_truth
from markit_core.errors import MarkitError, ValidationError
from markit_core.rewards import algorithm1
from markit_core.rewards.eq1 import Eq1Terms, eq1_terms
from markit_core.rewards.labelling_time import TimeStats, label_time_stats, pair_times
from markit_core.rewards.qc import (
    Exclusion,
    KeptAnswers,
    check_reference,
    exclusions_of,
    kappa_vs_items,
    kept_answers,
    quality_control,
)
from markit_core.rewards.rounding import largest_remainder
from markit_core.rewards.table import AnnotationTable

__all__ = [
    "TRUTH_RULES",
    "NoPositiveScoresError",
    "RewardResult",
    "compute_rewards",
]


#: Dawid–Skene runs EM until the largest posterior change is below ``DS_TOL``; the
#: cap only stops a pathological fit, whose run then records ``ds_converged=False``.
DS_MAX_ITER = 10_000
DS_TOL = 1e-6


class NoPositiveScoresError(MarkitError):
    """Every annotator's score S is zero or negative, so the budget cannot be split.

    ``scores`` holds the raw S per annotator so a page can still show them.
    """

    default_message = "no annotator has a positive score; the budget cannot be split"

    def __init__(self, message: str | None = None, scores: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.scores: dict[str, float] = dict(scores or {})


@dataclass(frozen=True, eq=False)
class RewardResult:
    """Everything a reward run produces; arrays are indexed by the name tuples.

    Shapes: ``I`` annotators, ``J`` cases, ``K`` labels.

    Attributes
    ----------
    rewards, scores, paid_scores : (I,)
        Exact (unrounded) share of the budget, raw S[i] of Eq. 1, and
        max(S[i], 0) (the share basis).
    payouts : (I,)
        What is paid: ``rewards`` rounded to ``decimals`` by largest remainder,
        so the payouts sum exactly to the budget.
    contributions : (I, K)
        ``(T[k] + tbar[k]) * sum_j D~ r~``, so ``scores = contributions.sum(1)``.
    dr_sums : (I, K)
        ``sum_j D~[j,k] r~[i,j,k]`` over the images i answered (after QC).
    task_value, tbar, label_mean_seconds : (K,)
        T[k], tbar[k] and the mean times tbar was normalised from.
    kappa_vs_ai : (I, K) or None
        Cohen's kappa of each annotator vs the AI on shared images (all
        answers, before QC); NaN where they share none. None without AI.
    ai_shared : (I, K) int
        Images each pair shares with the AI (0 without AI).
    excluded : (I, K) bool
        Pairs dropped by quality control; ``exclusions`` lists them.
    kappa_vs_consensus : (I, K)
        Kappa of each annotator's remaining answers vs the pseudo answers.
    n_answers, n_kept : (I, K) int
        Answers per pair before and after quality control.
    consensus : (J, K) int8
        Pseudo answer per item (1 / 0), -1 where no answer remained.
    agreement : AgreementSummary
        Pooled over labels. For each label the raters are the annotators with
        at least one answer left after QC, and the items are that label's
        images answered by every one of them (the paper's setting).
    agreement_by_label : tuple of AgreementSummary, one per label
    time_by_label : TimeStats (K,) or None
    time_by_label_annotator : TimeStats (K, I) or None
        From the per-answer ``seconds`` of all answers (excluded ones too, so
        a PI sees how fast an excluded annotator went); None without times.
    ds_sensitivity, ds_specificity : (I, K) or None
        Dawid–Skene estimates when ``truth_rule == "dawid_skene"``.
    decimals : int
        Precision of the payouts (2: cents).
    ds_converged : bool | None
        Whether Dawid–Skene converged (None under the majority rule).
    ds_iterations : int
        EM iterations Dawid–Skene ran (0 under the majority rule).
    """

    annotators: tuple[str, ...]
    labels: tuple[str, ...]
    cases: tuple[str, ...]
    budget: float
    kappa_threshold: float
    truth_rule: str
    rewards: np.ndarray
    scores: np.ndarray
    paid_scores: np.ndarray
    contributions: np.ndarray
    dr_sums: np.ndarray
    task_value: np.ndarray
    tbar: np.ndarray
    label_mean_seconds: np.ndarray
    kappa_vs_ai: np.ndarray | None
    ai_shared: np.ndarray
    excluded: np.ndarray
    exclusions: tuple[Exclusion, ...]
    kappa_vs_consensus: np.ndarray
    n_answers: np.ndarray
    n_kept: np.ndarray
    consensus: np.ndarray
    agreement: AgreementSummary
    agreement_by_label: tuple[AgreementSummary, ...]
    time_by_label: TimeStats | None
    time_by_label_annotator: TimeStats | None
    ds_sensitivity: np.ndarray | None
    ds_specificity: np.ndarray | None
    payouts: np.ndarray
    decimals: int = 2
    ds_converged: bool | None = None
    ds_iterations: int = 0

    def reward_of(self, annotator: str) -> float:
        """Exact (unrounded) share of one annotator; :attr:`payouts` holds what is paid."""
        return float(self.rewards[self.annotators.index(annotator)])


def compute_rewards(
    table: AnnotationTable,
    *,
    budget: float = 1000.0,
    ai: np.ndarray | None = None,
    label_seconds: np.ndarray | None = None,
    kappa_threshold: float = 0.05,
    truth: str = "majority",
    decimals: int = 2,
    adjudicated: np.ndarray | None = None,
) -> RewardResult:
    """Quality control, Algorithm 1 and Eq. 1 (see ``docs/reward-math.md``).

    Parameters
    ----------
    table : AnnotationTable
        The answers.
    budget : float
        Amount split between annotators (>= 0).
    ai : (J, K) int8, optional
        AI reference (1 / 0 / -1); without it no pair is excluded.
    label_seconds : (K,) float, optional
        Mean labelling time per label; default: mean of the kept answers'
        ``table.seconds`` per label (0 for a label without times), or 0 for
        every label when the table has no times.
    kappa_threshold : float
        A pair is excluded when its kappa vs AI is not greater than this.
    truth : {"majority", "dawid_skene"}
        How the pseudo answer is chosen (module docstring).
    decimals : int
        Precision of the currency: payouts are whole ``10**-decimals`` units
        that sum exactly to the budget (largest remainder).
    adjudicated : (J, K) int8, optional
        A reviewer's final answer (1 / 0 / -1 none); where given it *is* the
        pseudo answer of an item that has answers left ("adjudication where
        available", the review pages' consensus), the rule decides elsewhere.
        Where it overrules the votes, D < 0.5 and the item's signs flip, as
        for Dawid–Skene (module docstring).

    Raises
    ------
    NoPositiveScoresError
        No S[i] is positive, so shares are undefined.
    ValidationError
        Bad parameters or array shapes.
    """
    rule = normalise_truth(truth)
    _check_run(table, budget, kappa_threshold)
    qc = quality_control(table, ai, kappa_threshold)
    kept = kept_answers(table, qc[2])
    votes = _pseudo_answers(rule, table, kept, adjudicated)
    terms = eq1_terms(table, kept, votes, label_seconds)
    paid, rewards = _split_budget(table.annotators, terms.scores, budget)
    return _result(
        table,
        rule=rule,
        budget=budget,
        kappa_threshold=kappa_threshold,
        decimals=decimals,
        qc=qc,
        kept=kept,
        votes=votes,
        terms=terms,
        paid=paid,
        rewards=rewards,
    )


def _pseudo_answers(
    rule: str, table: AnnotationTable, kept: KeptAnswers, adjudicated: np.ndarray | None
) -> algorithm1.Votes:
    """Algorithm 1 on the kept answers (an adjudication, where given, is the pseudo answer)."""
    adj = None if adjudicated is None else check_reference(adjudicated, table, "adjudication")
    return algorithm1.votes(
        rule,
        kept.cell,
        kept.item,
        kept.value,
        len(table.annotators),
        len(table.cases),
        len(table.labels),
        adjudicated=None if adj is None else adj.ravel(),
        max_iter=DS_MAX_ITER,
        tol=DS_TOL,
        answer=kept.answer,
    )


def _result(
    table: AnnotationTable,
    *,
    rule: str,
    budget: float,
    kappa_threshold: float,
    decimals: int,
    qc: tuple[np.ndarray | None, np.ndarray, np.ndarray],
    kept: KeptAnswers,
    votes: algorithm1.Votes,
    terms: Eq1Terms,
    paid: np.ndarray,
    rewards: np.ndarray,
) -> RewardResult:
    """The run's result: the payouts, and the consensus, agreement and time figures."""
    n_i, n_j, n_k = len(table.annotators), len(table.cases), len(table.labels)
    kappa_ai, shared, excluded = qc
    payouts = largest_remainder(paid, budget, decimals)
    n_answers = np.array(
        table.derived("n_answers", lambda: np.bincount(table.cell_index(), minlength=n_i * n_k))
    ).reshape(n_i, n_k)
    n_kept = (
        n_answers.copy()
        if kept.everything
        else np.bincount(kept.cell, minlength=n_i * n_k).reshape(n_i, n_k)
    )
    kappa_cons, _ = kappa_vs_items(kept.cell, kept.answer, votes.pseudo, n_i * n_k)
    consensus = np.where(votes.answered, votes.pseudo, MISSING).astype(np.int8).reshape(n_j, n_k)
    pooled, by_label = _agreement(votes.n_true, votes.n_all, n_kept, n_j, n_k)
    t_label, t_pair = time_stats(table)
    return RewardResult(
        annotators=table.annotators,
        labels=table.labels,
        cases=table.cases,
        budget=float(budget),
        kappa_threshold=float(kappa_threshold),
        truth_rule=rule,
        rewards=rewards,
        scores=terms.scores,
        paid_scores=paid,
        contributions=terms.contributions,
        dr_sums=terms.dr_sums,
        task_value=terms.task_value,
        tbar=terms.tbar,
        label_mean_seconds=terms.label_mean_seconds,
        kappa_vs_ai=kappa_ai,
        ai_shared=shared,
        excluded=excluded,
        exclusions=exclusions_of(table, kappa_ai, shared, excluded),
        kappa_vs_consensus=kappa_cons.reshape(n_i, n_k),
        n_answers=n_answers,
        n_kept=n_kept,
        consensus=consensus,
        agreement=pooled,
        agreement_by_label=by_label,
        time_by_label=t_label,
        time_by_label_annotator=t_pair,
        ds_sensitivity=votes.ds_sensitivity,
        ds_specificity=votes.ds_specificity,
        payouts=payouts,
        decimals=int(decimals),
        ds_converged=votes.ds_converged,
        ds_iterations=votes.ds_iterations,
    )


def _check_run(table: AnnotationTable, budget: float, kappa_threshold: float) -> None:
    if not np.isfinite(budget) or budget < 0:
        raise ValidationError(f"budget must be a non-negative number, got {budget!r}")
    if not np.isfinite(kappa_threshold) or not -1.0 <= kappa_threshold <= 1.0:
        raise ValidationError(
            f"kappa threshold must be a number between -1 and 1, got {kappa_threshold!r}"
        )
    if table.n_annotations == 0:
        raise ValidationError("no annotations to reward")


def _split_budget(
    annotators: tuple[str, ...], scores: np.ndarray, budget: float
) -> tuple[np.ndarray, np.ndarray]:
    """(paid scores, rewards): the budget in proportion to the positive scores."""
    paid = np.maximum(scores, 0.0)
    if not (paid > 0).any():
        by_name = {a: float(x) for a, x in zip(annotators, scores, strict=True)}
        listing = ", ".join(f"{a}={x:.4g}" for a, x in list(by_name.items())[:10])
        more = ", ..." if len(by_name) > 10 else ""
        raise NoPositiveScoresError(
            f"no annotator has a positive score ({listing}{more}); the budget cannot be split",
            scores=by_name,
        )
    return paid, budget * paid / paid.sum()


def _agreement(
    n_true: np.ndarray, n_all: np.ndarray, n_kept: np.ndarray, n_j: int, n_k: int
) -> tuple[AgreementSummary, tuple[AgreementSummary, ...]]:
    """Agreement over, per label, the items every remaining annotator answered."""
    raters = (n_kept > 0).sum(axis=0)  # remaining annotators per label
    complete = (n_all.reshape(n_j, n_k) == raters[None, :]) & (raters[None, :] > 0)
    nt, na = n_true.reshape(n_j, n_k), n_all.reshape(n_j, n_k)
    pooled = agreement_from_counts(nt[complete], na[complete])
    by_label = tuple(
        agreement_from_counts(nt[complete[:, k], k], na[complete[:, k], k]) for k in range(n_k)
    )
    return pooled, by_label


def time_stats(table: AnnotationTable) -> tuple[TimeStats | None, TimeStats | None]:
    """Times per label and per (label, annotator) of every run's result: all answers,
    whatever the rule, so computed once per table (and ahead, while a run starts)."""
    stats: tuple[TimeStats | None, TimeStats | None] = table.derived(
        "time_stats", lambda: _label_pair_stats(table)
    )
    return stats


def _label_pair_stats(table: AnnotationTable) -> tuple[TimeStats | None, TimeStats | None]:
    grouped = pair_times(table)
    return (None, None) if grouped is None else label_time_stats(grouped, len(table.labels))
