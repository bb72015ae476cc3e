"""Review read-models and adjudication: what the review page shows and stores.

Every function checks the caller's permission (``Action.REVIEW``; the
annotator's own calibration, re-exported from :mod:`markit_core.review.calibration`,
needs ``Action.ANNOTATE``), reads the project's
current answers through :func:`markit_core.review.answers.load_answers` and
returns plain read-models (numpy arrays indexed by name tuples), never ORM
objects. ``adjudicate`` is the only writer: one transaction with its ledger
entry. Consensus = adjudication where present, else majority (or
Dawid–Skene); see :mod:`markit_core.review.answers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlmodel import Session, col, select

from markit_core.access import Action, require
from markit_core.agreement.measures import (
    MISSING,
    cohen_kappa_vs_reference,
    kappa_from_confusion,
    pair_confusion,
)
from markit_core.annotation.current import current_annotation_ids
from markit_core.annotation.queue import case_in_project
from markit_core.config import Settings
from markit_core.models import Annotation, LabelDef, Roi, User
from markit_core.review.adjudication import (
    MAX_NOTE,
    AdjudicationView,
    adjudicate,
    adjudications,
)
from markit_core.review.answers import (
    AiReference,
    ProjectAnswers,
    load_ai_reference,
    load_answers,
)
from markit_core.review.calibration import Calibration, calibration

if TYPE_CHECKING:
    from markit_core.imaging.display import RenderedImage

__all__ = [
    "MAX_NOTE",
    "AdjudicationView",
    "AiReference",
    "Calibration",
    "Disagreement",
    "LabelMatrix",
    "PairAgreement",
    "ProjectAnswers",
    "RegionView",
    "Reliability",
    "adjudicate",
    "annotator_agreement",
    "calibration",
    "case_picture",
    "disagreements",
    "label_matrix",
    "load_ai_reference",
    "load_answers",
    "reliability",
    "reviewable",
]

# --- heatmap read-models ---------------------------------------------------


def reviewable(
    session: Session, actor: User, project_id: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(active present/absent labels, annotators with at least one answer): the page's choices."""
    require(session, actor, project_id, Action.REVIEW)
    ans = load_answers(session, project_id, actor)
    return ans.labels, ans.annotators


@dataclass(frozen=True, eq=False)
class LabelMatrix:
    """Cases x annotators for one label.

    ``values`` (J, I) 1/0/-1 and ``confidence`` (J, I) NaN where missing;
    ``consensus`` (J,) and ``adjudicated`` (J,) bool per case.
    """

    label: str
    case_ids: tuple[int, ...]
    case_names: tuple[str, ...]
    annotators: tuple[str, ...]
    values: np.ndarray
    confidence: np.ndarray
    consensus: np.ndarray
    adjudicated: np.ndarray


def label_matrix(
    session: Session, actor: User, project_id: int, label: str | int, *, truth: str = "majority"
) -> LabelMatrix:
    """Every current answer to one label, for the cases x annotators heatmap.

    Only cases with at least one answer to the label are rows, so a large
    project's unread cases do not bury the figure.
    """
    require(session, actor, project_id, Action.REVIEW)
    ans = load_answers(session, project_id, actor)
    k = ans.label_index(label)
    rows = (ans.values[k] != MISSING).any(axis=0)
    return LabelMatrix(
        ans.labels[k],
        tuple(int(c) for c in ans.case_ids[rows]),
        tuple(n for n, r in zip(ans.case_names, rows, strict=True) if r),
        ans.annotators,
        ans.values[k][:, rows].T.copy(),
        ans.confidence_of(k)[:, rows].T.copy(),
        ans.consensus(truth)[k, rows],
        ans.adjudicated[k, rows] != MISSING,
    )


@dataclass(frozen=True, eq=False)
class Reliability:
    """Annotators x labels: Cohen's kappa vs consensus (and vs AI) with item counts.

    A kappa is NaN where the annotator shares no item with the reference.
    """

    annotators: tuple[str, ...]
    labels: tuple[str, ...]
    kappa_vs_consensus: np.ndarray
    items_vs_consensus: np.ndarray
    kappa_vs_ai: np.ndarray | None
    items_vs_ai: np.ndarray | None


def _kappas(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(I, K) kappa and shared counts of each annotator vs a (K, J) reference."""
    n_k, n_i = values.shape[0], values.shape[1]
    kappa, count = np.full((n_i, n_k), np.nan), np.zeros((n_i, n_k), np.int64)
    for k in range(n_k):
        kappa[:, k] = cohen_kappa_vs_reference(values[k], reference[k])
        count[:, k] = ((values[k] != MISSING) & (reference[k] != MISSING)[None, :]).sum(axis=1)
    return kappa, count


def reliability(
    session: Session,
    actor: User,
    project_id: int,
    *,
    truth: str = "majority",
    ai: AiReference | None = None,
) -> Reliability:
    """Each annotator's Cohen's kappa per label against the consensus and, if any, the AI."""
    require(session, actor, project_id, Action.REVIEW)
    ans = load_answers(session, project_id, actor)
    kappa, count = _kappas(ans.values, ans.consensus(truth))
    ai_ref = ans.ai_matrix(ai if ai is not None else load_ai_reference(session, project_id))
    kappa_ai, count_ai = _kappas(ans.values, ai_ref) if ai_ref is not None else (None, None)
    return Reliability(ans.annotators, ans.labels, kappa, count, kappa_ai, count_ai)


@dataclass(frozen=True, eq=False)
class PairAgreement:
    """Annotator x annotator Cohen's kappa, raw agreement rate and shared items (I, I)."""

    annotators: tuple[str, ...]
    label: str | None
    kappa: np.ndarray
    agreement_rate: np.ndarray
    shared: np.ndarray


def annotator_agreement(
    session: Session, actor: User, project_id: int, label: str | int | None = None
) -> PairAgreement:
    """Pairwise agreement on one label, or pooled over all labels when ``label`` is None.

    Pooling treats every (case, label) as one item, which is what a PI asks
    first ("do these two read alike?"); per label shows where they differ.
    """
    require(session, actor, project_id, Action.REVIEW)
    ans = load_answers(session, project_id, actor)
    if label is None:
        # (labels, annotators, cases) -> (annotators, labels * cases); explicit size so that a
        # project without answers gives an empty matrix instead of a reshape error
        n_items = ans.values.shape[0] * ans.values.shape[2]
        v, name = ans.values.transpose(1, 0, 2).reshape(len(ans.annotators), n_items), None
    else:
        k = ans.label_index(label)
        v, name = ans.values[k], ans.labels[k]
    n11, n10, n01, n00 = pair_confusion(v)
    shared = n11 + n10 + n01 + n00
    same = n11 + n00
    rate = np.divide(same, shared, out=np.full(shared.shape, np.nan), where=shared > 0)
    return PairAgreement(
        ans.annotators,
        name,
        kappa_from_confusion(n11, n10, n01, n00),
        rate,
        shared.astype(np.int64),
    )


# --- disagreements and adjudication -----------------------------------------


@dataclass(frozen=True)
class RegionView:
    """One stored region: label name, shape and (x, y) points in image pixels."""

    label: str
    shape: str
    points: tuple[tuple[float, float], ...]
    frame: int = 0


@dataclass(frozen=True)
class Disagreement:
    """A (case, label) where current readers differ, with everything a reviewer needs.

    ``answers`` maps annotator -> (value, confidence); ``regions`` maps every
    reader of the case -> their regions on it (all labels); ``consensus`` is
    the adjudicated answer if any, else the truth rule's.
    """

    case_id: int
    case_name: str
    label_id: int
    label: str
    answers: dict[str, tuple[bool, int | None]]
    n_true: int
    n_false: int
    consensus: bool
    adjudication: AdjudicationView | None
    regions: dict[str, tuple[RegionView, ...]]


def _regions(
    session: Session, project_id: int, case_ids: list[int]
) -> dict[tuple[int, str], list[RegionView]]:
    ids = current_annotation_ids(project_id).subquery()
    rows = session.exec(
        select(Annotation.case_id, User.username, LabelDef.name, Roi)
        .join(Roi, col(Roi.annotation_id) == Annotation.id)
        .join(User, col(User.id) == Annotation.annotator_id)
        .join(LabelDef, col(LabelDef.id) == Roi.label_id)
        .where(col(Annotation.id).in_(select(ids.c.id)), col(Annotation.case_id).in_(case_ids))
        .order_by(col(Roi.id))
    ).all()
    out: dict[tuple[int, str], list[RegionView]] = {}
    for case_id, user, label, roi in rows:
        points = tuple((float(x), float(y)) for x, y in roi.points)
        out.setdefault((case_id, user), []).append(RegionView(label, roi.shape, points, roi.frame))
    return out


def disagreements(
    session: Session,
    actor: User,
    project_id: int,
    *,
    label: str | int | None = None,
    include_adjudicated: bool = True,
    truth: str = "majority",
) -> list[Disagreement]:
    """Every (case, label) whose current readers do not all agree, ordered by case then label."""
    require(session, actor, project_id, Action.REVIEW)
    ans = load_answers(session, project_id, actor)
    n_true = (ans.values == 1).sum(axis=1)
    n_false = (ans.values == 0).sum(axis=1)
    split = (n_true > 0) & (n_false > 0)
    if label is not None:
        only = np.zeros_like(split)
        only[ans.label_index(label)] = True
        split &= only
    if not include_adjudicated:
        split &= ans.adjudicated == MISSING
    ks, js = np.nonzero(split)
    order = np.lexsort((ks, js))
    ks, js = ks[order], js[order]
    cons = ans.consensus(truth)
    adjs = adjudications(session, project_id)
    case_ids = [int(ans.case_ids[j]) for j in js]
    regions = _regions(session, project_id, sorted(set(case_ids)))
    out = []
    for k, j, case_id in zip(ks, js, case_ids, strict=True):
        who = np.nonzero(ans.values[k, :, j] != MISSING)[0]
        conf = ans.grades[k, :, j]
        out.append(
            Disagreement(
                case_id,
                ans.case_names[j],
                ans.label_ids[k],
                ans.labels[k],
                {
                    ans.annotators[i]: (
                        bool(ans.values[k, i, j]),
                        None if conf[i] == MISSING else int(conf[i]),
                    )
                    for i in who
                },
                int(n_true[k, j]),
                int(n_false[k, j]),
                bool(cons[k, j] == 1),
                adjs.get((case_id, ans.label_ids[k])),
                {
                    a: tuple(regions.get((case_id, a), ()))
                    for a in ans.annotators
                    if (ans.values[:, ans.annotators.index(a), j] != MISSING).any()
                },
            )
        )
    return out


def next_disagreement(
    items: list[Disagreement], case_id: int, label_id: int
) -> tuple[int, int] | None:
    """The (case id, label id) a reviewer moves on to after deciding ``(case_id, label_id)``.

    The first not yet adjudicated item after it in list order (wrapping round), else
    simply the next item; ``None`` when there is nothing else to go to.

    Parameters
    ----------
    items : list of Disagreement
        The list the reviewer was working through, as it was shown.
    case_id, label_id : int
        The item just decided.
    """
    keys = [(d.case_id, d.label_id) for d in items]
    if (case_id, label_id) not in keys or len(keys) < 2:
        return None
    at = keys.index((case_id, label_id))
    after = [items[(at + n) % len(items)] for n in range(1, len(items))]
    pick = next((d for d in after if d.adjudication is None), after[0])
    return pick.case_id, pick.label_id


def case_picture(
    session: Session,
    settings: Settings,
    actor: User,
    project_id: int,
    case_id: int,
    size: int = 384,
) -> RenderedImage:
    """The case's image rendered to fit ``size`` x ``size`` (a ``RenderedImage``), for reviewers.

    Decoded pixels come from the process-wide cache, so showing the same case
    to several annotator columns decodes it once.
    """
    from markit_core.imaging.display import ViewState, render
    from markit_core.imaging.stored import decoded_case_image

    require(session, actor, project_id, Action.REVIEW)
    case = case_in_project(session, project_id, case_id)
    return render(decoded_case_image(settings, case.stored_path), ViewState(viewport=(size, size)))
