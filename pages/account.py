"""My account: change one's own password (the current one is required)."""

from __future__ import annotations

import streamlit as st

from markit_core.accounts import change_own_password, min_password_length
from markit_core.errors import MarkitError
from ui.session import current_user, db, show_error, show_flash
from ui.text import plain

st.title("My account")
s = db()
user = current_user(s)
if user is None:
    st.stop()
show_flash()
st.caption(f"Signed in as {plain(user.username)}")
with st.form("own_password_form", clear_on_submit=True):
    old = st.text_input(
        "Current password", type="password", key="own_old", autocomplete="current-password"
    )
    new = st.text_input(
        f"New password (at least {min_password_length()} characters)",
        type="password",
        key="own_new",
        autocomplete="new-password",
    )
    again = st.text_input(
        "Repeat the new password", type="password", key="own_again", autocomplete="new-password"
    )
    if st.form_submit_button("Change password", type="primary", key="own_submit"):
        if new != again:
            st.error("The new passwords do not match.")
        else:
            try:
                change_own_password(s, user, old, new)
            except MarkitError as e:
                show_error(e)
            else:
                st.success("Password changed.")
s.close()
