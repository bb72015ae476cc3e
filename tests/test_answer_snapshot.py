"""The stored answer snapshot equals the version-filtered answers after every kind of change.

Every check compares :func:`dense_answers` (stored snapshot + ledger since) with a
fresh build through the authoritative query (``query_answer_columns``), on the
worked example stored through the real services, with thresholds at 0 so the
snapshot is stored and re-read on each call.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import insert, update
from sqlmodel import select

from markit_core.annotation import snapshot
from markit_core.annotation.current import current_answers, query_answer_columns
from markit_core.annotation.submit import delete_reading
from markit_core.labels import active_binary_labels, add_labels, list_labels
from markit_core.models import (
    Annotation,
    AnnotationValue,
    AnswerSnapshotRow,
    LabelDef,
    Role,
    User,
)
from markit_core.review import views as review
from markit_core.rewards.run_inputs import NamedAnswers, answers_table, table_of
from tests.review_helpers import add_cases, build_example, read
from tests.test_reward_scale_paths import _same_table

STORE_EVERY_TIME = {"store_min_answers": 0, "store_min_changes": 0, "store_in_background": False}


@pytest.fixture
def ex(session, settings, make_user, make_project):
    return build_example(session, settings, make_user, make_project)


def _time(t: float) -> float | None:
    return None if np.isnan(t) else float(t)


def _truth(session, project_id: int) -> set[tuple]:
    c = query_answer_columns(session, project_id, None)
    return {
        (int(a), int(b), int(u), bool(v), None if np.isnan(f) else int(f), _time(t))
        for a, b, u, v, f, t in zip(
            c.case_id, c.label_id, c.annotator_id, c.value, c.confidence, c.seconds, strict=True
        )
    }


def _held(snap: snapshot.DenseAnswers) -> set[tuple]:
    assert snap.seconds is not None
    k, i, j = np.nonzero(snap.value != snapshot.MISSING)
    return {
        (
            int(snap.case_ids[jj]),
            int(snap.label_ids[kk]),
            int(snap.annotator_ids[ii]),
            bool(snap.value[kk, ii, jj]),
            None if snap.confidence[kk, ii, jj] < 0 else int(snap.confidence[kk, ii, jj]),
            _time(snap.seconds[kk, ii, jj]),
        )
        for kk, ii, jj in zip(k, i, j, strict=True)
    }


def _stored(session, project_id: int) -> AnswerSnapshotRow | None:
    session.expire_all()
    return session.exec(
        select(AnswerSnapshotRow).where(AnswerSnapshotRow.project_id == project_id)
    ).first()


def _check(session, project_id: int, **store) -> snapshot.DenseAnswers:
    snap = snapshot.dense_answers(session, project_id, seconds=True, **store)
    assert _held(snap) == _truth(session, project_id)
    _same_as_the_version_filter(session, project_id)
    return snap


def _same_as_the_version_filter(session, project_id: int) -> None:
    """The bulk query's anti-join picks the answers the rest of the app's version filter does."""
    labels = {
        lb.id: lb.name
        for lb in session.exec(select(LabelDef).where(LabelDef.project_id == project_id))
    }
    users = {u.id: u.username for u in session.exec(select(User))}
    bulk = {
        (int(c), labels[int(k)], users[int(u)], bool(v))
        for c, k, u, v, *_ in _truth(session, project_id)
    }
    filtered = {
        (a.case_id, a.label, a.annotator, a.value)
        for a in current_answers(session, project_id)
        if a.value is not None
    }
    assert bulk == filtered


def test_edits_deletes_new_readers_cases_and_labels_are_applied(
    session, settings, ex, make_user, make_project
):
    pid = ex.project.id
    first = _check(session, pid, **STORE_EVERY_TIME)
    row = _stored(session, pid)
    assert row is not None and row.ledger_seq == first.seq and row.answers == 24
    a, b = ex.annotators["ann_a"], ex.annotators["ann_b"]
    eff, ptx = ex.labels["effusion"], ex.labels["pneumothorax"]
    read(session, a, pid, ex.cases[0], {eff: False}, confidence=40, token="edit-a0")  # edit
    delete_reading(session, b, pid, ex.cases[1], token="del-b1")  # deletion
    newcomer = make_user("ann_d")
    from markit_core.projects import grant_role

    grant_role(session, ex.owner, pid, "ann_d", Role.ANNOTATOR)
    add_labels(session, ex.owner, pid, [("nodule", "Lung")])
    nodule = next(lb.id for lb in list_labels(session, ex.owner, pid) if lb.name == "nodule")
    (extra,) = add_cases(session, settings, pid, 1, start=10)
    read(session, newcomer, pid, extra, {nodule: True, eff: True}, token="d-extra")
    read(session, a, pid, ex.cases[2], {ptx: True}, token="edit-a2")
    read(session, a, pid, ex.cases[2], {ptx: False, eff: True}, token="edit-a2-again")
    snap = _check(session, pid, **STORE_EVERY_TIME)
    assert snap.seq > first.seq and extra in snap.case_ids and nodule in snap.label_ids
    assert _stored(session, pid).ledger_seq == snap.seq  # written back
    # a later reader in a fresh session starts from the stored row and agrees
    again = snapshot.dense_answers(session, pid, seconds=True)
    assert _held(again) == _held(snap)
    # and the reward table read from it is the one the authoritative query gives
    _same_reward_table(session, pid)


def _same_reward_table(session, project_id: int) -> None:
    labels = {lb.id: lb.name for lb in active_binary_labels(session, project_id)}
    users = {u.id: u.username for u in session.exec(select(User))}
    cols = query_answer_columns(session, project_id, list(labels))
    expected = table_of(NamedAnswers(cols, labels, users))
    table = answers_table(session, project_id)
    assert table is not None and expected is not None
    _same_table(table, expected)


def test_reads_without_storing_for_small_projects(session, ex):
    snapshot.dense_answers(session, ex.project.id)  # defaults: 24 answers are not stored
    assert _stored(session, ex.project.id) is None
    table = answers_table(session, ex.project.id)
    assert table is not None and table.n_annotations == 24


def test_a_stored_row_the_ledger_does_not_vouch_for_is_rebuilt(session, ex):
    pid = ex.project.id
    _check(session, pid, **STORE_EVERY_TIME)
    # as after restoring an older database beside a newer snapshot: the stamp's entry differs
    session.execute(
        update(AnswerSnapshotRow)
        .where(AnswerSnapshotRow.project_id == pid)
        .values(ledger_hash="0" * 64, grades=b"\x00" * 8)
    )
    session.commit()
    _check(session, pid, **STORE_EVERY_TIME)
    assert _stored(session, pid).ledger_hash != "0" * 64


def test_a_row_that_does_not_decode_is_rebuilt(session, ex):
    pid = ex.project.id
    _check(session, pid, **STORE_EVERY_TIME)
    session.execute(
        update(AnswerSnapshotRow).where(AnswerSnapshotRow.project_id == pid).values(axes=b"junk")
    )
    session.commit()
    _check(session, pid, **STORE_EVERY_TIME)


def test_an_annotation_written_around_the_ledger_forces_a_rebuild(session, ex):
    pid = ex.project.id
    _check(session, pid, **STORE_EVERY_TIME)
    a = ex.annotators["ann_a"]
    latest = session.exec(
        select(Annotation).where(Annotation.annotator_id == a.id, Annotation.case_id == ex.cases[3])
    ).first()
    assert latest is not None
    new_id = session.execute(
        insert(Annotation).values(
            project_id=pid,
            case_id=ex.cases[3],
            annotator_id=a.id,
            version=latest.version + 1,
            submit_token="bypass",
        )
    ).inserted_primary_key[0]
    session.execute(
        insert(AnnotationValue).values(
            annotation_id=new_id, label_id=ex.labels["effusion"], value=True, confidence=20
        )
    )
    session.commit()
    snap = _check(session, pid, **STORE_EVERY_TIME)
    assert snap.max_annotation_id == new_id


def test_review_figures_are_the_same_from_the_stored_snapshot(session, ex):
    pid = ex.project.id
    fresh = review.label_matrix(session, ex.reviewer, ex.project.id, "effusion")
    snapshot.dense_answers(session, pid, **STORE_EVERY_TIME)
    assert _stored(session, pid) is not None
    session.info.clear()  # drop load_answers' memo: read again, now from the stored row
    stored = review.label_matrix(session, ex.reviewer, ex.project.id, "effusion")
    np.testing.assert_array_equal(stored.values, fresh.values)
    np.testing.assert_array_equal(stored.confidence, fresh.confidence)
    assert stored.case_ids == fresh.case_ids and stored.annotators == fresh.annotators


def test_the_background_store_lands(session, ex):
    import threading

    pid = ex.project.id
    snapshot.dense_answers(session, pid, store_min_answers=0, store_min_changes=0)
    for thread in threading.enumerate():
        if thread.name == f"answer-snapshot-{pid}":
            thread.join(30)
    row = _stored(session, pid)
    assert row is not None and row.answers == 24
