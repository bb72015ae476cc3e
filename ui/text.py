"""User text as plain text: nothing a user typed may render as markup or fetch anything.

Label names, groups, notes, report text, user and project names, and DICOM
fields from uploaded files end up in Streamlit's markdown (``st.markdown``,
captions, alerts, widget labels) and in Plotly's hover and tick text, which
both interpret markup: a label named ``![x](http://host/a.png)`` would make
every reader's browser fetch that URL. ``plain`` neutralises markdown (and
the HTML inside it); ``plain_html`` escapes text for Plotly and HTML.
"""

from __future__ import annotations

import html
import re

# CommonMark lets any ASCII punctuation be escaped with a backslash. These are the characters
# that start markup: links and images ([ ] ( ) !), emphasis and code (* _ ~ `), HTML and
# entities (< > &), headings and tables (# |), LaTeX ($), Streamlit's :directives[] and
# :material/icons: ([ and /), and autolinks (the / of "http://"). Ordinary punctuation
# (. , : ; ' " - = @ %) stays as typed, so messages read normally.
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()<>!#|~$/&])")


def plain(text: object) -> str:
    """``text`` escaped so that Streamlit's markdown shows it literally.

    Line breaks become spaces (a user string never starts a heading or a list).
    """
    s = "" if text is None else str(text)
    s = " ".join(s.splitlines())
    return _PUNCTUATION.sub(r"\\\1", s)


def plain_html(text: object) -> str:
    """``text`` escaped for HTML contexts (Plotly hover, tick and title text)."""
    return html.escape("" if text is None else str(text), quote=True)


def plain_all(values: object) -> list[str]:
    """``plain_html`` of every item (axis categories of a Plotly figure)."""
    return [plain_html(v) for v in values]  # type: ignore[attr-defined]
