"""Login state in ``st.session_state``: only ids and timestamps are kept there."""

from __future__ import annotations

import threading

import streamlit as st
from sqlmodel import Session

from markit_core.accounts import check_idle
from markit_core.db import session as new_session
from markit_core.errors import MarkitError, SessionExpired
from markit_core.models import User, utcnow
from ui.resources import get_engine, get_settings
from ui.text import plain

USER_KEY = "user_id"
ACTIVITY_KEY = "last_activity"
PROJECT_KEY = "project_id"
NOTICE_KEY = "login_notice"


_run = threading.local()  # each script run executes in its own thread


def db() -> Session:
    """A database session for this script run.

    Use it as a context manager for a unit of work, or keep it for the whole
    page: ``close_run_sessions`` (called by app.py after every run, also after
    ``st.stop``/``st.rerun``) closes whatever a page left open, so no
    connection or transaction outlives the run.
    """
    s = new_session(get_engine())
    if not hasattr(_run, "sessions"):
        _run.sessions = []
    _run.sessions.append(s)
    return s


def close_run_sessions() -> None:
    """Close every session opened by ``db()`` during this script run."""
    for s in getattr(_run, "sessions", ()):
        s.close()
    _run.sessions = []


def sign_in(user_id: int) -> None:
    st.session_state[USER_KEY] = user_id
    st.session_state[ACTIVITY_KEY] = utcnow()


def sign_out(notice: str | None = None) -> None:
    """Forget the login (and any selected project); keep a notice for the login page."""
    for key in (USER_KEY, ACTIVITY_KEY, PROJECT_KEY):
        st.session_state.pop(key, None)
    if notice:
        st.session_state[NOTICE_KEY] = notice


def current_user(s: Session) -> User | None:
    """The logged-in, active user, or None. Applies the idle timeout and refreshes activity."""
    user_id = st.session_state.get(USER_KEY)
    if user_id is None:
        return None
    last = st.session_state.get(ACTIVITY_KEY) or utcnow()
    try:
        check_idle(last, get_settings())
    except SessionExpired as e:
        sign_out(str(e))
        return None
    user = s.get(User, user_id)
    if user is None or not user.is_active:
        sign_out("Your account is no longer active.")
        return None
    st.session_state[ACTIVITY_KEY] = utcnow()
    return user


def show_error(e: MarkitError) -> None:
    """The page-edge rendering of an expected error."""
    st.error(plain(e), icon=":material/error:")  # messages quote user text: never markup


FLASH_KEY = "flash_message"


def flash(message: str) -> None:
    """Keep a success message across the ``st.rerun`` that follows a change."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    """Show (once) the message kept by ``flash``."""
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(plain(message), icon=":material/check_circle:")
