"""The browser reading surface: a Streamlit components-v2 component (no build step).

Two components share ``reader.js``:

- ``markit.reader_store`` is mounted with a case's pixel payload as raw bytes
  (:func:`markit_core.imaging.client_payload.pixel_payload`); the browser keeps the
  parsed pixels keyed by case id. Streamlit caches large unchanged messages in the
  browser by hash, so a payload travels once however often the page reruns, and a
  payload sent ahead for the next case (``prefetch``) is already there when the
  reader moves on.
- ``markit.reader`` paints the case from those pixels and does window/level, zoom,
  pan, invert and frames in the browser; it returns only the view (debounced).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from markit_core.imaging.client_payload import PixelPayload, overlay_payload, read_header
from markit_core.imaging.client_tiles import tile_payload, tile_region
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.payload_ahead import case_payload

__all__ = ["case_payload", "reader", "send_overlay", "send_pixels", "send_tile", "warm_up"]

_HERE = Path(__file__).parent
_JS = (_HERE / "reader.js").read_text(encoding="utf-8")

_store = st.components.v2.component("markit.reader_store", js=_JS)
_reader = st.components.v2.component(
    "markit.reader",
    html=(_HERE / "reader.html").read_text(encoding="utf-8"),
    css=(_HERE / "reader.css").read_text(encoding="utf-8"),
    js=_JS,
)

READER_KEY = "mk_reader"
TOOLBAR_PX = 64  # toolbar + caption under the canvas


def send_pixels(payload: PixelPayload) -> None:
    """Mount the store for one case (current or prefetched); it shows nothing."""
    _store(key=f"mk_px_{payload.header['case']}", data=payload.data, width="stretch", height=1)


# Streamlit's frontend loads each element's code on the element's first use: after
# login the annotate page would make the browser fetch and compile these (and their
# dependencies) while the first case's pixels wait behind them on the same server loop.
ANNOTATE_CHUNKS: tuple[str, ...] = (
    "Button",
    "ButtonGroup",
    "Checkbox",
    "Html",
    "Progress",
    "Selectbox",
    "rehype-raw",
)
ANNOTATE_FONTS: tuple[str, ...] = ('italic 1rem "Source Sans"', '1rem "Source Code Pro"')


def frontend_chunks(names: tuple[str, ...] = ANNOTATE_CHUNKS) -> list[str]:
    """File names of Streamlit's frontend chunks for ``names`` (``Selectbox.<hash>.js``).

    A name with no single match (a Streamlit release that renamed a chunk) is left out:
    only the head start is lost.
    """
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    found = [sorted(folder.glob(f"{name}.*.js")) for name in names]
    return [files[0].name for files in found if len(files) == 1]


_WARM_DATA = {"warm": True, "chunks": frontend_chunks(), "fonts": list(ANNOTATE_FONTS)}


def warm_up() -> None:
    """Mount the store with nothing to store, so the browser loads the reader's code now.

    Shown on the login page: the first case after login then finds this module, the
    frontend chunks of the annotate page's elements and its fonts loaded, instead of
    waiting for the browser to fetch and start them behind the rest of the page.
    """
    _store(key="mk_warm", data=_WARM_DATA, width="stretch", height=1)


@st.cache_resource(max_entries=8, show_spinner=False)
def _cached_tile(
    stored_path: str, region: tuple[int, int, int, int, int], _decoded: Any, _payload: Any
) -> bytes:
    """One full-resolution tile per (image, region): built once, shared by all sessions."""
    return tile_payload(_decoded, _payload, region)


def send_tile(
    stored_path: str, decoded: DecodedImage, payload: PixelPayload, view: dict[str, Any] | None
) -> None:
    """Mount the full-resolution tile the reported view needs, if it needs one."""
    region = tile_region(payload, view)
    if region is None:
        return
    data = _cached_tile(stored_path, region, decoded, payload)
    _store(key=f"mk_tile_{payload.header['case']}", data=data, width="stretch", height=1)


def send_overlay(case_id: int, png: bytes) -> str:
    """Mount a case's overlay (an RGBA PNG over the whole image); returns its ``overlay_id``."""
    data = overlay_payload(case_id, png)
    _store(key=f"mk_ov_{case_id}", data=data, width="stretch", height=1)
    return str(read_header(data)["overlay_id"])


def reader(
    case_id: int,
    *,
    size: int,
    regions: list[dict[str, Any]],
    view: dict[str, Any] | None = None,
    overlay_id: str | None = None,
    overlay_opacity: float = 0.4,
    report_paint: bool = False,
) -> dict[str, Any] | None:
    """Mount the reader for ``case_id`` (its pixels must be sent with ``send_pixels``).

    Parameters
    ----------
    case_id : int
        The case to paint.
    size : int
        Canvas width and height in CSS pixels.
    regions : list of dict
        ``{"c": colour, "s": shape, "p": [[x, y], ...], "f": frame, "mine": bool}`` in
        image pixels.
    view : dict | None
        The view to open with when the browser has none for this case (e.g. after a
        reload); the browser's own view wins otherwise, so a rerun never undoes a drag.
    overlay_id, overlay_opacity
        The overlay to draw (from ``send_overlay``; None: none) and its opacity.
    report_paint : bool
        Rerun the page once the case is on screen (the browser's "painted" trigger; it
        fires after at most 3 s even without pixels), for a page that draws the rest of
        itself only after the image.

    Returns
    -------
    dict | None
        The last view the browser reported (``case``, ``center``, ``width``, ``voi``,
        ``invert``, ``zoom``, ``pan``, ``frame``, ``viewport``, ``preset``), or None.
    """
    result = _reader(
        key=READER_KEY,
        data={
            "case": int(case_id),
            "size": [int(size), int(size)],
            "regions": regions,
            "view": view,
            "overlay_id": overlay_id,
            "overlay_opacity": float(overlay_opacity),
            "report_paint": bool(report_paint),
        },
        width=int(size) + 4,
        height=int(size) + TOOLBAR_PX,
        on_view_change=lambda: None,
        on_painted_change=lambda: None,  # the trigger itself reruns the page
    )
    value = getattr(result, "view", None)
    return value if isinstance(value, dict) else None
