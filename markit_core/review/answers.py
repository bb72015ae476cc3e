"""Dense current answers of a project and their consensus: the data layer of review.

Reads the *current* readings (highest non-deleted version of each
annotator's annotation, see :mod:`markit_core.annotation.current`) of a project's
active binary labels into one array ``values[label, annotator, case]`` coded
1 / 0 / -1 (missing), so the review figures are a few numpy reductions and
the functions of :mod:`markit_core.agreement.measures` apply directly. Query helpers
only: :mod:`markit_core.review.views` checks permissions.

Consensus
---------
A reviewer's adjudication, where one exists, *is* the answer for that
(case, label): it overrides the vote. Elsewhere the consensus is the
majority of the current readers (a tie is False, as in the paper's
Algorithm 1) or, on request, the Dawid–Skene estimate, which lets careful
readers outvote careless ones.

AI reference
------------
Functions that can compare with an AI take an optional ``ai`` mapping
``{(case_id, label name): bool}``; when it is not given they ask
:func:`load_ai_reference`: the stored predictions of the project's active
pathology model (AI-assist page), thresholded at the project's threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from markit_core.agreement.measures import MISSING
from markit_core.agreement.truth import dense_truth, normalise_truth
from markit_core.annotation.current import visible_cases
from markit_core.annotation.snapshot import dense_answers
from markit_core.db import require_id
from markit_core.errors import ValidationError
from markit_core.labels import active_binary_labels
from markit_core.models import Adjudication, Case, LedgerHead, User

__all__ = [
    "AiReference",
    "ProjectAnswers",
    "case_display_name",
    "case_name",
    "load_ai_reference",
    "load_answers",
]

AiReference = Mapping[tuple[int, str], bool]


def load_ai_reference(session: Session, project_id: int) -> AiReference | None:
    """The AI's answer per (case id, label name), or None when the project has none.

    Read from the stored predictions of the project's active pathology model
    (:func:`markit_core.inference.store.ai_reference`); without one every
    "vs AI" figure is left out.
    """
    from markit_core.inference.store import ai_reference

    return ai_reference(session, project_id)


@dataclass(frozen=True, eq=False)
class ProjectAnswers:
    """Current binary answers of a project, dense.

    Attributes
    ----------
    case_ids : (J,) int64
        Cases with at least one answer, ascending.
    case_names : tuple of str
        ``"#<id> <file name>"`` per case (unique, short).
    annotators : tuple of str
        Usernames with at least one answer, sorted.
    labels, label_ids : tuple
        Active binary labels in display order.
    values : (K, I, J) int8
        1 / 0 / -1 (missing).
    grades : (K, I, J) int8
        Confidence grade 0..100, -1 where missing (``confidence`` as floats).
    adjudicated : (K, J) int8
        Reviewer's final answer, -1 where none.
    """

    case_ids: np.ndarray
    case_names: tuple[str, ...]
    annotators: tuple[str, ...]
    labels: tuple[str, ...]
    label_ids: tuple[int, ...]
    values: np.ndarray
    grades: np.ndarray
    adjudicated: np.ndarray
    _consensus: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @cached_property
    def confidence(self) -> np.ndarray:
        """(K, I, J) float grades, NaN where missing (made on first use: 8 bytes a cell)."""
        return self.confidence_of(slice(None))

    def confidence_of(self, k: int | slice) -> np.ndarray:
        """Float grades of label position ``k`` (or a slice of them), NaN where missing."""
        out = self.grades[k].astype(float)
        out[out == MISSING] = np.nan
        return out

    def label_index(self, label: str | int) -> int:
        """Position of a label given by name or id (ValidationError if not active)."""
        keys = self.label_ids if isinstance(label, int) else self.labels
        if label not in keys:
            raise ValidationError(
                f"label {label!r} is not an active present/absent label of this project"
            )
        return keys.index(label)

    def consensus(self, truth: str = "majority") -> np.ndarray:
        """(K, J) int8: adjudication where present, else the truth rule; -1 where nobody answered.

        Dawid-Skene is fitted per label on the current answers.
        """
        rule = normalise_truth(truth)
        if rule not in self._consensus:  # a page asks for it per figure: work it out once
            out = np.full(self.adjudicated.shape, MISSING, dtype=np.int8)
            for k in range(len(self.labels)):
                out[k] = dense_truth(self.values[k], rule)
            done = np.where(self.adjudicated != MISSING, self.adjudicated, out).astype(np.int8)
            done.flags.writeable = False
            self._consensus[rule] = done
        return self._consensus[rule]

    def ai_matrix(self, ai: AiReference | None) -> np.ndarray | None:
        """(K, J) int8 AI reference in this object's codes, or None."""
        if not ai:
            return None
        out = np.full((len(self.labels), len(self.case_ids)), MISSING, dtype=np.int8)
        pos = {int(c): j for j, c in enumerate(self.case_ids)}
        for (case_id, label), value in ai.items():
            if label in self.labels and int(case_id) in pos:
                out[self.labels.index(label), pos[int(case_id)]] = int(bool(value))
        return out


def case_name(case: Case) -> str:
    """Short unique display name of a case: ``#id`` and its neutral ``Case.original_name``.

    ``original_name`` never holds the uploaded file name (see
    :func:`markit_core.imaging.case_record.display_name`), so this is safe to show
    to annotators and reviewers.
    """
    return case_display_name(case.id, case.original_name)


def case_display_name(case_id: int | None, original_name: str | None) -> str:
    """:func:`case_name` from the two columns it reads (for lists of many cases)."""
    base = (original_name or "").rsplit("/", 1)[-1]
    return f"#{case_id} {base}".strip()


def load_answers(session: Session, project_id: int, viewer: User | None = None) -> ProjectAnswers:
    """Dense current answers of a project (a query helper: callers check permissions).

    With a ``viewer`` who holds the annotator role in the project, only the
    cases they have read themselves are included (independent reading: they
    never see others' answers on a case before reading it). Memoised on the
    session for as long as the ledger head does not move: every change to
    answers, labels or adjudications appends to the ledger, so a page drawing
    four figures from one session loads the answers once.
    """
    only = None if viewer is None else visible_cases(session, viewer, project_id)
    head = session.exec(select(LedgerHead.seq)).first()
    scope = None if only is None else frozenset(only)
    key = ("review_answers", project_id, head, scope)
    memo = session.info.get(key)
    if memo is None:
        for old in [k for k in session.info if k[:2] == key[:2] and k[2] != head]:
            del session.info[old]  # answers of an older head
        memo = session.info[key] = _load_answers(session, project_id, scope)
    return memo


def _load_answers(
    session: Session, project_id: int, only: frozenset[int] | None = None
) -> ProjectAnswers:
    labels = active_binary_labels(session, project_id)
    label_ids = [require_id(lb) for lb in labels]
    label_pos = {lid: p for p, lid in enumerate(label_ids)}
    snap = dense_answers(session, project_id)
    known = np.isin(label_ids, snap.label_ids)
    rows = np.searchsorted(snap.label_ids, np.asarray(label_ids, dtype=np.int64)[known])
    values = snap.value[rows]  # the active labels the snapshot holds, in display order
    answered = (values != MISSING).any(axis=(0, 1))
    if only is not None:
        answered &= np.isin(snap.case_ids, list(only))
    readers = (values[:, :, answered] != MISSING).any(axis=(0, 2))
    present = [int(u) for u in snap.annotator_ids[readers]]
    usernames = dict(
        session.exec(select(User.id, User.username).where(col(User.id).in_(present))).all()
    )
    order = sorted(range(len(present)), key=lambda n: usernames[present[n]])
    i = np.flatnonzero(readers)[order]
    j = np.flatnonzero(answered)
    case_ids = snap.case_ids[j].astype(np.int64)
    dense = _taken(snap.value, known, rows, i, j)
    grades = _taken(snap.confidence, known, rows, i, j)
    adjudicated = np.full((len(labels), len(case_ids)), MISSING, dtype=np.int8)
    for case_id, label_id, value in session.exec(
        select(Adjudication.case_id, Adjudication.label_id, Adjudication.value).where(
            Adjudication.project_id == project_id
        )
    ):
        jj = int(np.searchsorted(case_ids, case_id))
        if label_id in label_pos and jj < len(case_ids) and case_ids[jj] == case_id:
            adjudicated[label_pos[label_id], jj] = int(value)
    return ProjectAnswers(
        case_ids,
        _case_names(session, project_id, case_ids),
        tuple(usernames[present[n]] for n in order),
        tuple(lb.name for lb in labels),
        tuple(label_ids),
        dense,
        grades,
        adjudicated,
    )


def _taken(
    full: np.ndarray, known: np.ndarray, rows: np.ndarray, i: np.ndarray, j: np.ndarray
) -> np.ndarray:
    """``full[rows][:, i][:, :, j]`` placed at the ``known`` label positions (-1 elsewhere).

    Whole axes are taken as they are (no fancy-index copy), the common case of a
    reviewer who sees every case and readers whose names sort like their ids.
    """
    whole_i = len(i) == full.shape[1] and bool((i == np.arange(len(i))).all())
    whole_j = len(j) == full.shape[2] and bool((j == np.arange(len(j))).all())
    part = full[rows]
    if not whole_i:
        part = part[:, i]
    if not whole_j:
        part = part[:, :, j]
    if bool(known.all()):
        return part
    out = np.full((len(known), len(i), len(j)), MISSING, dtype=full.dtype)
    out[known] = part
    return out


def _case_names(session: Session, project_id: int, case_ids: np.ndarray) -> tuple[str, ...]:
    """:func:`case_name` of each case, reading only the two columns it needs (PostgreSQL
    sends them as two arrays in one row: 10^5 cases in a fifth of the time)."""
    table = Case.__table__  # type: ignore[attr-defined]
    mine = table.c.project_id == project_id
    conn = session.connection()
    stored: dict[int, str | None]
    if conn.dialect.name == "postgresql":
        ids, names = conn.execute(
            sa_select(func.array_agg(table.c.id), func.array_agg(table.c.original_name)).where(mine)
        ).one()
        stored = dict(zip(ids or (), names or (), strict=True))
    else:
        stored = {
            cid: name
            for cid, name in conn.execute(sa_select(table.c.id, table.c.original_name).where(mine))
        }
    return tuple(case_display_name(c, stored[c]) for c in case_ids.tolist())
