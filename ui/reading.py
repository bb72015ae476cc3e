"""The annotate page's reading surface: browser viewer, drawing canvas and prefetch.

By default the image is shown by the browser component (``ui.components.reader``):
window/level, zoom and pan cost no round trip. Picking a drawing tool opens
streamlit-drawable-canvas on the *same* view, rendered on the server, so regions
are still converted to image pixels by ``markit_core.annotation.regions``. The
server-side viewer (sidebar sliders) stays available as a fallback and a
benchmark baseline (sidebar toggle "Viewer in the browser"). Zoomed in past the
reduced pixels of a large image, the reader gets the visible part at full
resolution (``markit_core.imaging.client_tiles``) on the rerun its view report causes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from sqlmodel import Session

from markit_core.access import Action
from markit_core.annotation.navigation import upcoming
from markit_core.annotation.queue import Queue, build_queue, case_in_project
from markit_core.db import require_id
from markit_core.errors import MarkitError
from markit_core.imaging.archive_images import image_ready
from markit_core.imaging.archive_prefetch import prefetch_archive_images
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.display import ViewState
from markit_core.imaging.payload_ahead import payload_if_ready, prepare_payloads
from markit_core.models import User
from ui import annotate_state as state
from ui.components import reader as reader_component
from ui.resources import get_settings
from ui.session import PROJECT_KEY
from ui.viewer import Overlay, size_image_cache
from ui.widgets import preferred_project, projects_for

K_CLIENT = "view_client"
K_CLIENT_SIZE = "view_client_size"
K_VIEWS = "reader_views"  # {(user, case): last view the browser reported}
K_IMAGE_FIRST_DONE = "reader_image_first_done"
FOLLOW_TEXT = "Navigation, tools and labels appear as soon as the image is on screen."
CLIENT_SIZES: tuple[int, ...] = (560, 680, 800, 960, 1100)
DEFAULT_CLIENT_SIZE = 800
VIEW_TOOL = "view"
PREFETCH_CASES = 2  # built ahead: the case Next opens and the one after it


def client_side() -> bool:
    """Sidebar switch between the browser viewer (default) and the server-side one."""
    st.sidebar.toggle(
        "Viewer in the browser",
        key=K_CLIENT,
        value=True,
        help="Window/level by dragging, wheel zoom and pan without a round trip. "
        "Off: the server renders every view (sliders below).",
    )
    return bool(st.session_state.get(K_CLIENT, True))


def client_size() -> int:
    """The browser viewer's canvas size (sidebar)."""
    if K_CLIENT_SIZE not in st.session_state:
        st.session_state[K_CLIENT_SIZE] = DEFAULT_CLIENT_SIZE
    st.sidebar.selectbox("Viewer size (px)", CLIENT_SIZES, key=K_CLIENT_SIZE)
    return int(st.session_state[K_CLIENT_SIZE])


def image_first(viewing: bool) -> bool:
    """Whether this run draws the image before everything else: the annotate page's first
    run in a browser session (after login or a reload), with the browser viewer.

    On a fresh page the browser spends about as long drawing the header, the tool bar,
    the label panel and the keyboard bar as the image itself, and receiving the next
    case's pixels (and the server decoding them) competes with it for the same cores. In
    the first run the page leaves those out and sends no prefetch; the reader reports its
    first paint (``report_paint``) and the rerun that causes draws the rest. Any other
    rerun (a click) draws everything as well: only one run ever leaves them out.
    """
    first = K_IMAGE_FIRST_DONE not in st.session_state
    st.session_state[K_IMAGE_FIRST_DONE] = True
    return first and viewing


def answers_follow() -> None:
    """What the answer column shows in the run that leaves the rest of the page out."""
    st.caption(FOLLOW_TEXT)


def _views() -> dict[tuple[int, int], dict[str, Any]]:
    return st.session_state.setdefault(K_VIEWS, {})


def reported_view(user_id: int, case_id: int) -> dict[str, Any] | None:
    """The last view the browser reported for this case (None before any)."""
    return _views().get((user_id, case_id))


def view_state(view: dict[str, Any] | None, decoded: DecodedImage, size: int) -> ViewState:
    """The server-side ViewState showing what the browser shows (for the drawing canvas)."""
    if not view:
        return ViewState(viewport=(size, size))
    frame = min(max(int(view.get("frame") or 0), 0), decoded.n_frames - 1)
    voi = bool(view.get("voi")) or decoded.is_color
    pan = view.get("pan")
    zoom = view.get("zoom")
    return ViewState(
        frame=frame,
        window_center=None if voi else float(view["center"]),
        window_width=None if voi else float(view["width"]),
        invert=bool(view.get("invert")),
        zoom=None if zoom is None else float(zoom),
        pan_center=None if pan is None else (float(pan[0]), float(pan[1])),
        viewport=(size, size),
    )


def show_reader(
    user_id: int,
    case_id: int,
    stored_path: str,
    decoded: DecodedImage,
    *,
    size: int,
    regions: list[dict[str, Any]],
    touch: Callable[[], None],
    overlay_png: bytes | None = None,
    overlay_opacity: float = 0.4,
    report_paint: bool = False,
) -> None:
    """Send the case's pixels (once) and mount the reader; note the view it reports.

    ``overlay_png`` (an RGBA PNG over the whole image, e.g. a Grad-CAM map) travels
    apart from the pixels, and its opacity is applied in the browser. ``report_paint``:
    rerun the page once the image is on screen (see :func:`image_first`).
    """
    payload = reader_component.case_payload(stored_path, case_id, decoded)
    reader_component.send_pixels(payload)
    overlay_id = reader_component.send_overlay(case_id, overlay_png) if overlay_png else None
    reported = reader_component.reader(
        case_id,
        size=size,
        regions=regions,
        view=reported_view(user_id, case_id),
        overlay_id=overlay_id,
        overlay_opacity=overlay_opacity,
        report_paint=report_paint,
    )
    if reported and reported.get("case") == case_id:
        views = _views()
        if views.get((user_id, case_id)) != reported:
            views[(user_id, case_id)] = dict(reported)
            touch()  # a view change is an interaction for the draft's timing
        reader_component.send_tile(stored_path, decoded, payload, reported)


def region_dicts(
    mine: list[Any], colors: dict[int, str], others: list[Overlay]
) -> list[dict[str, Any]]:
    """Regions for the reader: the draft's (solid) and other readers' (dashed)."""
    out = [
        {
            "c": colors.get(r.label_id, "#ffffff"),
            "s": r.shape,
            "p": [[float(x), float(y)] for x, y in r.points],
            "f": int(r.frame),
            "mine": True,
        }
        for r in mine
    ]
    out += [
        {"c": color, "s": shape, "p": [list(p) for p in points], "f": int(frame), "mine": False}
        for color, _label, shape, frame, points in others
    ]
    return out


def prefetch_archive(s: Session, project_id: int, queue: Queue, case_id: int) -> None:
    """Start fetching the next cases' images that are left in an archive (background thread)."""
    settings = get_settings()
    ahead = upcoming(queue, case_id, settings.archive_prefetch_cases)
    try:
        prefetch_archive_images(s, settings, project_id, ahead)
    except MarkitError:
        return  # only time is lost: the case's own view fetches and reports


def prefetch(s: Session, project_id: int, queue: Queue, case_id: int, target: int | None) -> None:
    """Send the pixels of the case Next opens (``target``) if they are built, and have the
    cases after this one built in the background (``markit_core.imaging.payload_ahead``).

    Called at the end of the page, after everything the reader sees has been sent. Pixels
    not built yet are sent by a later run of the page (the reader's first answer is one):
    the page run itself never decodes the next case. A case whose image is left in an
    archive and not fetched yet is skipped: :func:`prefetch_archive` fetches it.
    """
    settings = get_settings()
    after = upcoming(queue, case_id, PREFETCH_CASES)
    wanted = dict.fromkeys(c for c in (target, *after) if c is not None)
    paths: dict[int, str] = {}
    for cid in list(wanted)[:PREFETCH_CASES]:
        try:
            stored_path = case_in_project(s, project_id, cid).stored_path
        except MarkitError:
            continue
        if image_ready(settings, stored_path):
            paths[cid] = stored_path
    prepare_payloads(settings, paths.items())
    payload = None if target not in paths else payload_if_ready(paths[target], target)
    if payload is not None:
        reader_component.send_pixels(payload)


def prepare_first_case(s: Session, user: User) -> None:
    """After login: have the pixels of the case the annotate page will open on built now.

    The login page calls this before it reruns into the app, so the decode overlaps
    the rerun instead of waiting in the annotate page's run. The case is the one the
    annotate page picks (its project picker and ``current_case``); nothing is sent.
    """
    state.remember_project(require_id(user), PROJECT_KEY)
    projects = projects_for(s, user, Action.ANNOTATE)
    if not projects:
        return  # the annotate page is not this user's first page
    project = preferred_project(projects)
    try:
        queue = build_queue(s, user, project.id)
        if queue.total == 0:
            return
        case_id = state.current_case(require_id(user), project.id, queue)
        stored_path = case_in_project(s, project.id, case_id).stored_path
    except MarkitError:
        return  # the annotate page says what is wrong
    settings = get_settings()
    if image_ready(settings, stored_path):
        size_image_cache()  # before the decode: sizing it later would empty it
        prepare_payloads(settings, [(case_id, stored_path)], at_once=True)
