"""The data of a training run: labels from the annotations and the fixed held-out split.

Labels per (case, label): the reviewer's adjudication where there is one, else the project's
truth rule over the current human readings (majority or Dawid–Skene; AI labels are in their
own table and never count). Only cases with an answer for every trained label are used. The
split is stratified on each case's rarest positive label and fixed by the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from markit_core.agreement.measures import MISSING
from markit_core.agreement.truth import normalise_truth
from markit_core.errors import ValidationError

__all__ = ["TRAINABLE", "VAL_SHARE", "PreparedData", "prepare_training", "stratified_split"]

TRAINABLE = {"pathologies": "demo-pathologies"}  # task -> base model whose architecture is used
VAL_SHARE = 0.25


@dataclass(frozen=True)
class PreparedData:
    labels: tuple[str, ...]
    case_ids: tuple[int, ...]
    targets: np.ndarray  # (N, L) float32 0/1
    train_idx: np.ndarray
    val_idx: np.ndarray


def stratified_split(targets: np.ndarray, seed: int, val_share: float = VAL_SHARE):
    """Train / validation row indices, stratified on each row's rarest positive label.

    Deterministic for a given ``seed``; every stratum with two or more rows puts at least
    one in each part.
    """
    n, n_labels = targets.shape
    prevalence = targets.mean(axis=0) if n else np.zeros(n_labels)
    order = np.argsort(prevalence, kind="stable")
    strata = np.full(n, -1)
    for k in order[::-1]:  # rarest last, so it wins
        strata[targets[:, k] > 0.5] = k
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        rows = rows[rng.permutation(rows.size)]
        n_val = int(round(rows.size * val_share))
        n_val = min(max(n_val, 1 if rows.size >= 2 else 0), rows.size - 1 if rows.size > 1 else 0)
        val.extend(int(r) for r in rows[:n_val])
        train.extend(int(r) for r in rows[n_val:])
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(val, dtype=np.int64))


def prepare_training(
    session: Session, project_id: int, task: str, *, truth: str, seed: int, minimum: int
) -> PreparedData:
    """Labels for every fully answered case and the fixed split; refuses below ``minimum``."""
    from markit_core.review.answers import load_answers

    if task not in TRAINABLE:
        raise ValidationError(
            f"cannot train task {task!r} from annotations; trainable: {', '.join(TRAINABLE)}"
        )
    answers = load_answers(session, project_id)
    consensus = answers.consensus(normalise_truth(truth))  # (K, J), adjudication first
    if not answers.labels:
        raise ValidationError("the project has no present/absent labels to train on")
    complete = (consensus != MISSING).all(axis=0)
    n = int(complete.sum())
    if n < minimum:
        raise ValidationError(
            f"only {n} case(s) have an answer for every label ({', '.join(answers.labels)}); "
            f"training needs at least {minimum} (set the minimum on the AI-assist page)"
        )
    targets = consensus[:, complete].T.astype(np.float32)
    train_idx, val_idx = stratified_split(targets, seed)
    return PreparedData(
        answers.labels,
        tuple(int(c) for c in answers.case_ids[complete]),
        targets,
        train_idx,
        val_idx,
    )
