"""Site administration (administrators only): accounts and the registry of remote archives."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from markit_core import account_admin
from markit_core.accounts import create_user
from markit_core.errors import MarkitError
from markit_core.imaging.remote_archives import add_archive, list_archives, remove_archive
from markit_core.sign_on import all_emails, set_user_email
from ui.session import current_user, db, flash, show_error, show_flash
from ui.tables import DASH
from ui.text import plain

ONE_TIME_KEY = "one_time_password"

st.title("Site administration")
s = db()
user = current_user(s)
if user is None or not user.is_admin:
    st.info("Only site administrators can open this page.")
    st.stop()
show_flash()

users_tab, archives_tab = st.tabs(["Accounts", "Remote archives"])

with users_tab:
    accounts = account_admin.all_users(s, user)
    emails = all_emails(s, user)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "user": u.username,
                    "name": u.display_name,
                    "admin": u.is_admin,
                    "active": u.is_active,
                    "demo": u.is_demo,
                    "must change password": u.must_change_password,
                    "sign-on e-mail": emails.get(u.username),
                }
                for u in accounts
            ]
        ),
        hide_index=True,
        width="stretch",
        key="users_table",
        placeholder=DASH,
    )
    shown = st.session_state.pop(ONE_TIME_KEY, None)
    if shown:
        st.warning(
            f"One-time password for {plain(shown[0])} — shown once; give it to them "
            "privately. They must choose a new password when they log in."
        )
        st.code(shown[1], language=None)
    with st.form("user_manage_form"):
        c1, c2 = st.columns([2, 2])
        who = c1.selectbox("Account", [u.username for u in accounts], key="manage_user")
        verb = c2.radio(
            "Action",
            ["deactivate", "reactivate", "reset password"],
            key="manage_verb",
            horizontal=True,
        )
        if st.form_submit_button("Apply", type="primary", key="manage_submit"):
            try:
                if verb == "deactivate":
                    changed = account_admin.deactivate_user(s, user, who or "")
                    flash(f"{who} {'deactivated' if changed else 'was already inactive'}.")
                elif verb == "reactivate":
                    changed = account_admin.reactivate_user(s, user, who or "")
                    flash(f"{who} {'reactivated' if changed else 'was already active'}.")
                else:
                    st.session_state[ONE_TIME_KEY] = (
                        who,
                        account_admin.reset_password(s, user, who or ""),
                    )
            except MarkitError as e:
                show_error(e)
            else:
                st.rerun()
    with st.form("user_email_form", clear_on_submit=True):
        st.markdown("**Sign-on e-mail** · single sign-on (if configured) signs this account in")
        c1, c2 = st.columns([2, 2])
        email_who = c1.selectbox("Account", [u.username for u in accounts], key="email_user")
        address = c2.text_input(
            "E-mail address (empty: remove)", key="email_address", autocomplete="off"
        )
        if st.form_submit_button("Set e-mail", key="email_submit"):
            try:
                stored = set_user_email(s, user, email_who or "", address)
            except MarkitError as e:
                show_error(e)
            else:
                flash(
                    f"{email_who} signs on as {stored}."
                    if stored
                    else f"{email_who} has no sign-on e-mail now."
                )
                st.rerun()
    with (
        st.expander("New account", icon=":material/person_add:"),
        st.form("new_user_form", clear_on_submit=True),
    ):
        c1, c2 = st.columns(2)
        name = c1.text_input("Username", key="new_user_name")
        display = c2.text_input("Display name", key="new_user_display")
        password = c1.text_input("Initial password", type="password", key="new_user_pw")
        admin = c2.checkbox("Site administrator", key="new_user_admin")
        if st.form_submit_button("Create account", key="new_user_submit"):
            try:
                info = create_user(s, user, name, password, display_name=display, is_admin=admin)
                account_admin.set_password(s, user, info.username, password)
            except MarkitError as e:
                show_error(e)
            else:
                flash(f"Created {info.username}; they choose their own password at login.")
                st.rerun()

with archives_tab:
    st.caption(
        "Data owners import only from archives registered here; they never type an "
        "address. Stored passwords and tokens are never shown again."
    )
    archives = list_archives(s, user)
    st.dataframe(
        pd.DataFrame(
            [vars(a) for a in archives],
            columns=["id", "name", "kind", "address", "auth", "username", "secret"],
        ),
        hide_index=True,
        width="stretch",
        key="archives_table",
        placeholder=DASH,
    )
    with st.form("archive_add_form", clear_on_submit=True):
        c1, c2 = st.columns([2, 1])
        a_name = c1.text_input("Name", key="archive_name")
        kind = c2.radio("Kind", ["dicomweb", "dimse"], horizontal=True, key="archive_kind")
        url = st.text_input("DICOMweb URL", key="archive_url", placeholder="https://host/dicom-web")
        d1, d2, d3, d4 = st.columns([3, 1, 2, 2])
        host = d1.text_input("PACS host", key="archive_host")
        port = d2.number_input("Port", 0, 65535, 104, key="archive_port")
        called = d3.text_input("Called AE title", key="archive_called")
        calling = d4.text_input("Our AE title", "MARKIT", key="archive_calling")
        e1, e2, e3 = st.columns(3)
        auth = e1.radio("Authentication", ["none", "basic", "token"], key="archive_auth")
        a_user = e2.text_input("User (basic)", key="archive_user")
        secret = e3.text_input("Password or token", type="password", key="archive_secret")
        if st.form_submit_button("Register archive", type="primary", key="archive_add"):
            try:
                info = add_archive(
                    s,
                    user,
                    a_name,
                    kind,
                    url=url if kind == "dicomweb" else "",
                    host=host if kind == "dimse" else "",
                    port=int(port) if kind == "dimse" else 0,
                    called_aet=called if kind == "dimse" else "",
                    calling_aet=calling,
                    auth=auth,
                    username=a_user,
                    secret=secret,
                )
            except MarkitError as e:
                show_error(e)
            else:
                flash(f"Registered archive {info.name}.")
                st.rerun()
    if archives:
        with st.form("archive_remove_form"):
            gone = st.selectbox("Archive", [a.name for a in archives], key="archive_remove_pick")
            if st.form_submit_button("Remove archive", key="archive_remove"):
                try:
                    remove_archive(s, user, gone or "")
                except MarkitError as e:
                    show_error(e)
                else:
                    flash(f"Removed archive {gone}.")
                    st.rerun()
s.close()
