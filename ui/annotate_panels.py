"""The annotate page's panels around the viewer: the navigation header, the list of
drawn regions, the report box, other annotators' readings, the case facts, and the
submit action the labels panel triggers.

Each panel reads core data the page passes in and renders it; the only write is
``submit_draft``, through ``markit_core.annotation.submit.submit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st
from sqlmodel import Session

from markit_core.annotation.drafts import Draft, discard_draft
from markit_core.annotation.navigation import case_window, queue_neighbours
from markit_core.annotation.queue import Queue
from markit_core.annotation.submit import CONFIDENCE_GRADES, Reading, submit
from markit_core.errors import MarkitError
from markit_core.labels import LabelInfo
from markit_core.models import Case, Project, User
from markit_core.reading_options import show_report
from markit_core.reports import report_for_case
from ui import ai as ai_ui
from ui import annotate_state as state
from ui.case_list import case_list_panel, wanted_statuses
from ui.resources import get_settings
from ui.session import current_user, db, flash
from ui.tables import DASH
from ui.text import plain

#: The annotate page's keyboard: key -> the key= of the button it presses.
SHORTCUTS = {
    "j": "kb_down",
    "k": "kb_up",
    "a": "kb_absent",
    "p": "kb_present",
    "x": "kb_rest",
    **{str(i): f"kb_g{i}" for i in range(len(CONFIDENCE_GRADES))},
    "s": "submit",
    "d": "submit_next",
    "n": "next_case",
    "b": "prev_case",
}


SUBMIT_NOTICE_KEY = "annotate_submit_notice"


def submit_draft(draft: Draft, *, go_next: bool, suggestions=None) -> None:
    """Button callback: store the draft (idempotent by its token), start a new attempt and,
    for "Submit & next", move to the next case.

    A callback runs before the script, so the page runs once and paints the next case
    (not once for the old case, then again). Its messages are kept for the page to show:
    a success as the flash, anything else below the labels (``show_submit_notice``).
    """
    with db() as s:
        user = current_user(s)
        if user is None:  # session expired: the login page comes up; the draft stays
            return
        if draft.empty():
            _notice("info", "Nothing to submit yet: answer a label or draw a region.")
            return
        if draft.unchanged():
            draft.submit_pending = False
            message = f"No changes since version {draft.version}; nothing saved."
        else:
            timing = draft.timing(get_settings().idle_threshold_seconds)
            draft.submit_pending = True
            try:
                result = submit(
                    s,
                    user,
                    draft.project_id,
                    draft.case_id,
                    answers=draft.answered(),
                    regions=draft.regions,
                    timing=timing,
                    token=draft.token,
                    exposure=ai_ui.exposure_for(suggestions, draft.case_id, draft.answered()),
                )
                discard_draft(s, user, draft.project_id, draft.case_id)
            except MarkitError as e:
                draft.submit_pending = False
                _notice("error", str(e))
                return
            state.after_submit(draft, result)
            message = (
                f"Already saved as version {result.version} (repeated submit ignored)."
                if result.duplicate
                else f"Saved case {draft.case_id} as version {result.version} · "
                f"{timing.total_seconds:.1f} s, {timing.idle_seconds:.1f} s idle."
            )
        if go_next:
            state.go_to_next_after(draft.user_id, draft.project_id, draft.case_id)
    flash(message)


def _notice(kind: str, message: str) -> None:
    st.session_state[SUBMIT_NOTICE_KEY] = (kind, message)


def show_submit_notice() -> None:
    """Show (once) what the last submit callback had to say other than a success."""
    kept = st.session_state.pop(SUBMIT_NOTICE_KEY, None)
    if kept is None:
        return
    kind, message = kept
    if kind == "error":
        st.error(plain(message), icon=":material/error:")
    else:
        st.info(plain(message), icon=":material/info:")


def navigation_header(
    s: Session, user: User, project: Project, queue: Queue, case_id: int
) -> int | None:
    """Progress, the case list and Previous / Next; returns the case Next opens (or None)."""
    position = queue.case_ids.index(case_id) + 1
    window = case_window(s, user, project.id, around=case_id, statuses=wanted_statuses())
    prev_id, following = queue_neighbours(queue.case_ids, case_id)
    next_id = queue.next_after(case_id)  # None: every case is done
    next_target = next_id if next_id not in (None, case_id) else following
    head = st.columns([6, 1.4, 1.2, 1.2], vertical_alignment="bottom")
    head[0].progress(
        queue.done_count / queue.total,
        text=f"**{plain(project.name)}** · {queue.done_count} / {queue.total} cases done · "
        f"case {position} of {queue.total} (#{case_id}, "
        f"{'annotated' if case_id in queue.done else 'not yet annotated'})",
    )
    with head[1]:
        case_list_panel(
            window,
            case_id,
            lambda cid: state.go_to_case(user.id, project.id, cid),
            queue.case_ids,
        )
    head[2].button(
        "Previous",
        key="prev_case",
        icon=":material/arrow_back:",
        width="stretch",
        on_click=state.go_to_case,
        args=(user.id, project.id, prev_id),
        disabled=prev_id is None,
        help="Previous case in the list (b)",
    )
    head[3].button(
        "Next",
        key="next_case",
        icon=":material/arrow_forward:",
        width="stretch",
        on_click=state.go_to_case,
        args=(user.id, project.id, next_target),
        disabled=next_target is None,
        help="Next unannotated case; once all are done, the next in the list (n)",
    )
    if next_id is None:
        st.success(
            "Every case in your queue is annotated. Revisit and edit any of them with "
            "Previous / Next or the case list.",
            icon=":material/task_alt:",
        )
    return next_target


def _delete_region(draft: Draft, index: int) -> None:
    if 0 <= index < len(draft.regions):
        region = draft.regions.pop(index)
        draft.canvas_rev += 1
        draft.touch(region.label_id)
        state.persist(draft)


def region_list(
    draft: Draft,
    case_id: int,
    colors: Mapping[int, str],
    names: Mapping[int, str],
    n_frames: int,
) -> None:
    """The draft's regions, each with its extent and a Delete button."""
    if not draft.regions:
        return
    st.markdown("**Regions** (in image pixels; drawn in the label's colour)")
    for i, region in enumerate(draft.regions):
        xs, ys = [p[0] for p in region.points], [p[1] for p in region.points]
        row = st.container(horizontal=True, vertical_alignment="center")
        row.markdown(
            f"<span style='color:{colors.get(region.label_id, '#999')}'>■</span> "
            f"<b>{plain(names.get(region.label_id, '?'))}</b> — {plain(region.shape)}, "
            f"{len(region.points)} points, "
            f"x {min(xs):.0f}–{max(xs):.0f}, y {min(ys):.0f}–{max(ys):.0f}"
            + (f", frame {region.frame + 1}" if n_frames > 1 else ""),
            unsafe_allow_html=True,
        )
        row.button(
            "Delete",
            key=f"roi_del_{i}",
            icon=":material/delete:",
            on_click=_delete_region,
            args=(draft, i),
        )


def report_box(s: Session, user: User, project_id: int, case_id: int) -> None:
    """The case's radiology report in a box of its own height (or why it is not shown)."""
    if not show_report(s, user, project_id):
        st.caption("Blinded reading: this project does not show the report to readers.")
        return
    report = report_for_case(s, user, case_id)
    with st.container(border=True, height=170 if report else "content", key="report_box"):
        st.markdown("**Radiology report**")
        if report is None:
            st.caption("No report matched to this case.")
        else:
            st.text(report.text)


def others_panel(
    others: Sequence[Reading],
    other_color: Mapping[str, str],
    names: Mapping[int, str],
    binary: Sequence[LabelInfo],
) -> None:
    """Other annotators' answers per label, and the colour each one's regions are drawn in."""
    with st.expander(f"Other annotators ({len(others)})", expanded=True, icon=":material/group:"):
        st.toggle("Show their regions on the image", key="show_others_rois", value=True)
        rows = [
            {"label": names.get(lid, "?")}
            | {
                r.annotator: (
                    ("present" if r.answers[lid].value else "absent")
                    + f" {r.answers[lid].confidence} %"
                )
                if lid in r.answers
                else "—"
                for r in others
            }
            for lid in [lb.id for lb in binary]
        ]
        st.dataframe(rows, hide_index=True, key="others_table", placeholder=DASH)
        st.markdown(
            " · ".join(
                f"<span style='color:{c}'>■</span> {plain(a)}" for a, c in other_color.items()
            ),
            unsafe_allow_html=True,
        )


def case_facts(case: Case) -> None:
    """One caption line: the case's id, modality, view, body part, size, frames, spacing."""
    meta = case.meta or {}
    facts = [
        f"case #{case.id}",
        case.modality,
        case.view_position and f"view {case.view_position}",
        meta.get("body_part"),
        f"{case.cols}×{case.rows} px",
        case.n_frames > 1 and f"{case.n_frames} frames",
        meta.get("pixel_spacing") and "spacing {:.3g}×{:.3g} mm".format(*meta["pixel_spacing"]),
    ]
    st.caption(" · ".join(plain(f) for f in facts if f))  # DICOM fields come from the upload
