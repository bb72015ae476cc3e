"""Import what the reading pages need in the background, once per server process.

After a restart the first page a reader opens would import pandas, pydicom, the
viewer, the review code and the reader component first: seconds before the first
image. Starting those imports while the login page is on screen takes them off that
path. A module that fails here is left to the page that needs it, which reports
the error in its own words.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Sequence

import streamlit as st

__all__ = ["READING_MODULES", "import_in_background"]

log = logging.getLogger(__name__)

READING_MODULES: tuple[str, ...] = (
    "markit_core.imaging.stored",
    "markit_core.review.views",
    "ui.viewer",
    "ui.reading",
    "ui.annotate_panels",
    "ui.labels_panel",
    "ui.case_list",
    "ui.ai",
)


def _import_all(names: Sequence[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # the page importing it shows the error
            log.warning("warm-up import of %s failed", name, exc_info=True)


@st.cache_resource(show_spinner=False)
def import_in_background() -> threading.Thread:
    """Start (once per process) a daemon thread importing :data:`READING_MODULES`."""
    thread = threading.Thread(
        target=_import_all, args=(READING_MODULES,), name="markit-warm-up", daemon=True
    )
    thread.start()
    return thread
