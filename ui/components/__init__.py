"""Custom Streamlit components whose HTML/JS/CSS live in the repo (no build step)."""
