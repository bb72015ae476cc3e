"""Optional single sign-on with Streamlit's ``st.login`` (OpenID Connect).

Off unless ``.streamlit/secrets.toml`` has an ``[auth]`` section (``redirect_uri``,
``cookie_secret`` and either a provider's ``client_id`` / ``client_secret`` /
``server_metadata_url`` directly in it or one ``[auth.<provider>]`` section per
provider). Then the login page offers "Sign in with <provider>" beside the password
form. Back from the provider, ``st.user`` holds the identity token's claims: the
address in its ``email`` claim is mapped to an account by
:func:`markit_core.sign_on.user_for_sign_in` (unknown, deactivated and ambiguous
addresses are refused) and MarkIt's own server-side login session starts, as after
a password login. Logging out of MarkIt also ends the ``st.user`` identity
(``st.logout``), so the provider's cookie cannot sign the user straight back in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st

from markit_core.errors import AuthenticationError, MarkitError
from markit_core.sign_on import user_for_sign_in
from ui.session import db, show_error, start_login
from ui.text import plain

DEFAULT_PROVIDER = ""  # [auth] holds the provider's settings itself: st.login() with no name


@dataclass(frozen=True)
class Identity:
    """What ``st.user`` says about the browser's identity-provider login."""

    logged_in: bool
    email: object = None
    email_verified: object = None


def auth_providers() -> list[str]:
    """The providers configured in ``[auth]`` (``DEFAULT_PROVIDER`` for a single unnamed one);
    empty when single sign-on is not configured."""
    try:
        auth = st.secrets.get("auth")
    except Exception:  # noqa: BLE001 - no or unreadable secrets.toml: sign-on is off
        return []
    if not isinstance(auth, Mapping) or not auth.get("redirect_uri"):
        return []
    named = sorted(k for k, v in auth.items() if isinstance(v, Mapping))
    if named:
        return named
    return [DEFAULT_PROVIDER] if auth.get("client_id") else []


def provider_title(provider: str) -> str:
    return provider.replace("_", " ").title() if provider else "single sign-on"


def identity() -> Identity:
    """The ``st.user`` identity of this browser session (logged out outside ``st.login``)."""
    user = st.user
    if not user.get("is_logged_in", False):
        return Identity(False)
    return Identity(True, user.get("email"), user.get("email_verified"))


def decide(providers: list[str], who: Identity) -> str:
    """What the login page does about single sign-on.

    ``"off"``: not configured (nothing shown); ``"offer"``: the sign-in buttons;
    ``"unverified"``: the provider says the address is not verified (refused);
    ``"map"``: an identity is there: map its address to an account.
    """
    if not providers:
        return "off"
    if not who.logged_in:
        return "offer"
    if who.email_verified is False:  # absent claim: the provider vouches for its addresses
        return "unverified"
    return "map"


def _provider_logout(message: str) -> None:
    st.error(plain(message), icon=":material/error:")
    if st.button("Sign out of the identity provider", key="sso_logout"):
        st.logout()


def sign_on_panel() -> None:
    """The login page's single sign-on part: buttons, or the sign-in of a returning identity."""
    providers = auth_providers()
    who = identity()
    step = decide(providers, who)
    if step == "off":
        return
    if step == "offer":
        st.caption("or")
        for provider in providers:
            if st.button(
                f"Sign in with {provider_title(provider)}",
                key=f"sso_{provider or 'default'}",
                icon=":material/key:",
                width="stretch",
            ):
                st.login(provider or None)
        return
    if step == "unverified":
        _provider_logout(f"The identity provider has not verified {who.email!s}.")
        return
    try:
        with db() as s:
            start_login(s, user_for_sign_in(s, who.email))
    except AuthenticationError as e:
        _provider_logout(f"Single sign-on refused: {e}")
    except MarkitError as e:
        show_error(e)
    else:
        st.rerun()
