"""The annotate page's labels panel: one row per present/absent label, submit, keyboard bar.

The answers live in the draft (``ui.annotate_state``); the widgets only show
them, and their callbacks write each change to the draft before the page runs.
"""

from __future__ import annotations

import functools
from itertools import groupby
from typing import Any

import streamlit as st

from markit_core.annotation.drafts import Draft
from markit_core.annotation.editing import apply_key, display_order
from markit_core.annotation.submit import CONFIDENCE_GRADES
from markit_core.labels import LabelInfo
from ui import ai as ai_ui
from ui import annotate_state as state
from ui.annotate_panels import show_submit_notice, submit_draft
from ui.text import plain
from ui.widgets import pin_widget_value

# Keys name the label, not the case: the same widgets show every case (the draft's values
# are pinned into them on each run), so "Submit & next" updates them in the browser instead
# of unmounting one case's widgets and mounting the next one's.


def _answer_key(label_id: int) -> str:
    return f"lab_{label_id}"


def _grade_key(label_id: int) -> str:
    return f"grade_{label_id}"


# -- callbacks (run before the script, so the draft is current when it renders) ------


def _on_answer(draft: Draft, label_id: int, key: str) -> None:
    value = st.session_state.get(key)
    draft.set_value(label_id, None if value is None else value == "present")
    state.persist(draft)


def _on_grade(draft: Draft, label_id: int, key: str) -> None:
    draft.set_grade(label_id, st.session_state[key])
    state.persist(draft)


def _mirror(draft: Draft, case_id: int, label_id: int) -> None:
    """Show the draft's answer in the label's widgets: in callbacks that change the draft
    outside them, and before the widgets on every run (``pin_widget_value`` says why; the
    widgets' own callbacks have already written a click into the draft by then)."""
    value = draft.value(label_id)
    answer = None if value is None else ("present" if value else "absent")
    pin_widget_value(_answer_key(label_id), answer)
    pin_widget_value(_grade_key(label_id), draft.grade(label_id))


def _on_key(draft: Draft, label_ids: list[int], action: str, arg: int = 0) -> None:
    """Keyboard-bar buttons: act on the label under the cursor."""
    for lid in apply_key(draft, label_ids, action, arg):
        _mirror(draft, draft.case_id, lid)
    state.persist(draft)  # a cursor move changes no content: nothing is written


def _clear_answer(draft: Draft, label_id: int) -> None:
    """The explicit way back to "not answered" (a second click on an answer keeps it)."""
    draft.set_value(label_id, None)
    _mirror(draft, draft.case_id, label_id)
    state.persist(draft)


def _accept_ai(draft: Draft, case_id: int, label_id: int, value: bool) -> None:
    """The one-click accept of a pre-label: take the AI's answer into the draft."""
    draft.set_value(label_id, value)
    _mirror(draft, case_id, label_id)
    ai_ui.mark_accepted(case_id, label_id)
    state.persist(draft)


def labels_panel(
    user_id: int,
    project_id: int,
    case_id: int,
    binary: list[LabelInfo],
    suggestions: Any = None,
) -> None:
    """One row per present/absent label (grouped), the submit buttons and the keyboard bar.

    ``suggestions`` (``ui.ai``) adds the AI's score beside each label it covers, with
    the one-click accept where the project allows it. The submit buttons store the
    draft in their callback (``ui.annotate_panels.submit_draft``).
    """
    draft = state.get_draft(user_id, project_id, case_id, lambda: None)
    ordered = display_order(binary)
    ids = [lb.id for lb in ordered]
    draft.cursor = min(max(draft.cursor, 0), max(len(ids) - 1, 0))
    current = f" · keys act on *{plain(ordered[draft.cursor].name)}*" if ordered else ""
    st.markdown(
        f"**Labels** · {len(draft.answered())} of {len(binary)} answered{current}"
        + (" · a confidence grade appears after the answer" if binary else "")
    )
    if not binary:
        st.caption("This project has no present/absent labels; draw regions on the image.")
    for group, items in groupby(enumerate(ordered), key=lambda t: t[1].group):
        st.caption(plain(group) if group else "Other")
        for index, lb in items:
            _label_row(draft, case_id, lb, index == draft.cursor, suggestions)
    st.caption(f"{_draft_status(draft)} · {len(draft.regions)} region(s)")
    show_submit_notice()
    _submit_buttons(draft, suggestions)
    keyboard_bar(draft, ids)


def _label_row(
    draft: Draft, case_id: int, lb: LabelInfo, under_cursor: bool, suggestions: Any
) -> None:
    """One label: its name, the absent/present choice, the AI badge, confidence and clear."""
    answer_key, grade_key = _answer_key(lb.id), _grade_key(lb.id)
    _mirror(draft, case_id, lb.id)
    row = st.container(
        horizontal=True,
        vertical_alignment="center",
        gap="small",
        key=f"row_{lb.id}",
    )
    shown = plain(lb.name)  # user text: never markdown
    name = f":blue-background[**{shown}**]" if under_cursor else f"**{shown}**"
    row.markdown(name, width=140)
    row.segmented_control(
        shown,
        ["absent", "present"],
        key=answer_key,
        label_visibility="collapsed",
        format_func=str.capitalize,
        required=True,  # clicking the chosen answer again keeps it (Clear clears)
        on_change=_on_answer,
        args=(draft, lb.id, answer_key),
    )
    if suggestions is not None and suggestions.visible and lb.id in suggestions.scores:
        take_ai = functools.partial(_accept_ai, draft, case_id)
        ai_ui.suggestion_badge(row, suggestions, lb.id, answer_key, take_ai)
    if draft.value(lb.id) is None:  # no grade is suggested before an answer (header says so)
        return
    row.select_slider(
        f"{shown} confidence",
        CONFIDENCE_GRADES,
        key=grade_key,
        label_visibility="collapsed",
        format_func=lambda g: f"{g} %",
        on_change=_on_grade,
        args=(draft, lb.id, grade_key),
    )
    row.button(
        "",
        key=f"clr_{lb.id}",
        icon=":material/close:",
        help=f"Clear the answer for {lb.name}",
        on_click=_clear_answer,
        args=(draft, lb.id),
    )


def _draft_status(draft: Draft) -> str:
    """Whether the reading on screen is stored, a draft, or empty."""
    if draft.unchanged():
        return f"Saved as version {draft.version}"
    return "Draft saved · not yet submitted" if not draft.empty() else "Nothing entered yet"


def _submit_buttons(draft: Draft, suggestions: Any) -> None:
    """Submit and Submit & next: callbacks, so a submit costs one page run, not two."""
    buttons = st.container(horizontal=True, gap="small")
    buttons.button(
        "Submit",
        key="submit",
        type="primary",
        icon=":material/check:",
        width="stretch",
        help="Store this reading (s)",
        on_click=submit_draft,
        args=(draft,),
        kwargs={"go_next": False, "suggestions": suggestions},
    )
    buttons.button(
        "Submit & next",
        key="submit_next",
        icon=":material/skip_next:",
        width="stretch",
        help="Store it and open the next unannotated case (d)",
        on_click=submit_draft,
        args=(draft,),
        kwargs={"go_next": True, "suggestions": suggestions},
    )


def keyboard_bar(draft: Draft, label_ids: list[int]) -> None:
    """The keyboard's buttons (the shortcuts press them) and what each key does."""
    with st.container(border=True, key="keyboard_help"):  # visible, not collapsed
        st.caption("**Keyboard** · " + " · ".join(f"`{k}` {what}" for k, what in state.KEY_HELP))
        bar = st.container(horizontal=True, gap="small")
        for key, label, action, arg in (
            ("kb_up", "↑ label", "move", -1),
            ("kb_down", "↓ label", "move", 1),
            ("kb_absent", "Absent", "answer", 0),
            ("kb_present", "Present", "answer", 1),
            *((f"kb_g{i}", f"{g} %", "grade", i) for i, g in enumerate(CONFIDENCE_GRADES)),
            ("kb_rest", "Rest absent", "rest_absent", 0),
        ):
            bar.button(label, key=key, on_click=_on_key, args=(draft, label_ids, action, arg))
