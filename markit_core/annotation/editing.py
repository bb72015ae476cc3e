"""What the annotate page does to a draft, kept out of the page so it is plain, tested logic.

* :func:`display_order` — the order labels are listed (and the keyboard walks them) in;
* :func:`apply_key` — the keyboard actions (move the cursor, answer, grade, rest absent);
* :func:`replace_frame_regions` — take the canvas's regions of one frame into the draft,
  recording an interaction for each label whose regions changed (for the timing).
"""

from __future__ import annotations

from collections.abc import Sequence

from markit_core.annotation.drafts import Draft
from markit_core.annotation.regions import same_regions
from markit_core.annotation.submit import CONFIDENCE_GRADES, RegionInput
from markit_core.labels import LabelInfo

__all__ = ["KEY_ACTIONS", "apply_key", "display_order", "replace_frame_regions"]

#: The keyboard actions :func:`apply_key` knows.
KEY_ACTIONS = ("move", "answer", "grade", "rest_absent")


def display_order(labels: Sequence[LabelInfo]) -> list[LabelInfo]:
    """Labels grouped (groups in order of their first label), order kept inside a group."""
    rank: dict[str, int] = {}
    for lb in labels:
        rank.setdefault(lb.group, len(rank))
    return sorted(labels, key=lambda lb: rank[lb.group])


def apply_key(draft: Draft, label_ids: Sequence[int], action: str, arg: int = 0) -> list[int]:
    """Apply a keyboard action to the label under the draft's cursor.

    ``move`` moves the cursor by ``arg``; ``answer`` marks the label absent (0)
    or present (1) and moves on; ``grade`` sets the ``arg``-th confidence
    grade; ``rest_absent`` marks every unanswered label absent. Returns the
    labels whose answers changed (their widgets must show the new values).
    Raises ``ValueError`` for an unknown action.
    """
    if action not in KEY_ACTIONS:
        raise ValueError(f"unknown keyboard action {action!r}; known: {', '.join(KEY_ACTIONS)}")
    if not label_ids:
        return []
    cursor = min(max(draft.cursor, 0), len(label_ids) - 1)
    current = label_ids[cursor]
    if action == "move":
        draft.cursor = min(max(cursor + arg, 0), len(label_ids) - 1)
        draft.touch()
        return []
    if action == "answer":
        draft.set_value(current, bool(arg))
        draft.cursor = min(cursor + 1, len(label_ids) - 1)
        return [current]
    if action == "grade":
        draft.set_grade(current, CONFIDENCE_GRADES[arg])
        return [current]
    changed = [lid for lid in label_ids if draft.value(lid) is None]
    for lid in changed:
        draft.set_value(lid, False)
    return changed


def replace_frame_regions(draft: Draft, frame: int, regions: Sequence[RegionInput]) -> bool:
    """Make ``regions`` the draft's regions on ``frame``; False when nothing differs.

    Each label whose regions were added, moved or removed gets an interaction
    (one unlabelled interaction when only the order changed), so labelling time
    counts region work too.
    """
    here = [r for r in draft.regions if r.frame == frame]
    if same_regions(here, regions):
        return False
    before = {(r.label_id, r.shape, tuple(r.points)) for r in here}
    changed: set[int | None] = {
        r.label_id for r in regions if (r.label_id, r.shape, tuple(r.points)) not in before
    }
    changed |= {r.label_id for r in here} - {r.label_id for r in regions}
    draft.regions = [r for r in draft.regions if r.frame != frame] + list(regions)
    for label_id in changed or {None}:
        draft.touch(label_id)
    return True
