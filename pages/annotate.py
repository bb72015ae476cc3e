"""Annotate page: queue, viewer, labels with confidence grades, regions, timing, submit.

Thin: widgets -> markit_core -> render. The draft being edited lives in session
state (ui.annotate_state) with a copy on the server (markit_core.annotation.drafts), written
when it changes and discarded after a confirmed submit; the viewer in ui.viewer;
region conversion in markit_core.annotation.regions; storing in
markit_core.annotation.submit.submit.
"""

from __future__ import annotations

import streamlit as st

from markit_core.access import Action
from markit_core.annotation.drafts import discard_draft, load_draft
from markit_core.annotation.editing import replace_frame_regions
from markit_core.annotation.navigation import case_list, neighbours
from markit_core.annotation.queue import build_queue, case_in_project
from markit_core.annotation.regions import (
    drawing_to_regions,
    label_colors,
    regions_to_drawing,
)
from markit_core.annotation.submit import (
    CONFIDENCE_GRADES,
    Reading,
    my_reading,
    others_readings,
    submit,
)
from markit_core.errors import MarkitError
from markit_core.labels import list_labels
from markit_core.reading_options import show_report
from markit_core.reports import report_for_case
from ui import ai as ai_ui
from ui import annotate_state as state
from ui import reading, viewer
from ui.case_list import case_list_panel
from ui.labels_panel import labels_panel
from ui.resources import get_settings
from ui.session import PROJECT_KEY, current_user, db, flash, show_error, show_flash
from ui.style import annotator_color
from ui.text import plain
from ui.widgets import project_picker

TOOLS = {"rect": "Rectangle", "freedraw": "Free-hand", "polygon": "Polygon"}
CANVAS_INIT_KEY = "roi_canvas_initial"


def _delete_region(draft: state.Draft, index: int) -> None:
    if 0 <= index < len(draft.regions):
        region = draft.regions.pop(index)
        draft.canvas_rev += 1
        draft.touch(region.label_id)
        state.persist(draft)


def _submit(draft: state.Draft, *, go_next: bool, suggestions=None) -> None:
    """Store the draft (idempotent by its token) and start a new attempt."""
    with db() as s:
        user = current_user(s)
        if user is None:  # session expired: the login page comes up; the draft stays
            st.rerun()
        if draft.empty():
            st.info(
                "Nothing to submit yet: answer a label or draw a region.", icon=":material/info:"
            )
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
                show_error(e)
                return
            state.after_submit(draft, result)
            message = (
                f"Already saved as version {result.version} (repeated submit ignored)."
                if result.duplicate
                else f"Saved case {draft.case_id} as version {result.version} · "
                f"{timing.total_seconds:.1f} s, {timing.idle_seconds:.1f} s idle."
            )
        if go_next:
            queue = build_queue(s, user, draft.project_id)
            state.go_to_case(draft.user_id, draft.project_id, queue.next_after(draft.case_id))
    flash(message)
    st.rerun()


# -- page -----------------------------------------------------------------------------


s = db()
user = current_user(s)
if user is None:
    st.stop()
state.remember_project(user.id, PROJECT_KEY)
project = project_picker(s, user, Action.ANNOTATE)
if project is None:
    st.title("Annotate")
    st.info("You are not an annotator in any project.")
    st.stop()
state.note_project(user.id, project.id)
queue = build_queue(s, user, project.id)
if queue.total == 0:
    st.title("Annotate")
    st.info("No cases are waiting for you in this project.")
    st.stop()

case_id = state.current_case(user.id, project.id, queue)
case = case_in_project(s, project.id, case_id)
labels = list_labels(s, user, project.id)
binary = [lb for lb in labels if lb.kind == "binary"]
colors = label_colors([lb.id for lb in labels])
names = {lb.id: lb.name for lb in labels}
draft = state.get_draft(
    user.id,
    project.id,
    case_id,
    lambda: my_reading(s, user, project.id, case_id),
    lambda: load_draft(s, user, project.id, case_id),
)

# -- header: progress and navigation ------------------------------------------------
st.html("<style>[data-testid='stMainBlockContainer']{padding:2.5rem 1.5rem 2rem 1.5rem}</style>")
show_flash()
position = queue.case_ids.index(case_id) + 1
entries = case_list(s, user, project.id)
prev_id, following = neighbours(entries, case_id)
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
    case_list_panel(entries, case_id, lambda cid: state.go_to_case(user.id, project.id, cid))
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
if draft.submit_pending and not draft.unchanged():
    st.warning(
        "Your last submit of this case was not confirmed (session expired or connection "
        "lost). Your answers are kept: press Submit again — it is never stored twice.",
        icon=":material/sync_problem:",
    )

# -- others' readings (only after one's own submission, when the project allows) -------
others: list[Reading] = others_readings(s, user, project.id, case_id)
other_color = {r.annotator: annotator_color(r.annotator) for r in others}

# -- viewer -------------------------------------------------------------------------
try:
    decoded = viewer.decoded_image(case.stored_path)
except MarkitError as e:
    show_error(e)
    st.stop()
client = reading.client_side()
viewer.prepare_view(case_id, decoded)
if client:
    size = reading.client_size()
    view = reading.view_state(reading.reported_view(user.id, case_id), decoded, size)
else:
    view = viewer.view_controls(case.stored_path, decoded, draft.touch)
overlays = []
if others and st.session_state.get("show_others_rois", True):
    overlays = [
        (other_color[r.annotator], g.label_id, g.shape, g.frame, tuple(tuple(p) for p in g.points))
        for r in others
        for g in r.regions
    ]
suggestions = ai_ui.annotate_suggestions(s, user, project.id, case_id, case_id in queue.done)
heat = ai_ui.annotate_heatmap(s, user, project.id, case_id, suggestions)
tool_names = {reading.VIEW_TOOL: "View", **TOOLS} if client else TOOLS
if st.session_state.get("roi_mode") not in tool_names:
    st.session_state["roi_mode"] = next(iter(tool_names))
# the browser reader blends a Grad-CAM map itself; a drawing canvas gets it baked in
viewing = client and st.session_state["roi_mode"] == reading.VIEW_TOOL
background, mapping = (
    (b"", None) if viewing else viewer.render_current(case.stored_path, view, overlays)
)
if heat is not None and mapping is not None:
    background = ai_ui.with_heatmap(background, mapping, get_settings(), *heat)

body = st.container(horizontal=True, gap="medium")
left = body.container(width=(size + 4) if client else mapping.size[0] + 4)
right = body.container(width="stretch")
with left:
    tools = st.container(horizontal=True, vertical_alignment="bottom")
    mode = tools.segmented_control(
        "Tool",
        list(tool_names),
        key="roi_mode",
        format_func=tool_names.get,
        required=True,
        help="View: drag for window/level, wheel to zoom, shift-drag to pan, keys 1-5 "
        "presets over the image. A drawing tool opens the canvas on the same view.",
    )
    label_ids = [lb.id for lb in labels]
    if st.session_state.get("roi_label") not in label_ids:
        st.session_state["roi_label"] = label_ids[0] if label_ids else None
    roi_label = tools.selectbox(
        "Region label",
        label_ids,
        key="roi_label",
        format_func=lambda i: names.get(i, "?"),
        width=220,
    )
    tools.container(key="roi_swatch", width="content").markdown(
        f"<span style='color:{colors.get(roi_label, '#fff')}'>■</span> draws "
        f"<em>{plain(names.get(roi_label, '—'))}</em>",
        unsafe_allow_html=True,
    )
    if viewing:
        reading.show_reader(
            user.id,
            case_id,
            case.stored_path,
            decoded,
            size=size,
            regions=reading.region_dicts(draft.regions, colors, overlays),
            touch=draft.touch,
            overlay_png=None
            if heat is None
            else ai_ui.heatmap_png(get_settings(), heat[0], (decoded.cols, decoded.rows)),
            overlay_opacity=0.0 if heat is None else heat[1],
        )
        drawing = None
    else:
        # a new canvas whenever what it shows changes: its drawing is then rebuilt from the draft
        shown = (
            mapping,
            view.window_center,
            view.window_width,
            view.invert,
            tuple(overlays),
            heat,
        )
        canvas_key = (
            f"roi_canvas_{user.id}_{case_id}_{draft.canvas_rev}_{view.frame}_"
            f"{hash(shown) & 0xFFFFFFFF:x}"
        )
        init = st.session_state.get(CANVAS_INIT_KEY)
        if not init or init[0] != canvas_key:
            init = (
                canvas_key,
                regions_to_drawing(draft.regions, mapping, colors=colors, frame=view.frame),
            )
            st.session_state[CANVAS_INIT_KEY] = init
        drawing = viewer.roi_canvas(
            background,
            mapping,
            init[1],
            key=canvas_key,
            mode="transform" if mode == reading.VIEW_TOOL else mode,  # heatmap view: no drawing
            color=colors.get(roi_label, "#ffffff"),
        )
    draft.displayed()
    if drawing is not None:
        parsed = drawing_to_regions(
            drawing, mapping, colors=colors, default_label=roi_label, frame=view.frame
        )
        replace_frame_regions(draft, view.frame, parsed.regions)
        for note in parsed.skipped:
            st.caption(f"Ignored {plain(note)}.")
    try:  # regions drawn (or changed elsewhere) since the last run: keep the server's copy current
        state.sync(s, user, draft)
    except MarkitError as e:
        show_error(e)
    if mapping is not None:
        st.container(key="view_caption").caption(
            viewer.view_caption(view, mapping, decoded.n_frames)
        )
    if draft.regions:
        st.markdown("**Regions** (in image pixels; drawn in the label's colour)")
        for i, region in enumerate(draft.regions):
            xs, ys = [p[0] for p in region.points], [p[1] for p in region.points]
            row = st.container(horizontal=True, vertical_alignment="center")
            row.markdown(
                f"<span style='color:{colors.get(region.label_id, '#999')}'>■</span> "
                f"<b>{plain(names.get(region.label_id, '?'))}</b> — {plain(region.shape)}, "
                f"{len(region.points)} points, "
                f"x {min(xs):.0f}–{max(xs):.0f}, y {min(ys):.0f}–{max(ys):.0f}"
                + (f", frame {region.frame + 1}" if decoded.n_frames > 1 else ""),
                unsafe_allow_html=True,
            )
            row.button(
                "Delete",
                key=f"roi_del_{case_id}_{i}",
                icon=":material/delete:",
                on_click=_delete_region,
                args=(draft, i),
            )

with right:
    # the report first, in a box of its own height: visible without scrolling
    if show_report(s, user, project.id):
        report = report_for_case(s, user, case_id)
        with st.container(border=True, height=170 if report else "content", key="report_box"):
            st.markdown("**Radiology report**")
            if report is None:
                st.caption("No report matched to this case.")
            else:
                st.text(report.text)
    else:
        st.caption("Blinded reading: this project does not show the report to readers.")
    request = labels_panel(user.id, project.id, case_id, binary, suggestions)
    if request is not None:
        _submit(request[0], go_next=request[1], suggestions=suggestions)
    if others:
        with st.expander(
            f"Other annotators ({len(others)})", expanded=True, icon=":material/group:"
        ):
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
            st.dataframe(rows, hide_index=True, key="others_table")
            st.markdown(
                " · ".join(
                    f"<span style='color:{c}'>■</span> {plain(a)}" for a, c in other_color.items()
                ),
                unsafe_allow_html=True,
            )
    elif project.show_others_after_submit and case_id not in queue.done:
        st.caption("Other annotators' answers appear here after you submit yours.")
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

state.keyboard_shortcuts(
    {
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
)
if client and next_target is not None:  # after everything else is shown: prefetch
    reading.prefetch(next_target, case_in_project(s, project.id, next_target).stored_path)
s.close()
