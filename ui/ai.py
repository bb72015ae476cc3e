"""AI assist on the Streamlit side: the loaded-model factory and the Grad-CAM overlay.

Models are loaded once per server process (``st.cache_resource``) and handed to the core
services as their ``load`` argument. The overlay is composited onto the rendered view with
the RGBA that :mod:`markit_core.inference.overlay` builds for the view's mapping, so it stays
aligned with the image at every zoom and pan; the result is cached per (view, map, opacity).
"""

from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image

from markit_core.config import Settings
from markit_core.imaging.display import ViewMapping
from markit_core.inference import registry
from markit_core.inference.base import InferTask
from markit_core.inference.store import load_cam

K_SHOW = "ai_show_heatmap"
K_LABEL = "ai_heatmap_label"
K_OPACITY = "ai_opacity"
DEFAULT_OPACITY = 0.5


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _loaded(name: str, version: str, weights_dir: str) -> InferTask:
    return registry.get(name, version, weights_dir=weights_dir)


def load_model(name: str, version: str, settings: Settings) -> InferTask:
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
    if K_OPACITY not in st.session_state:
        st.session_state[K_OPACITY] = DEFAULT_OPACITY
    opacity = where.slider("Overlay opacity", 0.0, 1.0, step=0.05, key=K_OPACITY, disabled=not show)
    return show, label, float(opacity)
