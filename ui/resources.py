"""Cached resources shared by all sessions of the Streamlit server."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from markit_core.config import Settings, load_settings
from markit_core.db import open_database


def _secrets_overrides() -> dict[str, object]:
    """``[markit]`` values from ``.streamlit/secrets.toml``, if that file exists."""
    try:
        section = st.secrets.get("markit", {})
    except (FileNotFoundError, KeyError):  # no secrets file: environment only
        return {}
    except Exception:  # noqa: BLE001 - a malformed secrets file must not hide the app
        st.warning("Could not read .streamlit/secrets.toml; using environment settings.")
        return {}
    return dict(section)


@st.cache_resource(show_spinner=False)
def get_settings() -> Settings:
    """Settings from MARKIT_* variables, then secrets.toml's [markit] section on top."""
    return load_settings(**_secrets_overrides())


@st.cache_resource(show_spinner="Opening the database...")
def get_engine() -> Engine:
    """One engine per server process; the schema is upgraded to head on first use."""
    return open_database(get_settings())
