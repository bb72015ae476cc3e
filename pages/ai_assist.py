"""AI assist page — coming: AI suggestions with Grad-CAM heatmaps."""

import streamlit as st

st.title("AI assist")
st.info(
    "Coming soon: AI suggestions with Grad-CAM heatmaps. This page is being built; "
    "the rest of MarkIt works already.",
    icon=":material/construction:",
)
