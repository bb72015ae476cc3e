"""Small widgets reused across pages."""

from __future__ import annotations

import streamlit as st
from sqlmodel import Session

from markit_core.access import Action, can
from markit_core.models import User
from markit_core.projects import ProjectInfo, list_projects
from ui.session import PROJECT_KEY


def projects_for(s: Session, user: User, action: Action | None) -> list[ProjectInfo]:
    """The projects where ``user`` may do ``action`` (all of theirs for None)."""
    return [p for p in list_projects(s, user) if action is None or can(s, user, p.id, action)]


def preferred_project(projects: list[ProjectInfo]) -> ProjectInfo:
    """The project the picker opens on: the current one (``PROJECT_KEY``), else the first."""
    wanted = st.session_state.get(PROJECT_KEY)
    return next((p for p in projects if p.id == wanted), projects[0])


def project_picker(
    s: Session, user: User, action: Action | None = None, key: str = "project_picker"
) -> ProjectInfo | None:
    """Sidebar project selector, shared across pages through ``PROJECT_KEY``.

    Only projects where ``user`` may do ``action`` are offered.
    """
    projects = projects_for(s, user, action)
    if not projects:
        return None
    by_id = {p.id: p for p in projects}
    ids = list(by_id)
    index = ids.index(preferred_project(projects).id)
    chosen = st.sidebar.selectbox(
        "Project", ids, index=index, key=key, format_func=lambda i: by_id[i].name
    )
    st.session_state[PROJECT_KEY] = chosen
    return by_id[chosen]


def page_start(
    title: str, action: Action, no_project: str, picker_key: str = "project_picker"
) -> tuple[Session, User, ProjectInfo]:
    """The common top of a project page: title, login, flash message, project picker.

    Stops the script (after saying why) when nobody is logged in or the user
    has no project where they may do ``action``.
    """
    from ui.session import current_user, db, show_flash

    st.title(title)
    s = db()
    user = current_user(s)
    if user is None:
        st.stop()
    show_flash()
    project = project_picker(s, user, action, key=picker_key)
    if project is None:
        st.info(no_project)
        st.stop()
    return s, user, project


def pin_widget_value(key: str, value: object) -> None:
    """Write a keyed widget's value into session state on every run, just before the widget.

    Writing it only when missing is not enough: when a click cuts the first run short (its
    rerun request stops the run before the widget is sent), the value stays in session
    state but never reaches the browser, which then shows the widget's default while the
    server holds the value (streamlit/streamlit#4247). Callbacks run before the script, so
    the value written here already includes the click that started this run.
    """
    st.session_state[key] = value
