"""Annotate page — coming: the annotation workflow (viewer, labels with confidence grades, regions, timing)."""

import streamlit as st

st.title("Annotate")
st.info("Coming soon: the annotation workflow (viewer, labels with confidence grades, regions, timing). This page is being built; the rest of MarkIt works already.",
        icon=":material/construction:")
