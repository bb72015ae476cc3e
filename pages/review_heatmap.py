"""Review page — coming: review heatmaps, agreement figures and adjudication."""

import streamlit as st

st.title("Review")
st.info("Coming soon: review heatmaps, agreement figures and adjudication. This page is being built; the rest of MarkIt works already.",
        icon=":material/construction:")
