"""AI assist on the Streamlit side: the loaded-model factory and the Grad-CAM overlay.

Models are loaded once per server process (``st.cache_resource``) and handed to the core
services as their ``load`` argument. On the server-rendered view
(drawing tools, or the server viewer) the overlay is composited with the RGBA that
:mod:`markit_core.inference.overlay` builds for the view's mapping, so it stays aligned at
every zoom and pan; the result is cached per (view, map, opacity). The browser reader gets
the map once as a PNG over the whole image and blends it itself.
"""

from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image

from markit_core.config import Settings
from markit_core.imaging.display import ViewMapping

K_SHOW = "ai_show_heatmap"
K_LABEL = "ai_heatmap_label"
K_OPACITY = "ai_opacity"
DEFAULT_OPACITY = 0.5


# markit_core.inference (and torch) are imported only when AI is used: the annotate page of a
# project with AI hidden must not pay for it.


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _loaded(name: str, version: str, weights_dir: str):
    from markit_core.inference import registry

    return registry.get(name, version, weights_dir=weights_dir)


def load_model(name: str, version: str, settings: Settings):
    """The loaded model (one copy per server process); a ``service.Loader``."""
    return _loaded(name, version, str(settings.resolved_weights_dir))


@st.cache_data(max_entries=128, show_spinner=False)
def _composite(
    background: bytes,
    mapping: ViewMapping,
    cam_file_key: tuple[int, str, str, str],
    data_dir: str,
    opacity: float,
) -> bytes:
    from markit_core.config import Settings as _Settings
    from markit_core.inference.overlay import cam_overlay
    from markit_core.inference.store import load_cam

    case_id, model_name, version, label = cam_file_key
    cam = load_cam(_Settings(data_dir=data_dir), case_id, model_name, version, label)
    base = Image.open(io.BytesIO(background)).convert("RGBA")
    if cam is None:
        return background
    rgba = cam_overlay(cam, mapping, opacity=opacity)
    layer = Image.fromarray(np.asarray(rgba, dtype=np.uint8), "RGBA")
    if layer.size != base.size:
        layer = layer.resize(base.size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    Image.alpha_composite(base, layer).convert("RGB").save(out, "PNG")
    return out.getvalue()


@st.cache_data(max_entries=64, show_spinner=False)
def _whole_image_png(
    cam_file_key: tuple[int, str, str, str], image_size: tuple[int, int], data_dir: str
) -> bytes | None:
    from markit_core.config import Settings as _Settings
    from markit_core.inference.overlay import whole_image_png
    from markit_core.inference.store import load_cam

    case_id, model_name, version, label = cam_file_key
    cam = load_cam(_Settings(data_dir=data_dir), case_id, model_name, version, label)
    return None if cam is None else whole_image_png(cam, image_size)


def heatmap_png(
    settings: Settings, cam_key: tuple[int, str, str, str], image_size: tuple[int, int]
) -> bytes | None:
    """The cached Grad-CAM map of ``cam_key`` as an RGBA PNG for the browser reader."""
    return _whole_image_png(cam_key, tuple(image_size), str(settings.data_dir))


def with_heatmap(
    background: bytes,
    mapping: ViewMapping,
    settings: Settings,
    cam_key: tuple[int, str, str, str] | None,
    opacity: float,
) -> bytes:
    """The rendered view with the cached Grad-CAM map of ``cam_key`` blended on top."""
    if cam_key is None or opacity <= 0:
        return background
    return _composite(background, mapping, cam_key, str(settings.data_dir), float(opacity))


def heatmap_controls(labels: list[str], *, where=st.sidebar, default_on: bool = False) -> tuple:
    """Toggle, label and opacity for the Grad-CAM overlay: ``(show, label, opacity)``."""
    where.subheader("AI heatmap", divider="gray")
    show = where.toggle("Show Grad-CAM overlay", key=K_SHOW, value=default_on)
    label = None
    if labels:
        if st.session_state.get(K_LABEL) not in labels:
            st.session_state[K_LABEL] = labels[0]
        label = where.selectbox("Heatmap of", labels, key=K_LABEL, disabled=not show)
    # the default on the widget itself (not preset in session state): a slider the browser
    # mounts afresh then starts from it, not from its minimum (an invisible overlay)
    opacity = where.slider(
        "Overlay opacity",
        0.0,
        1.0,
        value=DEFAULT_OPACITY,
        step=0.05,
        key=K_OPACITY,
        disabled=not show,
    )
    return show, label, float(opacity)


# -- the annotate page ----------------------------------------------------------------------


def _accepted_key(case_id: int) -> str:
    return f"ai_accepted_{case_id}"


def annotate_suggestions(s, user, project_id: int, case_id: int, answered: bool):
    """The active model's suggestions for this reader and case, or None (hidden / no model)."""
    from sqlmodel import select

    from markit_core.errors import MarkitError
    from markit_core.models import AiSettings
    from ui.resources import get_settings

    options = s.exec(select(AiSettings).where(AiSettings.project_id == project_id)).first()
    if options is None or options.prelabel_mode == "hidden":
        return None
    from markit_core.inference.prelabels import suggestions_for

    try:
        return suggestions_for(
            s, user, get_settings(), project_id, case_id, answered=answered, load=load_model
        )
    except MarkitError as e:
        st.caption(f"AI suggestions unavailable: {e}")
        return None


def suggestion_badge(row, sugg, label_id: int, answer_key: str, on_accept) -> None:
    """``AI 83 %`` next to a label, and the one-click accept where the project allows it."""
    score = sugg.scores[label_id]
    row.caption(f"AI {score:.0%}", width=60)
    if sugg.one_click_accept:
        row.button(
            "Accept",
            key=f"ai_accept_{answer_key}",
            icon=":material/done_all:",
            help=f"Take the AI's answer ({'present' if sugg.suggested(label_id) else 'absent'})",
            on_click=on_accept,
            args=(label_id, sugg.suggested(label_id)),
        )


def mark_accepted(case_id: int, label_id: int) -> None:
    st.session_state.setdefault(_accepted_key(case_id), set()).add(label_id)


def exposure_for(sugg, case_id: int, answers: dict) -> dict:
    """What the reader saw for each answered label, to store with the submit."""
    from markit_core.inference.prelabels import Exposure

    if sugg is None:
        return {}
    accepted = st.session_state.get(_accepted_key(case_id), set())
    return {
        lid: Exposure(
            suggestion_visible=sugg.visible,
            model_name=sugg.model_name,
            version=sugg.version,
            score=sugg.scores.get(lid),
            accepted=lid in accepted and answers[lid].value == sugg.suggested(lid),
            mode=sugg.mode,
        )
        for lid in answers
        if lid in sugg.scores
    }


def annotate_heatmap(s, user, project_id: int, case_id: int, sugg) -> tuple | None:
    """Sidebar heatmap controls on the annotate page; ``(cam key, opacity)`` when shown.

    Only where suggestions are visible to this reader (the pre-label mode decides), so the
    heatmap never leaks the AI's opinion in a project that keeps readers blind to it.
    """
    from markit_core.errors import MarkitError
    from markit_core.inference import registry, service
    from ui.resources import get_settings

    if sugg is None or not sugg.visible:
        return None
    info = registry.entry(sugg.model_name, sugg.version).info
    show, label, opacity = heatmap_controls(list(info.labels))
    if not show or label is None:
        return None
    try:
        service.explain_case(
            s,
            user,
            get_settings(),
            project_id,
            case_id,
            info.name,
            [label],
            info.version,
            load=load_model,
        )
    except MarkitError as e:
        st.sidebar.error(str(e))
        return None
    return (case_id, info.name, info.version, label), opacity
