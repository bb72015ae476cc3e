"""The annotate page's draft edits, as core logic: label order, keyboard actions, region diff."""

from __future__ import annotations

import pytest

from markit_core.annotation.drafts import Draft, DraftAnswer
from markit_core.annotation.editing import apply_key, display_order, replace_frame_regions
from markit_core.annotation.submit import CONFIDENCE_GRADES, RegionInput
from markit_core.labels import LabelInfo


def _draft() -> Draft:
    draft = Draft(1, 2, 3)
    draft.displayed()
    return draft


def test_labels_are_listed_by_group_in_order_of_first_appearance():
    labels = [
        LabelInfo(1, "effusion", "Pleura", "binary", 1),
        LabelInfo(2, "nodule", "Lung", "binary", 2),
        LabelInfo(3, "pneumothorax", "Pleura", "binary", 3),
        LabelInfo(4, "mass", "Lung", "binary", 4),
    ]
    assert [lb.id for lb in display_order(labels)] == [1, 3, 2, 4]


def test_keyboard_answers_grades_moves_and_marks_the_rest_absent():
    draft, ids = _draft(), [10, 11, 12]
    assert apply_key(draft, ids, "answer", 1) == [10]  # present, cursor moves on
    assert draft.value(10) is True and draft.cursor == 1
    assert apply_key(draft, ids, "grade", 2) == [11]
    assert draft.grade(11) == CONFIDENCE_GRADES[2] and draft.value(11) is None
    assert apply_key(draft, ids, "move", 5) == [] and draft.cursor == 2  # clamped
    assert apply_key(draft, ids, "move", -9) == [] and draft.cursor == 0
    assert apply_key(draft, ids, "rest_absent") == [11, 12]
    assert draft.answers == {
        10: DraftAnswer(True, 100),
        11: DraftAnswer(False, CONFIDENCE_GRADES[2]),
        12: DraftAnswer(False, 100),
    }
    # every change is an interaction of its label (the timing counts it)
    assert [e.label_id for e in draft.interactions] == [10, 11, None, None, 11, 12]
    assert apply_key(draft, [], "answer", 1) == []
    with pytest.raises(ValueError, match="unknown keyboard action"):
        apply_key(draft, ids, "jump")


def test_regions_of_one_frame_are_replaced_and_changed_labels_touched():
    draft = _draft()
    box = RegionInput(7, "rect", [(1.0, 1.0), (5.0, 5.0)], 0)
    other_frame = RegionInput(8, "rect", [(2.0, 2.0), (3.0, 3.0)], 1)
    draft.regions = [other_frame]
    assert replace_frame_regions(draft, 0, [box])
    assert draft.regions == [other_frame, box]
    assert [e.label_id for e in draft.interactions] == [7]
    assert not replace_frame_regions(draft, 0, [box])  # nothing differs: nothing recorded
    moved = RegionInput(7, "rect", [(2.0, 1.0), (6.0, 5.0)], 0)
    assert replace_frame_regions(draft, 0, [moved])
    assert replace_frame_regions(draft, 0, [])  # deleted
    assert draft.regions == [other_frame]
    assert [e.label_id for e in draft.interactions] == [7, 7, 7]
