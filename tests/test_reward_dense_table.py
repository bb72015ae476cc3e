"""The reward table read straight from the dense answer snapshot equals the table built
from the same answers as loose columns (``table_of``), on random data with names out of
id order, case ids whose string order differs from their numeric order, missing
cells, readers and cases without answers, and labels that are not asked for."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from markit_core.annotation.current import AnswerColumns
from markit_core.annotation.snapshot import MISSING, DenseAnswers
from markit_core.rewards.dense_table import table_from_dense
from markit_core.rewards.run_inputs import NamedAnswers, table_of
from tests.test_reward_scale_paths import _columns, _same_table


def _dense(answers: NamedAnswers, extra_reader: int, extra_case: int) -> DenseAnswers:
    """The answers as the snapshot holds them, plus an empty reader and case column."""
    c = answers.columns
    cases = np.unique(np.append(c.case_id, extra_case))
    readers = np.unique(np.append(c.annotator_id, extra_reader))
    labels = np.unique(c.label_id)
    shape = (len(labels), len(readers), len(cases))
    k, i = np.searchsorted(labels, c.label_id), np.searchsorted(readers, c.annotator_id)
    j = np.searchsorted(cases, c.case_id)
    value = np.full(shape, MISSING, dtype=np.int8)
    value[k, i, j] = c.value
    confidence = np.full(shape, MISSING, dtype=np.int8)
    confidence[k, i, j] = np.where(np.isnan(c.confidence), MISSING, c.confidence)
    seconds = np.full(shape, np.nan)
    seconds[k, i, j] = c.seconds
    return DenseAnswers(7, "h", 9, cases, readers, labels, value, confidence, seconds)


@pytest.mark.parametrize("seed", range(6))
def test_the_dense_table_equals_the_table_of_the_same_columns(seed: int) -> None:
    answers = _columns(seed, n_cases=60, labels=4, annotators=5)
    snap = _dense(answers, extra_reader=99_999, extra_case=999_999)
    users = {**answers.users, 99_999: "reader-without-answers"}
    table = table_from_dense(snap, answers.labels, users)
    expected = table_of(answers)
    assert table is not None and expected is not None
    _same_table(table, expected)
    assert "999999" not in table.cases and "reader-without-answers" not in table.annotators


def test_labels_not_asked_for_are_left_out_and_no_answers_is_none() -> None:
    answers = _columns(3, n_cases=30, labels=3, annotators=3)
    snap = _dense(answers, extra_reader=50_000, extra_case=60_000)
    keep = dict(list(answers.labels.items())[:2])
    table = table_from_dense(snap, keep, answers.users)
    c = answers.columns
    wanted = np.isin(c.label_id, list(keep))
    kept = AnswerColumns(
        c.case_id[wanted],
        c.label_id[wanted],
        c.annotator_id[wanted],
        c.value[wanted],
        c.confidence[wanted],
        c.seconds[wanted],
    )
    only = NamedAnswers(kept, keep, answers.users)
    expected = table_of(only)
    assert table is not None and expected is not None
    _same_table(table, expected)
    assert table_from_dense(snap, {123_456: "absent label"}, answers.users) is None


def test_the_snapshot_without_times_is_refused() -> None:
    answers = _columns(1)
    snap = replace(_dense(answers, extra_reader=1, extra_case=1), seconds=None)
    with pytest.raises(ValueError, match="times"):
        table_from_dense(snap, answers.labels, answers.users)
