"""A project's current answers kept dense and brought up to date from the ledger.

Finding the current version of every reading costs a database tens of
seconds at 10^7 answers, and review and rewards need all of them on every
page. So the answers are kept as dense arrays ``value[label, annotator, case]``
stamped with the ledger head they cover, stored in ``answer_snapshot``
(:mod:`markit_core.annotation.snapshot_store`) once they are large, and a read
applies only what happened since: every annotation version is written with
exactly one ledger entry (record type ``annotation``) in its own transaction,
and ledger entries are numbered in commit order, so the annotations named by
the entries after the stamp, applied in ledger order, give exactly the
current answers (an annotation fills its (case, annotator) column with its
values; a deleted one empties it).

The snapshot is only a copy: it is rebuilt from the annotations whenever it
cannot be trusted (the ledger entry it was stamped with changed, as after a
restore, or the project holds an annotation the ledger never named).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from markit_core.models import Annotation, AnnotationValue, LedgerEntry, LedgerHead

__all__ = ["DenseAnswers", "STORE_MIN_ANSWERS", "STORE_MIN_CHANGES", "dense_answers"]

MISSING = -1
#: Projects with fewer answers are never stored: rebuilding them is as cheap as reading.
STORE_MIN_ANSWERS = 50_000
#: A stored snapshot is rewritten once this many annotations were applied on top of it,
#: or one per :data:`ANSWERS_PER_CHANGE` answers it holds if that is more: rewriting
#: 10^7 answers (about 100 MB) every 500 submits would flood the database's log.
STORE_MIN_CHANGES = 500
ANSWERS_PER_CHANGE = 2_500
_CHUNK = 5_000  # ids per IN (...) list


@dataclass(frozen=True, eq=False)
class DenseAnswers:
    """Current non-empty answers of a project as dense arrays over sorted id axes.

    ``value`` is 1 / 0 / -1 (missing), ``confidence`` the grade or -1, ``seconds``
    NaN where not timed (None when not loaded). ``seq`` / ``ledger_hash`` are the
    ledger head the arrays cover; ``max_annotation_id`` the newest annotation seen.
    """

    seq: int
    ledger_hash: str
    max_annotation_id: int
    case_ids: np.ndarray
    annotator_ids: np.ndarray
    label_ids: np.ndarray
    value: np.ndarray
    confidence: np.ndarray
    seconds: np.ndarray | None

    @property
    def answers(self) -> int:
        """Number of non-empty answers held."""
        return int(np.count_nonzero(self.value != MISSING))


def dense_answers(
    session: Session,
    project_id: int,
    *,
    seconds: bool = False,
    store_min_answers: int = STORE_MIN_ANSWERS,
    store_min_changes: int = STORE_MIN_CHANGES,
    store_in_background: bool = True,
) -> DenseAnswers:
    """The project's current answers, from the stored snapshot plus the ledger since.

    A query helper (callers check permissions). ``seconds`` also loads the
    labelling times. The snapshot is (re)stored, on a connection of its own,
    when the project has at least ``store_min_answers`` answers and it was
    missing, untrusted, or ``store_min_changes`` annotations behind; by default
    in a background thread, so the reader who brought it up to date does not
    wait for the upload (a store lost with the process is made by a later reader).
    """
    from markit_core.annotation import snapshot_store as store

    seq, entry_hash = session.exec(select(LedgerHead.seq, LedgerHead.entry_hash)).first() or (0, "")
    stored = store.load(session, project_id, seconds=seconds)
    if stored is not None and not _trusted(session, stored):
        stored = None
    if stored is None:
        snap, changes = _build(session, project_id, seq, entry_hash), None
    else:
        # the newest annotation id first: one committed before this read has its ledger entry
        # committed with it, so the entries read next name it (an id read after them could
        # belong to a submit that committed in between, and force a needless rebuild)
        newest = _max_annotation_id(session, project_id)
        ids = _annotations_since(session, project_id, stored.seq)
        snap, changes = _apply(session, stored, ids, seq, entry_hash), len(ids)
        if newest > snap.max_annotation_id:  # written around the ledger: rebuild
            snap, changes = _build(session, project_id, seq, entry_hash), None
    big = snap.answers >= store_min_answers
    due = max(store_min_changes, snap.answers // ANSWERS_PER_CHANGE)
    if big and (changes is None or changes >= due):
        if snap.seconds is None:  # storing needs the times too: read them the same way
            return dense_answers(
                session,
                project_id,
                seconds=True,
                store_min_answers=store_min_answers,
                store_min_changes=store_min_changes,
                store_in_background=store_in_background,
            )
        if store_in_background:
            engine = store.engine_of(session)
            threading.Thread(
                target=store.save,
                args=(engine, project_id, snap),
                daemon=True,
                name=f"answer-snapshot-{project_id}",
            ).start()
        else:
            store.save(store.engine_of(session), project_id, snap)
    return snap if seconds or snap.seconds is None else replace(snap, seconds=None)


def _trusted(session: Session, snap: DenseAnswers) -> bool:
    """The ledger still holds the entry the snapshot was stamped with (not after a restore)."""
    if snap.seq == 0:
        return True
    found = session.exec(select(LedgerEntry.entry_hash).where(LedgerEntry.seq == snap.seq)).first()
    return found == snap.ledger_hash


def _max_annotation_id(session: Session, project_id: int) -> int:
    found = session.exec(
        select(func.max(Annotation.id)).where(Annotation.project_id == project_id)
    ).one()
    return int(found or 0)


def _annotations_since(session: Session, project_id: int, seq: int) -> list[int]:
    """Ids of the annotation versions the ledger recorded after ``seq``, in ledger order."""
    rows = session.exec(
        select(LedgerEntry.record_id)
        .where(
            col(LedgerEntry.seq) > seq,
            LedgerEntry.project_id == project_id,
            LedgerEntry.record_type == "annotation",
        )
        .order_by(col(LedgerEntry.seq))
    ).all()
    return [int(r) for r in rows]


def _build(session: Session, project_id: int, seq: int, entry_hash: str) -> DenseAnswers:
    """Every current answer through the version filter (the slow, authoritative read)."""
    from markit_core.annotation.current import query_answer_columns

    top = _max_annotation_id(session, project_id)  # before the answers: never above them
    cols = query_answer_columns(session, project_id, None)
    case_ids, annotators, labels = (
        np.unique(a) for a in (cols.case_id, cols.annotator_id, cols.label_id)
    )
    shape = (len(labels), len(annotators), len(case_ids))
    k = np.searchsorted(labels, cols.label_id)
    i = np.searchsorted(annotators, cols.annotator_id)
    j = np.searchsorted(case_ids, cols.case_id)
    value = np.full(shape, MISSING, dtype=np.int8)
    value[k, i, j] = cols.value
    confidence = np.full(shape, MISSING, dtype=np.int8)
    confidence[k, i, j] = np.where(np.isnan(cols.confidence), MISSING, cols.confidence)
    secs = np.full(shape, np.nan)
    secs[k, i, j] = cols.seconds
    return DenseAnswers(seq, entry_hash, top, case_ids, annotators, labels, value, confidence, secs)


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[n : n + _CHUNK]) for n in range(0, len(ids), _CHUNK)]


def _apply(
    session: Session, snap: DenseAnswers, ids: list[int], seq: int, entry_hash: str
) -> DenseAnswers:
    """``snap`` with the annotations ``ids`` (ledger order) applied, stamped ``seq``."""
    if not ids:
        return replace(snap, seq=seq, ledger_hash=entry_hash)
    heads: dict[int, tuple[int, int, bool]] = {}
    for part in _chunks(sorted(set(ids))):
        for aid, case_id, who, deleted in session.exec(
            select(
                col(Annotation.id), Annotation.case_id, Annotation.annotator_id, Annotation.deleted
            ).where(col(Annotation.id).in_(part))
        ):
            heads[int(aid or 0)] = (case_id, who, deleted)
    last: dict[tuple[int, int], int] = {}
    for aid in ids:  # ledger order: a later version of a (case, reader) replaces an earlier
        if aid in heads:
            last[heads[aid][:2]] = aid
    live = [aid for aid in last.values() if not heads[aid][2]]
    rows = _values_of(session, live)
    cases = np.array([c for c, _ in last], dtype=np.int64)
    readers = np.array([u for _, u in last], dtype=np.int64)
    grown = _grown(snap, cases, readers, np.array([r[1] for r in rows], dtype=np.int64))
    i = np.searchsorted(grown.annotator_ids, readers)
    j = np.searchsorted(grown.case_ids, cases)
    grown.value[:, i, j] = MISSING  # each touched column is replaced as a whole
    grown.confidence[:, i, j] = MISSING
    if grown.seconds is not None:
        grown.seconds[:, i, j] = np.nan
    if rows:
        owner = {aid: heads[aid][:2] for aid in live}
        rc = np.array([owner[r[0]][0] for r in rows], dtype=np.int64)
        ru = np.array([owner[r[0]][1] for r in rows], dtype=np.int64)
        k = np.searchsorted(grown.label_ids, np.array([r[1] for r in rows], dtype=np.int64))
        i, j = np.searchsorted(grown.annotator_ids, ru), np.searchsorted(grown.case_ids, rc)
        grown.value[k, i, j] = [r[2] for r in rows]
        grown.confidence[k, i, j] = [MISSING if r[3] is None else r[3] for r in rows]
        if grown.seconds is not None:
            grown.seconds[k, i, j] = [np.nan if r[4] is None else r[4] for r in rows]
    top = max(grown.max_annotation_id, max(heads, default=0))
    return replace(grown, seq=seq, ledger_hash=entry_hash, max_annotation_id=top)


def _values_of(session: Session, annotation_ids: list[int]) -> list[tuple]:
    """(annotation, label, value, confidence, seconds) of the non-empty answers of ``ids``."""
    out: list[tuple] = []
    for part in _chunks(annotation_ids):
        out.extend(
            session.execute(
                sa_select(
                    col(AnnotationValue.annotation_id),
                    col(AnnotationValue.label_id),
                    col(AnnotationValue.value),
                    col(AnnotationValue.confidence),
                    col(AnnotationValue.seconds),
                ).where(
                    col(AnnotationValue.annotation_id).in_(part),
                    col(AnnotationValue.value).is_not(None),
                )
            ).all()
        )
    return out


def _grown(
    snap: DenseAnswers, cases: np.ndarray, readers: np.ndarray, labels: np.ndarray
) -> DenseAnswers:
    """A writable copy of ``snap`` whose axes also hold the given ids."""
    axes = [
        np.union1d(old, new)
        for old, new in (
            (snap.label_ids, labels),
            (snap.annotator_ids, readers),
            (snap.case_ids, cases),
        )
    ]
    at = np.ix_(
        *(
            np.searchsorted(new, old)
            for new, old in zip(
                axes, (snap.label_ids, snap.annotator_ids, snap.case_ids), strict=True
            )
        )
    )
    shape = tuple(len(a) for a in axes)

    def widen(old: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(shape, fill, dtype=old.dtype)
        out[at] = old
        return out

    return DenseAnswers(
        snap.seq,
        snap.ledger_hash,
        snap.max_annotation_id,
        axes[2],
        axes[1],
        axes[0],
        widen(snap.value, MISSING),
        widen(snap.confidence, MISSING),
        None if snap.seconds is None else widen(snap.seconds, np.nan),
    )
