"""AI quality control, Algorithm 1 and Eq. 1 of the MarkIt paper.

The rules are described in ``docs/reward-math.md``. Everything is vectorised over the
answers of an :class:`~markit_core.rewards.table.AnnotationTable` with
``np.bincount`` on flat codes: ``item = case * K + label`` for a (j, k) item
and ``cell = annotator * K + label`` for an (i, k) pair. No Python loop runs
over answers; the only loop is over labels for the per-label agreement
figures.

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

from markit_core.agreement.measures import (
    MISSING,
    AgreementSummary,
    agreement_from_counts,
    kappa_from_confusion,
)
from markit_core.agreement.truth import TRUTH_RULES, normalise_truth
from markit_core.errors import MarkitError, ValidationError
from markit_core.rewards import algorithm1
from markit_core.rewards.labelling_time import TimeStats, group_time_stats
from markit_core.rewards.rounding import largest_remainder
from markit_core.rewards.table import AnnotationTable

__all__ = [
    "TRUTH_RULES",
    "Exclusion",
    "NoPositiveScoresError",
    "RewardResult",
    "compute_rewards",
    "quality_control",
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


@dataclass(frozen=True)
class Exclusion:
    """An (annotator, label) pair dropped by quality control, with its kappa vs AI."""

    annotator: str
    label: str
    kappa: float
    shared_items: int


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


def _kappa_table(
    cell: np.ndarray, answer: np.ndarray, reference: np.ndarray, n_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """Kappa and item count per cell of answers vs reference answers (both bool)."""
    code = cell * 4 + answer.astype(np.intp) * 2 + reference.astype(np.intp)
    c = np.bincount(code, minlength=n_cells * 4).reshape(n_cells, 4)
    # columns: (answer, reference) = (0,0), (0,1), (1,0), (1,1)
    return kappa_from_confusion(c[:, 3], c[:, 2], c[:, 1], c[:, 0]), c.sum(axis=1)


def _check_ai(ai: np.ndarray, table: AnnotationTable, what: str = "AI reference") -> np.ndarray:
    ref = np.asarray(ai)
    shape = (len(table.cases), len(table.labels))
    if ref.shape != shape:
        raise ValidationError(f"{what} has shape {ref.shape}, expected {shape}")
    if ref.size and (ref.min() < MISSING or ref.max() > 1):
        raise ValidationError(f"{what} must be coded 1, 0 or -1 (missing)")
    return ref.astype(np.int8)


def quality_control(
    table: AnnotationTable, ai: np.ndarray | None, kappa_threshold: float = 0.05
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """The paper's "AI as quality controller" for every (annotator, label) pair.

    Parameters
    ----------
    ai : (J, K) int8, optional
        AI answer per (case, label): 1 / 0 / -1 (no reference); see
        :meth:`AnnotationTable.reference_matrix`.

    Returns
    -------
    kappa : (I, K) float or None
        Cohen's kappa vs AI on the images both have (NaN if none); None without AI.
    shared : (I, K) int
        Number of those images.
    excluded : (I, K) bool
        ``kappa`` not greater than the threshold. A pair sharing no image
        with the AI cannot be checked and is kept; without AI nothing is
        excluded.
    """
    n_i, n_k = len(table.annotators), len(table.labels)
    if ai is None:
        return None, np.zeros((n_i, n_k), np.int64), np.zeros((n_i, n_k), bool)
    ref = _check_ai(ai, table)[table.case, table.label]
    has = ref != MISSING
    cell = (table.annotator * n_k + table.label)[has]
    kappa, shared = _kappa_table(cell, table.value[has], ref[has] == 1, n_i * n_k)
    kappa, shared = kappa.reshape(n_i, n_k), shared.reshape(n_i, n_k)
    excluded = (shared > 0) & ~(kappa > kappa_threshold)
    return kappa, shared, excluded


def _label_means(table: AnnotationTable, keep: np.ndarray) -> np.ndarray:
    """Mean seconds per label over the kept, timed answers (0 for an untimed label)."""
    n_k = len(table.labels)
    if table.seconds is None:
        return np.zeros(n_k)
    ok = keep & ~np.isnan(table.seconds)
    count = np.bincount(table.label[ok], minlength=n_k)
    total = np.bincount(table.label[ok], table.seconds[ok], n_k)
    return np.divide(total, count, out=np.zeros(n_k), where=count > 0)


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
    n_i, n_j, n_k = len(table.annotators), len(table.cases), len(table.labels)
    cell_all = table.annotator * n_k + table.label
    n_answers = np.bincount(cell_all, minlength=n_i * n_k).reshape(n_i, n_k)

    kappa_ai, shared, excluded = quality_control(table, ai, kappa_threshold)
    keep = ~excluded.ravel()[cell_all]
    item = table.item_index()[keep]
    value = table.value[keep]
    cell = cell_all[keep]

    # Algorithm 1 on the kept answers (an adjudication, where given, is the pseudo answer)
    adj = None if adjudicated is None else _check_ai(adjudicated, table, "adjudication").ravel()
    v = algorithm1.votes(
        rule,
        cell,
        item,
        value,
        n_i,
        n_j,
        n_k,
        adjudicated=adj,
        max_iter=DS_MAX_ITER,
        tol=DS_TOL,
    )
    dr_sums = algorithm1.dr_sums(v, cell, item, value, n_i * n_k).reshape(n_i, n_k)
    task_value = algorithm1.task_value(v, n_k)
    means = (
        _label_means(table, keep)
        if label_seconds is None
        else _check_label_seconds(label_seconds, n_k)
    )
    top = means.max() if n_k else 0.0
    tbar = means / top if top > 0 else np.zeros(n_k)  # the time factor of Eq. 1

    # Eq. 1.
    contributions = (task_value + tbar)[None, :] * dr_sums
    scores = contributions.sum(axis=1)
    paid, rewards = _split_budget(table.annotators, scores, budget)
    payouts = largest_remainder(paid, budget, decimals)

    n_kept = np.bincount(cell, minlength=n_i * n_k).reshape(n_i, n_k)
    kappa_cons, _ = _kappa_table(cell, value, v.pseudo[item], n_i * n_k)
    consensus = np.where(v.answered, v.pseudo, MISSING).astype(np.int8).reshape(n_j, n_k)
    pooled, by_label = _agreement(v.n_true, v.n_all, n_kept, n_j, n_k)
    exclusions = _exclusions(table, kappa_ai, shared, excluded)
    t_label, t_pair = _time_stats(table)
    return RewardResult(
        annotators=table.annotators,
        labels=table.labels,
        cases=table.cases,
        budget=float(budget),
        kappa_threshold=float(kappa_threshold),
        truth_rule=rule,
        rewards=rewards,
        scores=scores,
        paid_scores=paid,
        contributions=contributions,
        dr_sums=dr_sums,
        task_value=task_value,
        tbar=tbar,
        label_mean_seconds=means,
        kappa_vs_ai=kappa_ai,
        ai_shared=shared,
        excluded=excluded,
        exclusions=exclusions,
        kappa_vs_consensus=kappa_cons.reshape(n_i, n_k),
        n_answers=n_answers,
        n_kept=n_kept,
        consensus=consensus,
        agreement=pooled,
        agreement_by_label=by_label,
        time_by_label=t_label,
        time_by_label_annotator=t_pair,
        ds_sensitivity=v.ds_sensitivity,
        ds_specificity=v.ds_specificity,
        payouts=payouts,
        decimals=int(decimals),
        ds_converged=v.ds_converged,
        ds_iterations=v.ds_iterations,
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


def _exclusions(
    table: AnnotationTable,
    kappa_ai: np.ndarray | None,
    shared: np.ndarray,
    excluded: np.ndarray,
) -> tuple[Exclusion, ...]:
    if kappa_ai is None:
        return ()
    return tuple(
        Exclusion(table.annotators[i], table.labels[k], float(kappa_ai[i, k]), int(shared[i, k]))
        for i, k in zip(*np.nonzero(excluded), strict=True)
    )


def _check_label_seconds(label_seconds: np.ndarray, n_k: int) -> np.ndarray:
    means = np.asarray(label_seconds, dtype=np.float64)
    if means.shape != (n_k,):
        raise ValidationError(f"label times have shape {means.shape}, expected ({n_k},)")
    if not np.isfinite(means).all() or (means < 0).any():
        raise ValidationError("label times must be finite and non-negative")
    return means


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


def _time_stats(table: AnnotationTable) -> tuple[TimeStats | None, TimeStats | None]:
    if table.seconds is None or np.isnan(table.seconds).all():
        return None, None
    n_i, n_k = len(table.annotators), len(table.labels)
    by_label = group_time_stats(table.seconds, table.label, n_k)
    pair = group_time_stats(table.seconds, table.label * n_i + table.annotator, n_k * n_i)
    return by_label, pair.reshape((n_k, n_i))
