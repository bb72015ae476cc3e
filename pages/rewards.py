"""Rewards page — coming: the reward dashboard (Algorithm 1 / Eq. 1 with AI quality control)."""

import streamlit as st

st.title("Rewards")
st.info("Coming soon: the reward dashboard (Algorithm 1 / Eq. 1 with AI quality control). This page is being built; the rest of MarkIt works already.",
        icon=":material/construction:")
