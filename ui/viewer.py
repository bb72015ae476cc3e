"""The image viewer of the annotate page: view controls, cached rendering, the ROI canvas.

Decoded pixels come from markit_core's process-wide LRU (decoded once per image);
rendered views are cached with ``st.cache_data`` keyed by (image, frame, window,
invert, zoom, pan, viewer size, overlays), so a rerun that changes nothing in the
view (a label click, say) re-renders nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import streamlit as st

from markit_core.annotation.regions import draw_regions
from markit_core.annotation.submit import RegionInput
from markit_core.imaging.cache import ImageCache, configure_cache
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.display import (
    PRESETS,
    ViewMapping,
    ViewState,
    encode,
    fit_zoom,
    render,
    window_for_preset,
)
from markit_core.imaging.stored import decoded_case_image
from ui.resources import get_settings

K_CASE = "view_case"
K_DEFAULTS = "view_defaults"
K_PRESET = "view_preset"
K_CENTER = "view_center"
K_WIDTH = "view_width"
K_VOI = "view_use_voi"
K_INVERT = "view_invert"
K_ZOOM = "view_zoom"
K_PAN_X = "view_pan_x"
K_PAN_Y = "view_pan_y"
K_FRAME = "view_frame"
K_SIZE = "view_size"

ZOOMS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
SIZES: tuple[int, ...] = (440, 560, 680, 800, 960)
DEFAULT_SIZE = 560
PRESET_NAMES = {
    "header": "Header",
    "auto": "Auto",
    "chest": "Chest",
    "lung": "Lung",
    "bone": "Bone",
}

Overlay = tuple[
    str, int, str, int, tuple[tuple[float, float], ...]
]  # colour, label, shape, frame, points


# -- pixels -------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _image_cache(max_mb: int) -> ImageCache:
    """Size the process-wide decoded-image LRU from the settings (once per process)."""
    return configure_cache(int(max_mb) << 20)


def size_image_cache() -> None:
    """Size the decoded-image LRU (the first call replaces markit_core's default one)."""
    _image_cache(get_settings().image_cache_mb)


def decoded_image(stored_path: str) -> DecodedImage:
    """The decoded image of a stored file, from markit_core's LRU (decoded on a miss)."""
    size_image_cache()
    return decoded_case_image(get_settings(), stored_path)


@st.cache_data(max_entries=256, show_spinner=False)
def render_view(
    stored_path: str,
    frame: int,
    center: float | None,
    width: float | None,
    invert: bool,
    zoom: float | None,
    pan: tuple[float, float] | None,
    viewport: tuple[int, int],
    overlays: tuple[Overlay, ...] = (),
) -> tuple[bytes, ViewMapping]:
    """JPEG bytes and canvas<->image mapping of one view (cached by every argument)."""
    decoded = decoded_image(stored_path)
    view = ViewState(
        frame=frame,
        window_center=center,
        window_width=width,
        invert=invert,
        zoom=zoom,
        pan_center=pan,
        viewport=viewport,
    )
    rendered = render(decoded, view, fmt=None if overlays else "jpeg")
    if not overlays:
        return rendered.data, rendered.mapping
    regions = [
        (color, RegionInput(label, shape, points, fr))
        for color, label, shape, fr, points in overlays
    ]
    painted = draw_regions(rendered.to_pil(), regions, rendered.mapping, frame=frame)
    data, _ = encode(np.asarray(painted), "jpeg")
    return data, rendered.mapping


# -- view controls ------------------------------------------------------------------


def _step(span: float) -> float:
    if span >= 200:
        return 1.0
    return 10.0 ** math.floor(math.log10(max(span, 1e-6) / 200.0))


def _case_defaults(decoded: DecodedImage) -> dict[str, Any]:
    lo, hi = decoded.value_range
    span = max(float(hi) - float(lo), 1.0)
    windows = {p: window_for_preset(decoded, p, 0) for p in PRESETS}
    step = _step(span)
    centers = [c for c, _ in windows.values()]
    widths = [w for _, w in windows.values()]
    center, width = windows["header"]
    c_min = math.floor(min(lo - span / 2, *centers) / step) * step
    c_max = math.ceil(max(hi + span / 2, *centers) / step) * step
    w_max = math.ceil(max(2 * span, *widths) / step) * step
    return {
        "bounds": (float(c_min), float(c_max), step, float(w_max)),
        "step": step,
        K_PRESET: "header",
        K_CENTER: float(round(center / step) * step),
        K_WIDTH: float(max(round(width / step) * step, step)),
        K_VOI: decoded.voi_lut is not None and decoded.header_window is None,
        K_INVERT: False,
        K_ZOOM: 1.0,
        K_PAN_X: 50,
        K_PAN_Y: 50,
        K_FRAME: 1,
    }


def prepare_view(case_id: int, decoded: DecodedImage) -> None:
    """Reset the view when the case changes; restore any control Streamlit dropped."""
    ss = st.session_state
    if ss.get(K_CASE) != case_id:
        defaults = _case_defaults(decoded)
        ss[K_DEFAULTS] = defaults
        ss[K_CASE] = case_id
        for key, value in defaults.items():
            if key.startswith("view_"):
                ss[key] = value
    defaults = ss[K_DEFAULTS]
    for key, value in defaults.items():
        if key.startswith("view_") and key not in ss:
            ss[key] = value
    if K_SIZE not in ss:
        ss[K_SIZE] = DEFAULT_SIZE


def _apply_preset(stored_path: str, touch: Callable[[], None]) -> None:
    ss = st.session_state
    preset = ss.get(K_PRESET)
    if preset is None:
        return
    decoded = decoded_image(stored_path)
    c_min, c_max, w_min, w_max = ss[K_DEFAULTS]["bounds"]
    step = ss[K_DEFAULTS]["step"]
    center, width = window_for_preset(decoded, preset, max(0, int(ss.get(K_FRAME, 1)) - 1))
    ss[K_CENTER] = float(min(max(round(center / step) * step, c_min), c_max))
    ss[K_WIDTH] = float(min(max(round(width / step) * step, w_min), w_max))
    ss[K_VOI] = preset == "header" and decoded.voi_lut is not None and decoded.header_window is None
    touch()


def _manual_window(touch: Callable[[], None]) -> None:
    st.session_state[K_PRESET] = None
    st.session_state[K_VOI] = False
    touch()


def _fit(touch: Callable[[], None]) -> None:
    ss = st.session_state
    ss[K_ZOOM], ss[K_PAN_X], ss[K_PAN_Y] = 1.0, 50, 50
    touch()


def view_controls(stored_path: str, decoded: DecodedImage, touch: Callable[[], None]) -> ViewState:
    """Sidebar controls: preset, window level/width, invert, zoom, pan, fit, frame, size."""
    ss = st.session_state
    defaults = ss[K_DEFAULTS]
    side = st.sidebar
    side.subheader("View", divider="gray")
    if decoded.is_color:
        side.caption("Colour image: window/level does not apply.")
    else:
        side.pills(
            "Window preset",
            list(PRESETS),
            key=K_PRESET,
            format_func=PRESET_NAMES.get,
            on_change=_apply_preset,
            args=(stored_path, touch),
        )
        c_min, c_max, w_min, w_max = defaults["bounds"]
        step = defaults["step"]
        fmt = "%.0f" if step >= 1 else f"%.{-math.floor(math.log10(step))}f"
        side.slider(
            "Window level (center)",
            float(c_min),
            float(c_max),
            step=float(step),
            key=K_CENTER,
            format=fmt,
            on_change=_manual_window,
            args=(touch,),
        )
        side.slider(
            "Window width",
            float(w_min),
            float(w_max),
            step=float(step),
            format=fmt,
            key=K_WIDTH,
            on_change=_manual_window,
            args=(touch,),
        )
    side.toggle("Invert", key=K_INVERT, on_change=touch)
    side.select_slider(
        "Zoom",
        ZOOMS,
        key=K_ZOOM,
        on_change=touch,
        format_func=lambda z: "fit" if z == 1.0 else f"{z:g}×",
    )
    zoomed = ss[K_ZOOM] != 1.0
    if zoomed:
        c1, c2 = side.columns(2)
        c1.slider("Pan ↔ %", 0, 100, key=K_PAN_X, on_change=touch)
        c2.slider("Pan ↕ %", 0, 100, key=K_PAN_Y, on_change=touch)
    side.button(
        "Fit to screen",
        key="view_fit",
        icon=":material/fit_screen:",
        on_click=_fit,
        args=(touch,),
        disabled=not zoomed,
    )
    if decoded.n_frames > 1:
        side.slider("Frame", 1, decoded.n_frames, key=K_FRAME, on_change=touch)
    else:
        ss[K_FRAME] = 1
    side.selectbox("Viewer size (px)", SIZES, key=K_SIZE)
    return current_view(decoded)


def current_view(decoded: DecodedImage) -> ViewState:
    """The ViewState the controls describe."""
    ss = st.session_state
    size = int(ss.get(K_SIZE, DEFAULT_SIZE))
    viewport = (size, size)
    factor = float(ss.get(K_ZOOM, 1.0))
    zoom = pan = None
    if factor != 1.0:
        zoom = fit_zoom((decoded.cols, decoded.rows), viewport) * factor
        pan = (
            ss.get(K_PAN_X, 50) / 100.0 * decoded.cols,
            ss.get(K_PAN_Y, 50) / 100.0 * decoded.rows,
        )
    use_voi = bool(ss.get(K_VOI)) and not decoded.is_color
    center = None if use_voi or decoded.is_color else float(ss[K_CENTER])
    width = None if use_voi or decoded.is_color else float(ss[K_WIDTH])
    frame = min(max(int(ss.get(K_FRAME, 1)) - 1, 0), decoded.n_frames - 1)
    return ViewState(
        frame=frame,
        window_center=center,
        window_width=width,
        invert=bool(ss.get(K_INVERT)),
        zoom=zoom,
        pan_center=pan,
        viewport=viewport,
    )


def view_caption(view: ViewState, mapping: ViewMapping, n_frames: int = 1) -> str:
    """One line describing the view (window, zoom, shown region, frame)."""
    window = (
        "header VOI LUT / colour"
        if view.window_center is None
        else f"L {view.window_center:g} / W {view.window_width:g}"
    )
    x0, y0, x1, y1 = mapping.crop
    zoom = "fit" if view.zoom is None else f"{mapping.scale_x:.2f}× (pixels {x0}–{x1}, {y0}–{y1})"
    invert = " · inverted" if view.invert else ""
    frame = f" · frame {view.frame + 1} of {n_frames}" if n_frames > 1 else ""
    size = f"{mapping.image_size[0]}×{mapping.image_size[1]} px"
    return f"Window {window} · zoom {zoom}{invert}{frame} · {size}"


def render_current(
    stored_path: str, view: ViewState, overlays: Sequence[Overlay] = ()
) -> tuple[bytes, ViewMapping]:
    """Render (or fetch from cache) the current view."""
    return render_view(
        stored_path,
        view.frame,
        view.window_center,
        view.window_width,
        view.invert,
        view.zoom,
        view.pan_center,
        view.viewport,
        tuple(overlays),
    )


# -- the canvas ---------------------------------------------------------------------


def canvas_available() -> bool:
    """Whether streamlit-drawable-canvas can be used in this run (not e.g. bare mode)."""
    try:
        import streamlit_drawable_canvas  # noqa: F401  registers its component at import
    except Exception:  # noqa: BLE001 - outside `streamlit run` the registration raises
        return False
    return st.runtime.exists()


def roi_canvas(
    background: bytes, mapping: ViewMapping, drawing: dict, *, key: str, mode: str, color: str
) -> dict | None:
    """Show the view with the drawing canvas on top; returns the canvas JSON.

    Returns None (after showing the plain image) when the canvas is unavailable.
    """
    width, height = mapping.size
    if not canvas_available():
        st.image(background, width=width)
        st.caption("Region drawing needs the browser (streamlit run); showing the image only.")
        return None
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        fill_color="rgba(0,0,0,0)",
        stroke_width=2,
        stroke_color=color,
        background_image=background,
        width=width,
        height=height,
        drawing_mode=mode,
        initial_drawing=drawing,
        key=key,
        update_streamlit=True,
    )
    return result.json_data
