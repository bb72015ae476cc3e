"""Manager sections of the AI-assist page: training from annotations and active learning."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from markit_core.errors import MarkitError
from markit_core.inference import active_learning, training_run
from ui import ai as ai_ui
from ui.resources import get_settings
from ui.session import current_user, db, flash, show_error
from ui.tables import DASH


@st.fragment(run_every=2.0)
def training_progress(project_id: int) -> None:
    """Polls the newest training run while the page is open (the run goes on without it)."""
    with db() as s:
        user = current_user(s)
        if user is None:
            return
        try:
            status = training_run.latest_training(s, user, project_id)
            if status is None:
                st.caption("No training run yet.")
                return
            st.progress(
                status.fraction,
                text=f"Training run {status.run_id} · {status.task} · {status.status} · "
                f"epoch {status.epoch} / {status.epochs}",
            )
            if status.history:
                st.dataframe(
                    pd.DataFrame(status.history),
                    hide_index=True,
                    key="ai_train_hist",
                    placeholder=DASH,
                )
            if status.model_key:
                st.success(f"Registered {status.model_key}: {status.metrics}")
            if status.error:
                st.error(status.error)
            if status.status in ("queued", "running") and st.button(
                "Cancel training", key="ai_train_cancel"
            ):
                training_run.cancel_training(s, user, project_id, status.run_id)
        except MarkitError as e:
            show_error(e)


def training_section(s, user, project_id: int) -> None:
    st.subheader("Train from annotations", divider="gray")
    st.caption(
        "Labels: the adjudicated answer, else the consensus of the human readings. A new "
        "version is registered only when training finished; make it active above."
    )
    c1, c2, c3 = st.columns(3)
    task = c1.selectbox("Task", list(training_run.TRAINABLE), key="ai_train_task")
    epochs = c2.number_input("Epochs", 1, training_run.MAX_EPOCHS, 10, key="ai_train_epochs")
    truth = c3.selectbox("Truth rule", ("majority", "dawid_skene"), key="ai_train_truth")
    if st.button("Train a new version", key="ai_train_start", icon=":material/model_training:"):
        try:
            run_id = training_run.start_training(
                s, user, get_settings(), project_id, task, epochs=int(epochs), truth=truth
            )
            flash(f"Training run {run_id} started.")
            st.rerun()
        except MarkitError as e:
            show_error(e)
    training_progress(project_id)


def active_learning_section(s, user, project_id: int) -> None:
    st.subheader("Active learning", divider="gray")
    st.caption(
        "Scores the unread cases with the active pathology model. Cases whose max class "
        "likelihood is below t go first in every annotator's queue; the others can be "
        "accepted as AI labels — flagged, exported apart, never counted as human readings."
    )
    c1, c2, c3 = st.columns(3)
    threshold = c1.slider("t", 0.55, 0.99, 0.9, 0.01, key="ai_al_threshold")
    method = c2.selectbox("Order by", active_learning.METHODS, key="ai_al_method")
    accept = c3.checkbox("Accept confident cases as AI labels", key="ai_al_accept")
    if st.button("Score unread cases", key="ai_al_run", icon=":material/sort:"):
        try:
            r = active_learning.score_unread(
                s,
                user,
                get_settings(),
                project_id,
                threshold=threshold,
                method=method,
                accept=accept,
                load=ai_ui.load_model,
            )
            st.success(
                f"{r.scored} unread case(s) scored with {r.model_key}: {r.to_humans} to humans "
                f"({r.human_share:.0%}), {r.confident} confident, {r.accepted} AI label(s) stored."
            )
        except MarkitError as e:
            show_error(e)
    labels = active_learning.ai_labels(s, user, project_id)
    if labels:
        st.markdown(f"**AI labels** ({len(labels)}, source AI — not human readings)")
        st.dataframe(
            pd.DataFrame([vars(r) for r in labels]),
            hide_index=True,
            key="ai_labels_table",
            placeholder=DASH,
        )
        if st.button("Export AI labels (CSV)", key="ai_labels_export"):
            try:  # each export is recorded in the ledger, so only on request
                text = active_learning.export_ai_labels_csv(s, user, project_id)
                st.session_state["ai_labels_csv_text"] = text
            except MarkitError as e:
                show_error(e)
        if st.session_state.get("ai_labels_csv_text"):
            st.download_button(
                "Download AI labels (CSV)",
                st.session_state["ai_labels_csv_text"],
                file_name="ai_labels.csv",
                key="ai_labels_csv",
            )
