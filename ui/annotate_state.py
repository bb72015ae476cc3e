"""Annotate-page state in ``st.session_state``: drafts, the current case, timing, keys.

A *draft* is one attempt at reading one case by one user: the answers and
regions being edited, the submit token, when the image was first displayed
and every interaction since. Drafts live in session state keyed by
(user, project, case), so moving between cases, an expired session or a
re-login never loses them; the token is made once per attempt and kept until
the submit is confirmed, so a double click or a resubmit stores one version.
Widgets only mirror the draft: their callbacks write into it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import streamlit as st

from markit_core.annotations import Answer, Reading, RegionInput, SubmitResult
from markit_core.queue import Queue
from markit_core.roi_canvas import same_regions
from markit_core.timing import Interaction, Timing, compute_timing

DRAFTS_KEY = "annotate_drafts"
CASE_KEY = "annotate_case"
LAST_PROJECT_KEY = "annotate_last_project"
DEFAULT_GRADE = 100


def new_token() -> str:
    """A fresh submit token (one per attempt)."""
    return uuid.uuid4().hex


@dataclass
class Draft:
    """One attempt at one case. ``answers`` maps label id -> [value or None, grade]."""

    user_id: int
    project_id: int
    case_id: int
    token: str = field(default_factory=new_token)
    answers: dict[int, list] = field(default_factory=dict)
    regions: list[RegionInput] = field(default_factory=list)
    base: tuple | None = None          # snapshot of the stored reading this attempt started from
    version: int | None = None         # that reading's version
    shown_at: float | None = None      # time.time() when the image was first displayed
    interactions: list[Interaction] = field(default_factory=list)
    canvas_rev: int = 0
    cursor: int = 0
    submit_pending: bool = False       # a submit was started but not confirmed

    # -- answers ------------------------------------------------------------------

    def value(self, label_id: int) -> bool | None:
        return self.answers.get(label_id, [None, DEFAULT_GRADE])[0]

    def grade(self, label_id: int) -> int:
        return self.answers.get(label_id, [None, DEFAULT_GRADE])[1]

    def set_value(self, label_id: int, value: bool | None) -> None:
        self.answers.setdefault(label_id, [None, DEFAULT_GRADE])[0] = value
        self.touch(label_id)

    def set_grade(self, label_id: int, grade: int) -> None:
        self.answers.setdefault(label_id, [None, DEFAULT_GRADE])[1] = int(grade)
        self.touch(label_id)

    def answered(self) -> dict[int, Answer]:
        """The answers to submit: labels marked present or absent, with their grade."""
        return {lid: Answer(bool(v), int(g)) for lid, (v, g) in self.answers.items() if v is not None}

    def empty(self) -> bool:
        return not self.answered() and not self.regions

    # -- timing -------------------------------------------------------------------

    def displayed(self) -> None:
        """Mark the image as displayed (the first time only, per attempt)."""
        if self.shown_at is None:
            self.shown_at = time.time()

    def touch(self, label_id: int | None = None) -> None:
        """Record an interaction (a label change carries its label id)."""
        if self.shown_at is not None:
            self.interactions.append(Interaction(max(0.0, time.time() - self.shown_at), label_id))

    def timing(self, idle_threshold: float) -> Timing:
        """Timing of this attempt up to now (display -> submit), idle excluded."""
        if self.shown_at is None:
            return Timing(0.0, 0.0, 0.0)
        last = max((e.at for e in self.interactions), default=0.0)
        elapsed = max(time.time() - self.shown_at, last)
        return compute_timing(elapsed, self.interactions, idle_threshold)

    # -- snapshots ----------------------------------------------------------------

    def snapshot(self) -> tuple:
        answers = tuple(sorted((lid, a.value, a.confidence) for lid, a in self.answered().items()))
        return answers, tuple(self.regions)

    def unchanged(self) -> bool:
        """True when this attempt started from a stored reading and nothing differs."""
        if self.base is None:
            return False
        answers, regions = self.snapshot()
        return answers == self.base[0] and same_regions(regions, self.base[1])

    def dirty(self) -> bool:
        return not self.empty() and not self.unchanged()


def _drafts() -> dict[tuple[int, int, int], Draft]:
    return st.session_state.setdefault(DRAFTS_KEY, {})


def _from_reading(user_id: int, project_id: int, case_id: int, reading: Reading | None) -> Draft:
    draft = Draft(user_id, project_id, case_id)
    if reading is not None:
        draft.answers = {lid: [a.value, a.confidence] for lid, a in reading.answers.items()}
        draft.regions = [RegionInput(r.label_id, r.shape, tuple(map(tuple, r.points)), r.frame)
                         for r in reading.regions]
        draft.version = reading.version
        draft.base = draft.snapshot()
    return draft


def get_draft(user_id: int, project_id: int, case_id: int, load_reading) -> Draft:
    """The draft for this case, created from the stored reading (``load_reading()``) if new."""
    drafts = _drafts()
    key = (user_id, project_id, case_id)
    if key not in drafts:
        drafts[key] = _from_reading(user_id, project_id, case_id, load_reading())
    return drafts[key]


def after_submit(draft: Draft, result: SubmitResult) -> Draft:
    """Start a new attempt from what was just stored (new token, clean timing)."""
    fresh = Draft(draft.user_id, draft.project_id, draft.case_id)
    fresh.answers = {lid: list(v) for lid, v in draft.answers.items() if v[0] is not None}
    fresh.regions = list(draft.regions)
    fresh.version = result.version
    fresh.base = fresh.snapshot()
    fresh.shown_at = time.time()
    fresh.cursor = draft.cursor
    fresh.canvas_rev = draft.canvas_rev + 1
    _drafts()[(draft.user_id, draft.project_id, draft.case_id)] = fresh
    return fresh


def drop_draft(draft: Draft) -> None:
    _drafts().pop((draft.user_id, draft.project_id, draft.case_id), None)


# -- the current case ---------------------------------------------------------------


def current_case(user_id: int, project_id: int, queue: Queue) -> int:
    """The case the user is on; the first unannotated one when none is chosen (or it left the queue)."""
    cases = st.session_state.setdefault(CASE_KEY, {})
    chosen = cases.get((user_id, project_id))
    if chosen not in queue.case_ids:
        chosen = queue.next_after(None)
        if chosen is None:
            chosen = queue.case_ids[0]
        cases[(user_id, project_id)] = chosen
    return chosen


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
    const typing = t && (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' ||
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
