"""Calibration: how an annotator's answers compare with the other readers'.

For the paper's pilot / training mode: after submitting, an annotator sees
their agreement rate and Cohen's kappa against the others' consensus, per
label, and the cases where they differed. Reviewers may look at anyone.
Re-exported by :mod:`markit_core.review.views`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from markit_core.access import Action, can, require
from markit_core.agreement.measures import MISSING, cohen_kappa_vs_reference, majority_vote
from markit_core.errors import PermissionDenied
from markit_core.models import User
from markit_core.review.answers import load_answers

__all__ = ["Calibration", "calibration"]


@dataclass(frozen=True)
class Calibration:
    """How one annotator's answers compare with the others' on the cases they submitted.

    Per label (tuples aligned with ``labels``): ``items`` compared,
    ``agreement_rate`` (share equal to the others' consensus) and ``kappa``
    (Cohen's kappa vs that consensus, NaN where undefined). ``differences``
    lists (case id, case name, label, my answer, others' consensus).
    """

    annotator: str
    cases: int
    labels: tuple[str, ...]
    items: tuple[int, ...]
    agreement_rate: tuple[float, ...]
    kappa: tuple[float, ...]
    overall_rate: float
    overall_kappa: float
    differences: tuple[tuple[int, str, str, bool, bool], ...]


def calibration(
    session: Session, actor: User, project_id: int, annotator: str | None = None
) -> Calibration:
    """Compare an annotator with the other readers, only on cases the annotator has submitted.

    The reference is the others' consensus: an adjudication where present,
    else the majority of the *other* readers (the annotator's own vote left
    out, so agreeing with oneself earns nothing). Reviewers may look at
    anyone; an annotator sees only their own figures, and only in a project
    that shows others' answers after submission (a pilot / training project),
    so independent reading is kept everywhere else.
    """
    target = annotator or actor.username
    if not can(session, actor, project_id, Action.REVIEW):
        project = require(session, actor, project_id, Action.ANNOTATE)
        if target != actor.username:
            raise PermissionDenied("annotators see only their own calibration")
        if not project.show_others_after_submit:
            raise PermissionDenied(
                "calibration is shown only in projects that show other annotators' "
                "answers after submission (pilot / training projects)"
            )
    ans = load_answers(session, project_id)
    if target not in ans.annotators:
        return Calibration(
            target,
            0,
            ans.labels,
            (0,) * len(ans.labels),
            (float("nan"),) * len(ans.labels),
            (float("nan"),) * len(ans.labels),
            float("nan"),
            float("nan"),
            (),
        )
    me = ans.annotators.index(target)
    mine = ans.values[:, me, :]
    others = np.delete(ans.values, me, axis=1)
    ref = (
        np.stack([majority_vote(others[k]) for k in range(len(ans.labels))])
        if others.shape[1]
        else np.full(mine.shape, MISSING, dtype=np.int8)
    )
    ref = np.where(ans.adjudicated != MISSING, ans.adjudicated, ref).astype(np.int8)
    both = (mine != MISSING) & (ref != MISSING)
    items = both.sum(axis=1)
    same = (both & (mine == ref)).sum(axis=1)
    rate = np.divide(same, items, out=np.full(items.shape, np.nan), where=items > 0)
    kappa = np.array(
        [cohen_kappa_vs_reference(mine[k][None, :], ref[k])[0] for k in range(len(ans.labels))]
    )
    pooled = (
        cohen_kappa_vs_reference(mine.reshape(1, -1), ref.reshape(-1))[0] if mine.size else np.nan
    )
    ks, js = np.nonzero(both & (mine != ref))
    diffs = tuple(
        sorted(
            (
                int(ans.case_ids[j]),
                ans.case_names[j],
                ans.labels[k],
                bool(mine[k, j]),
                bool(ref[k, j]),
            )
            for k, j in zip(ks, js, strict=True)
        )
    )
    total = int(items.sum())
    return Calibration(
        target,
        int((mine != MISSING).any(axis=0).sum()),
        ans.labels,
        tuple(int(x) for x in items),
        tuple(float(x) for x in rate),
        tuple(float(x) for x in kappa),
        float(same.sum() / total) if total else float("nan"),
        float(pooled),
        diffs,
    )
