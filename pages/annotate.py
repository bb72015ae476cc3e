"""Annotate page: queue, viewer, labels with confidence grades, regions, timing, submit.

Thin: widgets -> markit_core -> render. The draft being edited lives in session
state (ui.annotate_state) with a copy on the server (markit_core.annotation.drafts), written
when it changes and discarded after a confirmed submit; the viewer in ui.viewer;
the labels in ui.labels_panel; the header, region list, report, others' readings
and the submit action in ui.annotate_panels; region conversion in
markit_core.annotation.regions; storing in markit_core.annotation.submit.submit.
The first run of a browser session draws the image alone; header, tool bar and
answers follow in the next run (ui.reading.image_first).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from markit_core.access import Action
from markit_core.annotation.drafts import load_draft
from markit_core.annotation.editing import replace_frame_regions
from markit_core.annotation.queue import build_queue, case_in_project
from markit_core.annotation.regions import (
    drawing_to_regions,
    label_colors,
    regions_to_drawing,
)
from markit_core.annotation.submit import (
    Reading,
    my_reading,
    others_readings,
)
from markit_core.errors import MarkitError
from markit_core.labels import list_labels
from ui import ai as ai_ui
from ui import annotate_panels as panels
from ui import annotate_state as state
from ui import reading, viewer
from ui.labels_panel import labels_panel
from ui.resources import get_settings
from ui.session import PROJECT_KEY, current_user, db, show_error, show_flash
from ui.style import annotator_color
from ui.text import plain
from ui.widgets import pin_widget_value, project_picker

TOOLS = {"rect": "Rectangle", "freedraw": "Free-hand", "polygon": "Polygon"}
CANVAS_INIT_KEY = "roi_canvas_initial"


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
# Filled after the image is sent: the browser renders the deltas of a run as they come,
# so after "Submit & next" the next case is painted before the rest of the page is redrawn.
top = st.container()


def header() -> int | None:
    """Flash message, progress, case list and Previous / Next; returns the case Next opens."""
    with top:
        show_flash()
        target = panels.navigation_header(s, user, project, queue, case_id)
        if draft.submit_pending and not draft.unchanged():
            st.warning(
                "Your last submit of this case was not confirmed (session expired or connection "
                "lost). Your answers are kept: press Submit again — it is never stored twice.",
                icon=":material/sync_problem:",
            )
    return target


# -- others' readings (only after one's own submission, when the project allows) -------
others: list[Reading] = others_readings(s, user, project.id, case_id)
other_color = {r.annotator: annotator_color(r.annotator) for r in others}


def answer_panel(suggestions: Any) -> None:
    """Report, labels, submit, others' readings and case facts (the column right of the image)."""
    panels.report_box(s, user, project.id, case_id)  # first: visible without scrolling
    labels_panel(user.id, project.id, case_id, binary, suggestions)
    if others:
        panels.others_panel(others, other_color, names, binary)
    elif project.show_others_after_submit and case_id not in queue.done:
        st.caption("Other annotators' answers appear here after you submit yours.")
    panels.case_facts(case)


# -- viewer -------------------------------------------------------------------------
try:
    decoded = viewer.decoded_image(case.stored_path)
except MarkitError as e:
    header()
    show_error(e)
    # answers need no pixels (e.g. an archive that is down): the labels stay usable
    answer_panel(ai_ui.annotate_suggestions(s, user, project.id, case_id, case_id in queue.done))
    state.keyboard_shortcuts(panels.SHORTCUTS)
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
mode_now = st.session_state.get("roi_mode")
pin_widget_value("roi_mode", mode_now if mode_now in tool_names else next(iter(tool_names)))
# the browser reader blends a Grad-CAM map itself; a drawing canvas gets it baked in
viewing = client and st.session_state["roi_mode"] == reading.VIEW_TOOL
image_first = reading.image_first(viewing)  # the rest of the page follows in the next run
background, mapping = (
    (b"", None) if viewing else viewer.render_current(case.stored_path, view, overlays)
)
if heat is not None and mapping is not None:
    background = ai_ui.with_heatmap(background, mapping, get_settings(), *heat)

body = st.container(horizontal=True, gap="medium")
left = body.container(width=(size + 4) if client else mapping.size[0] + 4)
right = body.container(width="stretch")
label_ids = [lb.id for lb in labels]
label_now = st.session_state.get("roi_label")
pin_widget_value(
    "roi_label", label_now if label_now in label_ids else (label_ids[0] if label_ids else None)
)
# the widgets' values, pinned above (the widgets themselves are drawn after the image)
mode, roi_label = st.session_state["roi_mode"], st.session_state["roi_label"]
with left:
    tools = st.container(horizontal=True, vertical_alignment="bottom")
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
            report_paint=image_first,
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
if image_first:  # the header, the tool bar and the answers follow in the next run
    next_target = None
else:
    next_target = header()
    with tools:
        st.segmented_control(
            "Tool",
            list(tool_names),
            key="roi_mode",
            format_func=tool_names.get,
            required=True,
            help="View: drag for window/level, wheel to zoom, shift-drag to pan, keys 1-5 "
            "presets over the image. A drawing tool opens the canvas on the same view.",
        )
        st.selectbox(
            "Region label",
            label_ids,
            key="roi_label",
            format_func=lambda i: names.get(i, "?"),
            width=220,
        )
        st.container(key="roi_swatch", width="content").markdown(
            f"<span style='color:{colors.get(roi_label, '#fff')}'>■</span> draws "
            f"<em>{plain(names.get(roi_label, '—'))}</em>",
            unsafe_allow_html=True,
        )
with left:
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
    panels.region_list(draft, case_id, colors, names, decoded.n_frames)

with right:
    if image_first:
        reading.answers_follow()
    else:
        answer_panel(suggestions)

state.keyboard_shortcuts(panels.SHORTCUTS)
reading.prefetch_archive(s, project.id, queue, case_id)  # next cases left in an archive
# after everything else is shown, and not while the browser draws its first image (the
# decode would take a core from it): the next cases' pixels
if client and not image_first:
    reading.prefetch(s, project.id, queue, case_id, next_target)
s.close()
