"""Login state in ``st.session_state`` (ids, timestamps and the session token), backed by a
server-side login session (``markit_core.sessions``) whose token is kept in a cookie, so a
reload or a second tab resumes the login until logout or the idle timeout."""

from __future__ import annotations

import threading

import streamlit as st
from sqlmodel import Session

from markit_core.accounts import check_idle
from markit_core.db import require_id
from markit_core.db import session as new_session
from markit_core.errors import MarkitError, SessionExpired
from markit_core.models import User, utcnow
from markit_core.sessions import (
    COOKIE_NAME,
    SESSION_LIFETIME,
    end_session,
    resume_session,
    start_session,
)
from ui.resources import get_engine, get_settings
from ui.text import plain

USER_KEY = "user_id"
ACTIVITY_KEY = "last_activity"
PROJECT_KEY = "project_id"
NOTICE_KEY = "login_notice"
TOKEN_KEY = "login_token"
COOKIE_KEY = "login_cookie"  # what the cookie should hold now ("" = remove it)


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


def sign_in(user_id: int, token: str | None = None) -> None:
    """Remember the login in this Streamlit session; ``token`` is its server-side session."""
    st.session_state[USER_KEY] = user_id
    st.session_state[ACTIVITY_KEY] = utcnow()
    if token:
        st.session_state[TOKEN_KEY] = token
        st.session_state[COOKIE_KEY] = token


def start_login(s: Session, user: User) -> None:
    """After a successful login: a server-side session, its cookie, and the session state."""
    sign_in(require_id(user), start_session(s, user))


def sign_out(notice: str | None = None) -> None:
    """Forget the login (and any selected project), end its server-side session and remove
    the cookie; keep a notice for the login page."""
    token = st.session_state.pop(TOKEN_KEY, None)
    if token:
        with new_session(get_engine()) as s:
            end_session(s, token)
    for key in (USER_KEY, ACTIVITY_KEY, PROJECT_KEY):
        st.session_state.pop(key, None)
    st.session_state[COOKIE_KEY] = ""
    if notice:
        st.session_state[NOTICE_KEY] = notice
    _end_identity()


def _end_identity() -> None:
    """End a single sign-on identity too (``ui.sign_on``): else its cookie would sign the
    user straight back in, past a logout or the idle timeout. ``st.logout`` sends the
    browser to the provider's logout and back, as a new session."""
    try:
        logged_in = bool(st.user.get("is_logged_in", False))
    except Exception:  # noqa: BLE001 - no script run context (bare script runs)
        return
    if logged_in:
        st.logout()


def _cookie_token() -> str | None:
    """The session cookie sent when this Streamlit session connected (None outside a browser)."""
    if st.session_state.get(COOKIE_KEY) == "":  # logged out here since: the cookie is stale
        return None
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # noqa: BLE001 - no request context (bare script runs)
        return None
    return value if isinstance(value, str) and value else None


def current_user(s: Session) -> User | None:
    """The logged-in, active user, or None. Applies the idle timeout and refreshes activity.

    A new Streamlit session (reload, second tab) resumes a live login session from the
    cookie; a session revoked elsewhere (logout in another tab, deactivation) ends here too.
    """
    user_id = st.session_state.get(USER_KEY)
    if user_id is None:
        token = _cookie_token()
        resumed = resume_session(s, get_settings(), token)
        if resumed is None:
            return None
        sign_in(require_id(resumed), token)
        return resumed
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
    token = st.session_state.get(TOKEN_KEY)
    if token and resume_session(s, get_settings(), token) is None:
        sign_out("Your session has ended (logged out elsewhere, expired or revoked).")
        return None
    st.session_state[ACTIVITY_KEY] = utcnow()
    return user


def keep_cookie() -> None:
    """Write (or remove) the session cookie in the browser; call once per run (app.py)."""
    wanted = st.session_state.get(COOKIE_KEY)
    if wanted is None or not st.runtime.exists():
        return
    from ui.components.cookie import write_cookie

    with st.sidebar:  # a 1-px element: out of the page's layout
        write_cookie(COOKIE_NAME, wanted or None, int(SESSION_LIFETIME.total_seconds()))


def show_error(e: MarkitError) -> None:
    """The page-edge rendering of an expected error."""
    st.error(plain(e), icon=":material/error:")  # messages quote user text: never markup


FLASH_KEY = "flash_message"


FLASH_SECONDS = 8.0  # long enough to read; the reruns of further clicks keep showing it


def flash(message: str) -> None:
    """Keep a success message across the reruns that follow a change."""
    st.session_state[FLASH_KEY] = (message, utcnow())


def show_flash() -> None:
    """Show the message kept by ``flash`` for ``FLASH_SECONDS`` (on every run until then)."""
    kept = st.session_state.get(FLASH_KEY)
    if not kept:
        return
    message, at = kept if isinstance(kept, tuple) else (kept, utcnow())
    if (utcnow() - at).total_seconds() > FLASH_SECONDS:
        st.session_state.pop(FLASH_KEY, None)
        return
    st.success(plain(message), icon=":material/check_circle:")
