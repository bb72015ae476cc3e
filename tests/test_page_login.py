"""AppTest: the login gate, lock-out message, logout and idle timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from markit_core.models import utcnow
from tests.apptest_helpers import fresh_app, log_in, point_app_at
from tests.conftest import PASSWORD


@pytest.fixture
def app_env(settings, monkeypatch, admin, make_user):
    point_app_at(settings, monkeypatch)
    make_user("alice")
    return settings


def test_login_page_is_shown_first(app_env):
    at = fresh_app()
    at.run()
    assert not at.exception
    assert at.title[0].value == "MarkIt"
    assert at.text_input(key="login_username") is not None


def test_wrong_password_shows_error_and_stays_logged_out(app_env):
    at = log_in(fresh_app(), "alice", "wrong password")
    assert not at.exception
    assert "invalid username or password" in at.error[0].value
    assert "user_id" not in at.session_state


def test_lockout_message_after_five_failures(app_env):
    at = fresh_app()
    for _ in range(5):
        log_in(at, "alice", "wrong password")
    log_in(at, "alice", PASSWORD)
    assert "locked" in at.error[0].value
    assert "user_id" not in at.session_state


def test_login_then_logout(app_env):
    at = log_in(fresh_app(), "alice", PASSWORD)
    assert not at.exception
    assert at.session_state["user_id"]
    assert any("alice" in c.value for c in at.sidebar.caption)
    assert at.title[0].value == "Projects"  # alice holds no project role: only the projects page
    at.sidebar.button(key="logout").click().run()
    assert "user_id" not in at.session_state
    assert "logged out" in at.info[0].value


def test_idle_timeout_logs_out(app_env):
    at = log_in(fresh_app(), "alice", PASSWORD)
    at.session_state["last_activity"] = utcnow() - timedelta(minutes=31)
    at.run()
    assert "user_id" not in at.session_state
    assert "expired" in at.info[0].value


def test_login_starts_a_server_session_that_logout_ends(app_env, session):
    from sqlmodel import select

    from markit_core.models import LoginSession
    from markit_core.sessions import resume_session, token_hash

    at = log_in(fresh_app(), "alice", PASSWORD)
    assert not at.exception, at.exception
    token = at.session_state["login_token"]
    assert at.session_state["login_cookie"] == token  # the cookie the browser is given
    (row,) = session.exec(select(LoginSession)).all()
    assert row.token_hash == token_hash(token) and row.revoked_at is None
    # what a reload does: a new Streamlit session resumes from the cookie's token
    assert resume_session(session, app_env, token).username == "alice"
    at.sidebar.button(key="logout").click().run()
    assert "user_id" not in at.session_state
    assert at.session_state["login_cookie"] == ""  # the browser's cookie is removed
    session.expire_all()
    assert resume_session(session, app_env, token) is None


def test_a_session_revoked_elsewhere_logs_this_tab_out(app_env, session):
    from markit_core.accounts import get_user
    from markit_core.sessions import revoke_user_sessions

    at = log_in(fresh_app(), "alice", PASSWORD)
    assert "user_id" in at.session_state
    revoke_user_sessions(session, get_user(session, "alice").id)
    at.run()
    assert "user_id" not in at.session_state
    assert at.text_input(key="login_username") is not None
