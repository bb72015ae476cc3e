"""Annotate-page state in ``st.session_state``: drafts, the current case, timing, keys.

A *draft* (``markit_core.annotation.drafts.Draft``) is one attempt at reading one case
by one user: the answers and regions being edited, the submit token, when the
image was first displayed and every interaction since. Session state keyed by
(user, project, case) is the fast cache, so moving between cases, an expired
session or a re-login never loses a draft; the server keeps a copy
(``markit_core.annotation.drafts.save_draft``), written whenever the draft's content
changes (``sync``/``persist``) and read when the session has no draft for the
case (a reload, a second tab, a server restart), so the work survives those
too. The token is made once per attempt and kept until the submit is
confirmed, so a double click or a resubmit stores one version. Widgets only
mirror the draft: their callbacks write into it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace

import streamlit as st
from sqlmodel import Session

from markit_core.annotation.drafts import (
    DEFAULT_GRADE,
    Draft,
    DraftAnswer,
    discard_draft,
    new_token,
    save_draft,
)
from markit_core.annotation.queue import Queue
from markit_core.annotation.submit import Reading, RegionInput, SubmitResult
from markit_core.errors import MarkitError
from markit_core.models import User
from ui.session import current_user, db, show_error

DRAFTS_KEY = "annotate_drafts"
CASE_KEY = "annotate_case"
NEXT_AFTER_KEY = "annotate_next_after"  # {(user, project): case just submitted with "& next"}
LAST_PROJECT_KEY = "annotate_last_project"

__all__ = ["DEFAULT_GRADE", "Draft", "new_token"]  # re-exported for the page


def _drafts() -> dict[tuple[int, int, int], Draft]:
    return st.session_state.setdefault(DRAFTS_KEY, {})


def _from_reading(user_id: int, project_id: int, case_id: int, reading: Reading | None) -> Draft:
    draft = Draft(user_id, project_id, case_id)
    if reading is not None:
        draft.answers = {
            lid: DraftAnswer(a.value, a.confidence) for lid, a in reading.answers.items()
        }
        draft.regions = [
            RegionInput(r.label_id, r.shape, tuple(map(tuple, r.points)), r.frame)
            for r in reading.regions
        ]
        draft.version = reading.version
        draft.base = draft.snapshot()
    draft.synced = draft.content()  # nothing to write until the annotator changes something
    return draft


def get_draft(
    user_id: int,
    project_id: int,
    case_id: int,
    load_reading: Callable[[], Reading | None],
    load_saved: Callable[[], Draft | None] | None = None,
) -> Draft:
    """The draft for this case: the session's, else the server's (``load_saved()``), else a
    new one from the stored reading (``load_reading()``)."""
    drafts = _drafts()
    key = (user_id, project_id, case_id)
    if key not in drafts:
        saved = load_saved() if load_saved is not None else None
        if saved is not None and (saved.user_id, saved.project_id, saved.case_id) == key:
            drafts[key] = saved
        else:
            drafts[key] = _from_reading(user_id, project_id, case_id, load_reading())
    return drafts[key]


def sync(s: Session, user: User, draft: Draft) -> None:
    """Write the draft to the server if its content changed since the last write (a draft
    with nothing worth keeping is discarded there instead). Cheap when nothing changed."""
    content = draft.content()
    if content == draft.synced or user.id != draft.user_id:
        return
    if draft.worth_keeping():
        save_draft(s, user, draft.project_id, draft.case_id, draft)
    else:
        discard_draft(s, user, draft.project_id, draft.case_id)
    draft.synced = content


def persist(draft: Draft) -> None:
    """Widget callbacks: ``sync`` in a unit of work of its own; an error is shown, the
    session's copy of the draft is kept either way."""
    if draft.content() == draft.synced:  # e.g. a cursor move: no database round trip
        return
    with db() as s:
        user = current_user(s)
        if user is None:  # session expired: the draft stays in session state
            return
        try:
            sync(s, user, draft)
        except MarkitError as e:
            show_error(e)


def after_submit(draft: Draft, result: SubmitResult) -> Draft:
    """Start a new attempt from what was just stored (new token, clean timing)."""
    fresh = Draft(draft.user_id, draft.project_id, draft.case_id)
    fresh.answers = {lid: replace(a) for lid, a in draft.answers.items() if a.value is not None}
    fresh.regions = list(draft.regions)
    fresh.version = result.version
    fresh.base = fresh.snapshot()
    fresh.shown_at = time.time()
    fresh.cursor = draft.cursor
    fresh.canvas_rev = draft.canvas_rev + 1
    fresh.synced = fresh.content()  # the server's copy was discarded with the submit
    _drafts()[(draft.user_id, draft.project_id, draft.case_id)] = fresh
    return fresh


def drop_draft(draft: Draft) -> None:
    _drafts().pop((draft.user_id, draft.project_id, draft.case_id), None)


# -- the current case ---------------------------------------------------------------


def current_case(user_id: int, project_id: int, queue: Queue) -> int:
    """The case the user is on: the first unannotated one if none is chosen (or it left).

    After "Submit & next" (``go_to_next_after``) it is the next unannotated case after
    the submitted one in this run's queue (a callback need not build the queue again).
    """
    cases = st.session_state.setdefault(CASE_KEY, {})
    after = st.session_state.setdefault(NEXT_AFTER_KEY, {}).pop((user_id, project_id), None)
    if after is not None:
        target = queue.next_after(after)
        cases[(user_id, project_id)] = target if target is not None else after
    chosen = cases.get((user_id, project_id))
    if chosen not in queue.case_ids:
        chosen = queue.next_after(None)
        if chosen is None:
            chosen = queue.case_ids[0]
        cases[(user_id, project_id)] = chosen
    return chosen


def go_to_next_after(user_id: int, project_id: int, case_id: int) -> None:
    """Move to the next unannotated case after ``case_id`` (resolved by ``current_case``)."""
    st.session_state.setdefault(NEXT_AFTER_KEY, {})[(user_id, project_id)] = case_id


def go_to_case(user_id: int, project_id: int, case_id: int | None) -> None:
    """Button callback: move to ``case_id`` (None: stay)."""
    if case_id is not None:
        st.session_state.setdefault(CASE_KEY, {})[(user_id, project_id)] = case_id


def remember_project(user_id: int, project_key: str) -> None:
    """Restore the user's last annotate project after a re-login (sign-out forgets it)."""
    last = st.session_state.setdefault(LAST_PROJECT_KEY, {})
    if project_key not in st.session_state and user_id in last:
        st.session_state[project_key] = last[user_id]


def note_project(user_id: int, project_id: int) -> None:
    st.session_state.setdefault(LAST_PROJECT_KEY, {})[user_id] = project_id


# -- keyboard -----------------------------------------------------------------------

KEY_HELP: tuple[tuple[str, str], ...] = (
    ("j / k", "next / previous label"),
    ("p / a", "present / absent for the current label, then the next label"),
    ("0 – 5", "confidence 0, 20, 40, 60, 80, 100 % for the current label"),
    ("x", "every unanswered label absent"),
    ("s", "submit"),
    ("d", "submit and go to the next case"),
    ("n / b", "next unannotated case / previous case"),
    (
        "over the image",
        "drag: window/level · wheel: zoom · shift-drag: pan · 1 – 5: presets · "
        "f fit · o 1:1 · i invert",
    ),
)

_LISTENER = """
<script>
(() => {
  const w = window;
  w.__markitKeys = %s;
  if (w.__markitKeysInstalled) return;
  w.__markitKeysInstalled = true;
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    const typing = t && (t.isContentEditable || t.tagName === 'TEXTAREA' ||
      t.tagName === 'SELECT' ||
      (t.tagName === 'INPUT' && !['range', 'checkbox', 'radio', 'button'].includes(t.type)));
    if (typing) return;
    const name = (w.__markitKeys || {})[e.key.length === 1 ? e.key.toLowerCase() : e.key];
    if (!name) return;
    const el = document.querySelector('.st-key-' + name + ' button');
    if (!el || el.disabled) return;
    e.preventDefault();
    el.click();
  });
})();
</script>
"""


def keyboard_shortcuts(mapping: dict[str, str]) -> None:
    """Bind single keys to buttons (by widget key), ignoring keys typed into inputs.

    Like streamlit-shortcuts, but a key pressed while typing in a text field or
    a select box's search is left alone.
    """
    st.html(_LISTENER % json.dumps(mapping), unsafe_allow_javascript=True)
