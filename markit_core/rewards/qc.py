"""The paper's "AI as quality controller": Cohen's kappa of every (annotator, label) pair
vs the AI reference, and the pairs whose kappa is not above the threshold.

The first step of :func:`~markit_core.rewards.engine.compute_rewards`; the rule is
described in ``docs/reward-math.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markit_core.agreement.measures import MISSING, kappa_from_confusion
from markit_core.errors import ValidationError
from markit_core.rewards.table import AnnotationTable

__all__ = [
    "Exclusion",
    "KeptAnswers",
    "check_reference",
    "exclusions_of",
    "kappa_table",
    "kappa_vs_items",
    "kept_answers",
    "quality_control",
]


@dataclass(frozen=True)
class Exclusion:
    """An (annotator, label) pair dropped by quality control, with its kappa vs AI."""

    annotator: str
    label: str
    kappa: float
    shared_items: int


def kappa_table(
    cell: np.ndarray, answer: np.ndarray, reference: np.ndarray, n_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """Kappa and item count per cell of answers vs reference answers (both bool)."""
    code = cell * 4 + answer.astype(np.intp) * 2 + reference.astype(np.intp)
    c = np.bincount(code, minlength=n_cells * 4).reshape(n_cells, 4)
    # columns: (answer, reference) = (0,0), (0,1), (1,0), (1,1)
    return kappa_from_confusion(c[:, 3], c[:, 2], c[:, 1], c[:, 0]), c.sum(axis=1)


def kappa_vs_items(
    cell: np.ndarray, answer: np.ndarray, truth: np.ndarray, n_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`kappa_table` of answers (codes ``item * 2 + value``) vs a per-item bool answer.

    The (answer, reference) class is looked up per answer code instead of
    gathering the reference per answer: the same counts in fewer passes.
    """
    said = np.arange(2 * truth.shape[0]) % 2
    cls = said * 2 + np.repeat(truth.astype(np.intp), 2)
    c = np.bincount(cell * 4 + cls[answer], minlength=n_cells * 4).reshape(n_cells, 4)
    return kappa_from_confusion(c[:, 3], c[:, 2], c[:, 1], c[:, 0]), c.sum(axis=1)


def check_reference(
    ai: np.ndarray, table: AnnotationTable, what: str = "AI reference"
) -> np.ndarray:
    """``ai`` as a (J, K) int8 matrix coded 1 / 0 / -1; ValidationError naming ``what``."""
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
    ref = check_reference(ai, table).ravel()[table.item_index()]
    has = ref != MISSING
    cell = table.cell_index()[has]
    kappa, shared = kappa_table(cell, table.value[has], ref[has] == 1, n_i * n_k)
    kappa, shared = kappa.reshape(n_i, n_k), shared.reshape(n_i, n_k)
    excluded = (shared > 0) & ~(kappa > kappa_threshold)
    return kappa, shared, excluded


def exclusions_of(
    table: AnnotationTable,
    kappa_ai: np.ndarray | None,
    shared: np.ndarray,
    excluded: np.ndarray,
) -> tuple[Exclusion, ...]:
    """The excluded pairs as :class:`Exclusion` records (none without AI)."""
    if kappa_ai is None:
        return ()
    return tuple(
        Exclusion(table.annotators[i], table.labels[k], float(kappa_ai[i, k]), int(shared[i, k]))
        for i, k in zip(*np.nonzero(excluded), strict=True)
    )


@dataclass(frozen=True, eq=False)
class KeptAnswers:
    """The answers quality control kept, as flat codes (see ``AnnotationTable``).

    ``keep`` is a mask over all the table's answers; ``cell`` (annotator * K + label),
    ``item`` (case * K + label), ``value`` and ``answer`` (item * 2 + value) hold the
    kept answers only.
    """

    keep: np.ndarray
    cell: np.ndarray
    item: np.ndarray
    value: np.ndarray
    answer: np.ndarray  # item * 2 + value
    everything: bool = False  # nothing excluded: the arrays are the table's own


def kept_answers(table: AnnotationTable, excluded: np.ndarray) -> KeptAnswers:
    """The answers of the (annotator, label) pairs that ``excluded`` does not drop."""
    cell_all, item_all = table.cell_index(), table.item_index()
    if not excluded.any():  # the usual case: every answer kept, no copies
        keep = table.derived("all_kept", lambda: np.ones(table.n_annotations, dtype=bool))
        answer = table.answer_code()
        return KeptAnswers(keep, cell_all, item_all, table.value, answer, everything=True)
    keep = ~excluded.ravel()[cell_all]
    item, value = item_all[keep], table.value[keep]
    return KeptAnswers(keep, cell_all[keep], item, value, item * 2 + value)
