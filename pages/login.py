"""Login page: username and password, with lock-out handled by markit_core."""

from __future__ import annotations

import streamlit as st

from markit_core.accounts import get_user, login
from markit_core.errors import MarkitError
from ui.resources import get_settings
from ui.session import NOTICE_KEY, db, show_error, start_login

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("MarkIt")
    st.caption("Collaborative annotation of medical images")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice)

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
                start_login(s, get_user(s, info.username))
        except MarkitError as e:
            show_error(e)
        else:
            st.rerun()
