"""AppTest: single sign-on on the login page (``ui.sign_on``) and the admin's e-mail form.

A real OIDC round trip needs an identity provider, which cannot run here: these tests
give the app the ``[auth]`` secrets and the ``st.user`` claims a provider would have
produced (AppTest's ``secrets`` and ``user``) and check what MarkIt does with them.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core.models import LedgerEntry, LoginSession
from markit_core.sign_on import email_of, set_user_email
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "not a real secret, tests only",
    "hospital": {
        "client_id": "markit",
        "client_secret": "test",
        "server_metadata_url": "https://idp.invalid/.well-known/openid-configuration",
    },
}


@pytest.fixture
def app_env(settings, monkeypatch, session, admin, make_user):
    point_app_at(settings, monkeypatch)
    alice = make_user("alice")
    set_user_email(session, admin, "alice", "Alice@Hospital.example")
    return alice


def _app(auth: dict | None, user: dict | None = None):
    at = fresh_app()
    if auth is not None:
        at.secrets["auth"] = auth
    if user is not None:
        at.user = user
    return at.run()


def test_no_sign_on_button_unless_auth_is_configured(app_env):
    at = _app(None)
    assert not at.exception
    assert not [b for b in at.button if b.key and b.key.startswith("sso_")]
    at = _app({"redirect_uri": "x"})  # an [auth] without any provider: still off
    assert not [b for b in at.button if b.key and b.key.startswith("sso_")]
    at = _app(AUTH, {"is_logged_in": False})
    assert at.button(key="sso_hospital").label == "Sign in with Hospital"
    assert at.text_input(key="login_username") is not None  # the password form stays


def test_a_verified_address_of_an_account_signs_it_in(app_env, session):
    at = _app(AUTH, {"is_logged_in": True, "email": "alice@hospital.example"})
    assert not at.exception, at.exception
    assert at.session_state["user_id"] == app_env.id
    assert any("alice" in c.value for c in at.sidebar.caption)
    # MarkIt's own server-side session, as after a password login
    assert session.exec(select(LoginSession)).one().user_id == app_env.id
    assert at.session_state["login_token"]
    assert session.exec(select(LedgerEntry).where(LedgerEntry.action == "login.sso")).one()


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"email": "mallory@hospital.example"}, "no MarkIt account has"),
        ({"email": "alice@hospital.example", "email_verified": False}, "has not verified"),
        ({}, "no usable e-mail address"),
    ],
)
def test_an_unknown_or_unverified_address_is_refused(app_env, session, claims, message):
    at = _app(AUTH, {"is_logged_in": True, **claims})
    assert not at.exception, at.exception
    assert "user_id" not in at.session_state
    assert message in at.error[0].value
    assert at.button(key="sso_logout") is not None  # to try another provider account
    assert not session.exec(select(LoginSession)).all()


def test_a_deactivated_account_is_refused(app_env, session, admin):
    from markit_core.account_admin import deactivate_user

    deactivate_user(session, admin, "alice")
    at = _app(AUTH, {"is_logged_in": True, "email": "alice@hospital.example"})
    assert "user_id" not in at.session_state
    assert "is deactivated" in at.error[0].value


def test_logout_also_ends_the_provider_identity(app_env):
    at = _app(AUTH, {"is_logged_in": True, "email": "alice@hospital.example"})
    assert at.session_state["user_id"] == app_env.id
    at.sidebar.button(key="logout").click().run()
    assert "user_id" not in at.session_state
    assert at.user == {"is_logged_in": False}  # st.logout ran: no automatic sign-in again
    assert at.button(key="sso_hospital") is not None


def test_admin_sets_and_removes_a_sign_on_address(app_env, session):
    at = open_page(log_in(fresh_app(), "root", PASSWORD), "site_admin")
    assert not at.exception, at.exception
    at.selectbox(key="email_user").select("alice")
    at.text_input(key="email_address").input("alice@other.example")
    at.button(key="email_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "alice signs on as alice@other.example" in at.success[0].value
    assert email_of(session, app_env.id) == "alice@other.example"
    at.selectbox(key="email_user").select("root")
    at.text_input(key="email_address").input("ALICE@other.example")
    at.button(key="email_submit").click().run()
    assert "already the e-mail address of 'alice'" in at.error[0].value
    at.selectbox(key="email_user").select("alice")
    at.text_input(key="email_address").input("")
    at.button(key="email_submit").click().run()
    assert email_of(session, app_env.id) is None
