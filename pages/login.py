"""Login page: username and password, with lock-out handled by markit_core; single
sign-on (``ui.sign_on``) when ``[auth]`` is configured in secrets.toml.

After an administrator's reset the login asks for a new password before
letting the user in (``markit_core.accounts.login`` refuses to go further).
"""

from __future__ import annotations

import streamlit as st

from markit_core.accounts import get_user, login
from markit_core.errors import MarkitError, PasswordChangeRequired
from ui.components import reader as reader_component
from ui.reading import prepare_first_case
from ui.resources import get_settings
from ui.session import NOTICE_KEY, db, show_error, start_login
from ui.sign_on import sign_on_panel
from ui.text import plain

CHANGE_KEY = "login_must_change"  # username whose one-time password was accepted


def _change_form(username: str) -> None:
    st.info(
        f"{plain(username)}: your password was reset by an administrator. "
        "Enter the one-time password and choose a new one."
    )
    with st.form("login_change_form"):
        once = st.text_input(
            "One-time password", type="password", key="login_once", autocomplete="off"
        )
        new = st.text_input(
            "New password", type="password", key="login_new", autocomplete="new-password"
        )
        again = st.text_input(
            "Repeat the new password",
            type="password",
            key="login_new_again",
            autocomplete="new-password",
        )
        submitted = st.form_submit_button(
            "Set password and log in", type="primary", key="login_change_submit"
        )
    if st.button("Back", key="login_change_back"):
        st.session_state.pop(CHANGE_KEY, None)
        st.rerun()
    if submitted:
        if new != again:
            st.error("The new passwords do not match.")
            return
        try:
            with db() as s:
                info = login(s, get_settings(), username, once, new_password=new)
                start_login(s, get_user(s, info.username))
        except MarkitError as e:
            show_error(e)
        else:
            st.session_state.pop(CHANGE_KEY, None)
            st.rerun()


_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("MarkIt")
    st.caption("Collaborative annotation of medical images")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(plain(notice))

    pending = st.session_state.get(CHANGE_KEY)
    if pending:
        _change_form(pending)
        st.stop()

    with st.form("login_form"):
        username = st.text_input("Username", key="login_username", autocomplete="username")
        password = st.text_input(
            "Password", type="password", key="login_password", autocomplete="current-password"
        )
        submitted = st.form_submit_button(
            "Log in", type="primary", width="stretch", key="login_submit"
        )

    if submitted:
        try:
            with db() as s:
                info = login(s, get_settings(), username, password)
                user = get_user(s, info.username)
                start_login(s, user)
                prepare_first_case(s, user)  # its pixels are built while the app page starts
        except PasswordChangeRequired:
            st.session_state[CHANGE_KEY] = username.strip()
            st.rerun()
        except MarkitError as e:
            show_error(e)
        else:
            st.rerun()

    sign_on_panel()  # "Sign in with <provider>" when [auth] is configured (st.login)

reader_component.warm_up()  # the reading surface's code, loaded while the user types
