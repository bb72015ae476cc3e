"""Import what the reading pages need in the background, once per server process.

After a restart the first page a reader opens would import pandas, pydicom, the
viewer, the review code and the reader component first: seconds before the first
image. Starting those imports while the login page is on screen takes them off that
path. A module that fails here is left to the page that needs it, which reports
the error in its own words.

Two costs found by profiling the first image after login: mounting a custom
component with a dict makes Streamlit check it for data frames, importing pandas
and pyarrow on first use (about 1 s on this machine), so they are imported here
too; and Streamlit runs a full ``gc.collect()`` after every script run, which walks
every object of those libraries each time (up to 0.5 s with the GIL held), so once
the imports are done they are moved out of the collector's sight (``gc.freeze``).
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
from collections.abc import Sequence

import streamlit as st

__all__ = ["READING_MODULES", "import_in_background"]

log = logging.getLogger(__name__)

READING_MODULES: tuple[str, ...] = (
    "pandas",  # Streamlit's component serialisation checks for data frames with these
    "pyarrow",
    "pyarrow.pandas_compat",  # ... and, on the first mount, these three
    "pyarrow.vendored.version",
    "streamlit.dataframe.lazy_df_adapters",
    "markit_core.imaging.stored",
    "markit_core.review.views",
    "ui.viewer",
    "ui.reading",
    "ui.annotate_panels",
    "ui.labels_panel",
    "ui.case_list",
    "ui.ai",
    "markit_core.inference.service",  # the annotate page asks it for AI suggestions
)


def _import_all(names: Sequence[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # the page importing it shows the error
            log.warning("warm-up import of %s failed", name, exc_info=True)
    # the modules' objects live as long as the process: keep the full collection that
    # Streamlit runs after each script run from walking them again and again
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def import_in_background() -> threading.Thread:
    """Start (once per process) a daemon thread importing :data:`READING_MODULES`."""
    thread = threading.Thread(
        target=_import_all, args=(READING_MODULES,), name="markit-warm-up", daemon=True
    )
    thread.start()
    return thread
