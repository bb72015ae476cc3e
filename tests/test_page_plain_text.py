"""Issue 9, point 11: user text is plain text on every page (AppTest).

Label names, groups, notes, project, user and display names made of markup
must never reach Streamlit's markdown (which would render an image and make
the browser fetch it) or Plotly's HTML-like text unescaped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from markit_core.labels import add_labels, list_labels
from markit_core.models import Role
from markit_core.projects import create_project, grant_role, update_settings
from markit_core.review.views import adjudicate
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD
from tests.review_helpers import add_cases, read

IMAGE = "![x](http://example.invalid/a.png)"
TAG = "<img src=x>"
# what must never appear unescaped in a markdown-rendered string: the link target, the tag
RAW = re.compile(r"(?<!\\)\]\(http|(?<!\\)<img")
RAW_HTML = re.compile(r"<img")  # Plotly reads HTML-like tags, not markdown
# element types whose strings Streamlit shows as plain text (or as data), never as markdown
PLAIN_TYPES = {"text", "code", "arrow_data_frame", "dataframe"}
MARKDOWN_OPTIONS = {"radio", "button_group", "segmented_control", "pills"}  # options are markdown
ROOT = Path(__file__).parent.parent


@pytest.fixture
def hostile(session, settings, monkeypatch, admin, make_user):
    point_app_at(settings, monkeypatch)
    owner = make_user("pi", display_name=f"PI {IMAGE}")
    anns = [make_user(n, display_name=TAG) for n in ("ann_a", "ann_b")]
    project = create_project(session, admin, f"Study {IMAGE}", owner=owner, description=TAG)
    for a in anns:
        grant_role(session, admin, project.id, a.username, Role.ANNOTATOR)
    add_labels(session, owner, project.id, [(IMAGE, f"group {IMAGE}"), (TAG, TAG)])
    update_settings(session, owner, project.id, show_others_after_submit=True)
    labels = {lb.name: lb.id for lb in list_labels(session, owner, project.id)}
    cases = add_cases(session, settings, project.id, 3)
    for j, case_id in enumerate(cases[:2]):
        read(session, anns[0], project.id, case_id, {labels[IMAGE]: True, labels[TAG]: j == 0})
        read(session, anns[1], project.id, case_id, {labels[IMAGE]: False, labels[TAG]: True})
    adjudicate(session, owner, project.id, cases[0], labels[IMAGE], True, note=f"see {IMAGE} {TAG}")
    return project


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _markdown_strings(kind: str, proto) -> str:
    """The strings of an element that Streamlit renders as markdown (or Plotly as HTML)."""
    if kind == "plotly_chart":
        spec = json.loads(proto.spec)
        return json.dumps(spec["data"]) + json.dumps(spec["layout"])
    fields = {f.name for f, _ in proto.ListFields()}
    if "label" in fields or "form_id" in fields:  # a widget: its value is plain text
        parts = [getattr(proto, "label", ""), getattr(proto, "help", "")]
        if kind in MARKDOWN_OPTIONS:
            parts += [str(o) for o in getattr(proto, "options", ())]
        return "\n".join(parts)
    return str(proto)


def _markup_leaks(at) -> list[str]:
    """Raw markup found in any string Streamlit renders as markdown (or Plotly as HTML)."""
    leaks = []
    for node in _walk(at._tree):
        kind = getattr(node, "type", "")
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields") or kind in PLAIN_TYPES:
            continue
        text = _markdown_strings(kind, proto)
        found = (RAW_HTML if kind == "plotly_chart" else RAW).search(text)
        leaks += (
            [f"{kind}: {text[max(0, found.start() - 150) : found.end() + 50]}"] if found else []
        )
    return leaks


def test_owner_pages_render_markup_as_text(hostile):
    at = log_in(fresh_app(timeout=120), "pi", PASSWORD)
    for page in ("project_admin", "annotate", "review_heatmap"):
        open_page(at, page)
        assert not at.exception, (page, at.exception)
        assert _markup_leaks(at) == [], page
    # the review page's disagreements tab shows the adjudication note in an info box
    infos = [i.value for i in at.info if "Adjudicated" in i.value]
    assert infos and not RAW.search(infos[0])
    assert "example" in infos[0]  # the text is still there, escaped
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any("&lt;img src=x&gt;" in json.dumps(f["data"]) for f in figures)


def test_annotator_pages_render_markup_as_text(hostile):
    at = log_in(fresh_app(timeout=120), "ann_a", PASSWORD)
    for page in ("annotate", "review_heatmap", "account"):
        open_page(at, page)
        assert not at.exception, (page, at.exception)
        assert _markup_leaks(at) == [], page


def test_the_favicon_is_a_local_file():
    source = (ROOT / "app.py").read_text()
    assert "page_icon=str(FAVICON)" in source
    assert (ROOT / "ui" / "static" / "favicon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
