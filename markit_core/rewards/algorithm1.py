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

__all__ = ["Votes", "dr_sums", "task_value", "votes"]


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
) -> Votes:
    """Votes and pseudo answer per item; ``adjudicated`` (J*K codes 1 / 0 / -1 none), where
    given, is the pseudo answer of an item that has answers."""
    n_items = n_j * n_k
    label_of_item = np.arange(n_items) % n_k
    n_all = np.bincount(item, minlength=n_items)
    n_true = np.bincount(item[value], minlength=n_items)
    n_false = n_all - n_true
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


def dr_sums(
    v: Votes, cell: np.ndarray, item: np.ndarray, value: np.ndarray, n_cells: int
) -> np.ndarray:
    """Sum over each (annotator, label) of D~ r~: difficulty times the scaled credit."""
    agree = value == v.pseudo[item]
    credit = np.zeros(item.shape[0])
    np.divide(1.0, v.majority[item], out=credit, where=agree)
    terms = v.d_scaled[item] * (4.0 * (0.25 - credit))
    return np.bincount(cell, terms, n_cells)


def task_value(v: Votes, n_k: int) -> np.ndarray:
    """T per label: the share of answered images whose pseudo answer is present."""
    images_per_label = np.bincount(v.label_of_item[v.answered], minlength=n_k)
    true_per_label = np.bincount(v.label_of_item[v.answered & v.pseudo], minlength=n_k)
    return np.divide(
        true_per_label, images_per_label, out=np.zeros(n_k), where=images_per_label > 0
    )
