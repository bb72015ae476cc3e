"""Helpers for Streamlit AppTest page tests."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test


class _NavigationPagesManager(PagesManager):
    """Work around an AppTest quirk (Streamlit 1.67): AppTest resets
    ``PagesManager.uses_pages_directory`` before every run and the constructor
    then sets it from the existence of ``pages/``, so every rerun after the
    first takes the legacy multipage path and runs the page file without
    app.py. Under ``streamlit run`` st.navigation clears the flag once and it
    stays clear; this does the same for AppTest.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


app_test.PagesManager = _NavigationPagesManager  # type: ignore[misc]

APP = str(Path(__file__).parent.parent / "app.py")


def fresh_app(timeout: float = 30) -> AppTest:
    """A new AppTest of app.py with Streamlit's caches cleared (they outlive AppTest instances)."""
    st.cache_resource.clear()
    st.cache_data.clear()
    return AppTest.from_file(APP, default_timeout=timeout)


def log_in(at: AppTest, username: str, password: str) -> AppTest:
    """Fill and submit the login form, then rerun into the logged-in app."""
    at.run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button(key="login_submit").click().run()
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    """Switch a logged-in app to ``pages/<page>.py`` and run it."""
    at.switch_page(f"pages/{page}.py")
    return at.run()


def point_app_at(settings, monkeypatch) -> None:
    """Make the app under test use ``settings``' data dir and database (SQLite or PostgreSQL)."""
    monkeypatch.setenv("MARKIT_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("MARKIT_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)


def plotly_figures(at: AppTest) -> dict[str, dict]:
    """Plotly figures on the page by widget key (the element id ends with the key)."""
    import json

    return {
        el.proto.id.split("-", 2)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")
    }


def open_tab(at: AppTest) -> str:
    """The label of the open tab of the page's one tab bar (``st.tabs`` with ``key`` and
    ``on_change``: the server says which tab is open)."""
    from streamlit.testing.v1.element_tree import Block, Tab

    def blocks(node):
        if isinstance(node, Block):
            yield node
            for child in node.children.values():
                yield from blocks(child)

    (bar,) = [
        b
        for b in blocks(at._tree)
        if b.children and all(isinstance(c, Tab) for c in b.children.values())
    ]
    labels = [c.label for c in bar.children.values()]
    return labels[bar.proto.tab_container.default_tab_index]
