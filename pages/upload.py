"""Upload page — coming: image upload with de-identification and archive import."""

import streamlit as st

st.title("Upload")
st.info("Coming soon: image upload with de-identification and archive import. This page is being built; the rest of MarkIt works already.",
        icon=":material/construction:")
