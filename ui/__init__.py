"""Streamlit-side helpers: the only place with cache factories and session_state access."""
