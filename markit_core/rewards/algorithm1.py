"""Algorithm 1 of the MarkIt paper on the kept answers: votes and the pseudo answer per
item (image x label), its difficulty, each answer's credit, and the task value T.

Arrays are indexed by item ``case * K + label`` and by cell ``annotator * K + label``
(see :class:`markit_core.rewards.table.AnnotationTable`); ``docs/reward-math.md``
gives the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markit_core.agreement.dawid_skene import dawid_skene_long
from markit_core.agreement.measures import MISSING

__all__ = ["Votes", "answer_codes", "dr_sums", "task_value", "vote_counts", "votes"]


@dataclass(frozen=True)
class Votes:
    """Algorithm 1 per item (image x label): votes, pseudo answer, majority size, difficulty."""

    n_all: np.ndarray
    n_true: np.ndarray
    answered: np.ndarray
    pseudo: np.ndarray
    majority: np.ndarray
    d_scaled: np.ndarray  # 2 (1/2 - majority share): 0 for a unanimous item
    label_of_item: np.ndarray
    ds_sensitivity: np.ndarray | None  # (I, K) with the Dawid-Skene rule, else None
    ds_specificity: np.ndarray | None
    ds_converged: bool | None = None  # with the Dawid-Skene rule: did EM converge
    ds_iterations: int = 0


def votes(
    rule: str,
    cell: np.ndarray,
    item: np.ndarray,
    value: np.ndarray,
    n_i: int,
    n_j: int,
    n_k: int,
    *,
    adjudicated: np.ndarray | None = None,
    max_iter: int = 10_000,
    tol: float = 1e-6,
    answer: np.ndarray | None = None,
) -> Votes:
    """Votes and pseudo answer per item; ``adjudicated`` (J*K codes 1 / 0 / -1 none), where
    given, is the pseudo answer of an item that has answers. ``answer``: the answers'
    ``item * 2 + value`` codes when the caller has them."""
    n_items = n_j * n_k
    label_of_item = np.arange(n_items) % n_k
    n_true, n_false = vote_counts(item, value, n_items, answer)
    n_all = n_true + n_false
    answered = n_all > 0
    ds_sens = ds_spec = None
    ds_converged, ds_iterations = None, 0
    if rule == "majority":
        pseudo = n_true > n_false
    else:
        ds = dawid_skene_long(
            cell,
            item,
            value,
            n_i * n_k,
            n_items,
            item_group=label_of_item,
            max_iter=max_iter,
            tol=tol,
        )
        pseudo = ds.truth & answered
        ds_sens = ds.sensitivity.reshape(n_i, n_k)
        ds_spec = ds.specificity.reshape(n_i, n_k)
        ds_converged, ds_iterations = ds.converged, ds.n_iter
    if adjudicated is not None:
        pseudo = np.where(adjudicated != MISSING, adjudicated == 1, pseudo) & answered
    majority = np.where(pseudo, n_true, n_false)
    d_scaled = 2.0 * (0.5 - np.divide(majority, n_all, out=np.zeros(n_items), where=answered))
    return Votes(
        n_all,
        n_true,
        answered,
        pseudo,
        majority,
        d_scaled,
        label_of_item,
        ds_sens,
        ds_spec,
        ds_converged,
        ds_iterations,
    )


def vote_counts(
    item: np.ndarray, value: np.ndarray, n_items: int, answer: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(True votes, False votes) per item: one ``bincount`` of ``answer = item * 2 + value``."""
    code = answer_codes(item, value) if answer is None else answer
    counts = np.bincount(code, minlength=2 * n_items).reshape(n_items, 2)
    return counts[:, 1].copy(), counts[:, 0].copy()


def answer_codes(item: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``item * 2 + value``: an answer's item and what it said, as one code."""
    return item * 2 + value


def dr_sums(
    v: Votes,
    cell: np.ndarray,
    item: np.ndarray,
    value: np.ndarray,
    n_cells: int,
    answer: np.ndarray | None = None,
) -> np.ndarray:
    """Sum over each (annotator, label) of D~ r~: difficulty times the scaled credit.

    The term depends only on the item and on the answer, so it is computed per
    (item, answer) -- the same operations on the same numbers as per answer --
    and gathered by the answer code (``answer``, default ``item * 2 + value``).
    """
    code = answer_codes(item, value) if answer is None else answer
    per_answer = answer_terms(v.d_scaled, v.majority, v.pseudo)
    return np.bincount(cell, per_answer.ravel()[code], n_cells)


def answer_terms(d_scaled: np.ndarray, majority: np.ndarray, pseudo: np.ndarray) -> np.ndarray:
    """(items, 2) D~ r~ of an answer by (item, what it said): ``answer_codes`` index it."""
    credit = np.zeros((pseudo.shape[0], 2))
    counted = majority > 0  # an answer that agrees is itself in the majority
    for said in (False, True):
        np.divide(1.0, majority, out=credit[:, int(said)], where=counted & (pseudo == said))
    return d_scaled[:, None] * (4.0 * (0.25 - credit))


def task_value(v: Votes, n_k: int) -> np.ndarray:
    """T per label: the share of answered images whose pseudo answer is present."""
    images_per_label = np.bincount(v.label_of_item[v.answered], minlength=n_k)
    true_per_label = np.bincount(v.label_of_item[v.answered & v.pseudo], minlength=n_k)
    return np.divide(
        true_per_label, images_per_label, out=np.zeros(n_k), where=images_per_label > 0
    )
