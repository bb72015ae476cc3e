"""AI assist page: model picker, probabilities per label, the Grad-CAM overlay, project runs,
pre-label settings, training from annotations and active learning.

Thin: every section reads its widgets, calls one service of ``markit_core.inference`` and
draws the result. Runs (whole-project inference, training) go on in the server's background
threads with their progress in the database; the page only polls it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from markit_core.access import Action, can
from markit_core.errors import MarkitError
from markit_core.inference import prelabels, project_run, service
from markit_core.inference.base import TaskType
from markit_core.inference.errors import WeightsError
from ui import ai as ai_ui
from ui import viewer
from ui.resources import get_settings
from ui.session import db, flash, show_error
from ui.tables import DASH
from ui.widgets import page_start

VIEW_SIZE = (512, 512)
MODE_NAMES = {
    "hidden": "Hidden",
    "after": "Shown after the reader answers",
    "before": "Shown before (pre-labels)",
}


def weights_help(choice: service.ModelChoice) -> None:
    """Say where an administrator puts external weights."""
    wdir = get_settings().resolved_weights_dir
    st.info(
        f"This model needs the weights file {choice.weights_file!r}, which MarkIt cannot "
        f"download. An administrator copies it into MARKIT_WEIGHTS_DIR (now: {wdir}); its "
        "SHA-256 is checked against models/weights.sha256 before it is loaded.",
        icon=":material/folder_open:",
    )


def pick_model(choices: list[service.ModelChoice]) -> service.ModelChoice:
    keys = [c.info.key for c in choices]
    by_key = {c.info.key: c for c in choices}
    # the project's active model first, else a pathology model: what readers are shown
    preferred = [c.info.key for c in choices if c.active]
    preferred += [c.info.key for c in choices if c.task == "pathologies" and c.trained_here]
    preferred += [c.info.key for c in choices if c.task == "pathologies"]
    if st.session_state.get("ai_model") not in keys:
        st.session_state["ai_model"] = (preferred or keys)[0]

    def name(key: str) -> str:
        c = by_key[key]
        tags = [c.task] + (["active"] if c.active else []) + (["trained here"] * c.trained_here)
        return f"{key} ({', '.join(tags)})"

    key = st.sidebar.selectbox("Model", keys, key="ai_model", format_func=name)
    return by_key[key]


def outputs_table(pred: service.CasePrediction, threshold: float) -> None:
    info = pred.info
    if info.task_type is TaskType.REGRESSION:
        for label, value in pred.outputs.items():
            st.metric(label, f"{value:.1f} {info.units}".strip())
        return
    frame = pd.DataFrame(
        {
            "label": list(pred.outputs),
            "probability": list(pred.outputs.values()),
            "suggested": [v >= threshold for v in pred.outputs.values()],
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        key="ai_outputs",
        column_config={
            "probability": st.column_config.ProgressColumn(
                "probability", min_value=0.0, max_value=1.0, format="%.3f"
            )
        },
        placeholder=DASH,
    )


def case_section(s, user, project_id: int, choice: service.ModelChoice) -> None:
    settings = get_settings()
    cases = service.project_cases(s, user, project_id)
    if not cases:
        st.info("This project has no cases yet: upload images first.")
        return
    names = {cid: f"{name} ({mod or 'raster'})" for cid, name, mod in cases}
    case_id = st.selectbox("Case", list(names), key="ai_case", format_func=names.get)
    options = prelabels.ai_options(s, project_id)
    threshold = st.slider(
        "Threshold", 0.05, 0.95, value=float(options.threshold), step=0.05, key="ai_threshold"
    )
    info = choice.info
    show, label, opacity = ai_ui.heatmap_controls(
        [] if info.task_type is TaskType.REGRESSION else list(info.labels), default_on=True
    )
    load = ai_ui.load_model
    if show and label:
        pred = service.explain_case(
            s, user, settings, project_id, case_id, info.name, [label], info.version, load=load
        )
    else:
        pred = service.predict_case(
            s, user, settings, project_id, case_id, info.name, info.version, load=load
        )
    for warning in pred.warnings:
        st.warning(warning, icon=":material/warning:")
    left, right = st.columns([3, 2])
    with right:
        st.caption(f"{info.key} · {'cached' if pred.cached else 'computed now'}")
        outputs_table(pred, threshold)
    with left:
        case = service.case_row(s, user, project_id, case_id)
        background, mapping = viewer.render_view(
            case.stored_path, 0, None, None, False, None, None, VIEW_SIZE
        )
        cam_key = (case_id, info.name, info.version, label) if show and label else None
        st.image(ai_ui.with_heatmap(background, mapping, settings, cam_key, opacity))
        if cam_key:
            st.caption(f"Grad-CAM of {label!r} at {opacity:.0%} opacity")


@st.fragment(run_every=2.0)
def run_progress(project_id: int) -> None:
    """Polls the newest project run (every 2 s) while the page is open."""
    with db() as s2:
        from ui.session import current_user

        user = current_user(s2)
        if user is None:
            return
        try:
            run_status_panel(s2, user, project_id)
        except MarkitError as e:
            show_error(e)


def run_status_panel(s2, user, project_id: int) -> None:
    status = project_run.latest_run(s2, user, project_id)
    if status is None:
        st.caption("No run yet.")
        return
    st.progress(
        status.fraction,
        text=f"Run {status.run_id} · {status.model_key} · {status.status} · "
        f"{status.done} / {status.total} cases"
        + (f" · {status.failed} unreadable" if status.failed else ""),
    )
    if status.error:
        st.caption(f"Last problem: {status.error}")
    if status.status in project_run.ACTIVE and st.button("Cancel run", key="ai_run_cancel"):
        project_run.cancel_run(s2, user, project_id, status.run_id)
    if status.resumable and st.button("Resume run", key="ai_run_resume"):
        project_run.resume_run(
            s2, user, get_settings(), project_id, status.run_id, load=ai_ui.load_model
        )


def run_section(s, user, project_id: int, choice: service.ModelChoice) -> None:
    st.subheader("Run over the whole project", divider="gray")
    st.caption(
        "Predicts every case in the background (batched; resumable; it goes on if you close "
        "this page). The stored predictions of the active pathology model are the project's "
        "AI reference: kappa vs AI on the review page, AI quality control for rewards."
    )
    batch = st.number_input("Batch size", 1, project_run.MAX_BATCH, 16, key="ai_batch")
    c1, c2 = st.columns(2)
    if c1.button("Run over project", key="ai_run_start", icon=":material/play_arrow:"):
        project_run.start_project_run(
            s,
            user,
            get_settings(),
            project_id,
            choice.info.name,
            choice.info.version,
            batch_size=int(batch),
            load=ai_ui.load_model,
        )
        flash(f"Started {choice.info.key} over the project.")
        st.rerun()
    if c2.button(
        "Make this the active model",
        key="ai_activate",
        disabled=choice.active,
        help="Used for the AI reference, pre-labels and the active-learning queue",
    ):
        task = service.set_active_model(s, user, project_id, choice.info.name, choice.info.version)
        flash(f"{choice.info.key} is now the project's {task} model.")
        st.rerun()
    run_progress(project_id)


def settings_section(s, user, project_id: int) -> None:
    st.subheader("Pre-labels and AI settings", divider="gray")
    options = prelabels.ai_options(s, project_id)
    with st.form("ai_settings_form"):
        mode = st.radio(
            "AI suggestions on the annotate page",
            prelabels.MODES,
            index=prelabels.MODES.index(options.prelabel_mode),
            format_func=MODE_NAMES.get,
            key="ai_mode",
        )
        accept = st.checkbox(
            "One-click accept per label (pre-labels only)",
            options.one_click_accept,
            key="ai_one_click",
        )
        annotators = st.checkbox(
            "Annotators may use AI assist", options.annotators_may_use, key="ai_annotators"
        )
        threshold = st.number_input(
            "Suggestion threshold",
            0.01,
            0.99,
            float(options.threshold),
            0.05,
            key="ai_settings_threshold",
        )
        minimum = st.number_input(
            "Minimum labelled cases to train",
            1,
            100000,
            options.min_training_cases,
            key="ai_min_cases",
        )
        if st.form_submit_button("Save AI settings", key="ai_settings_save"):
            prelabels.update_ai_options(
                s,
                user,
                project_id,
                prelabel_mode=mode,
                one_click_accept=accept,
                annotators_may_use=annotators,
                threshold=float(threshold),
                min_training_cases=int(minimum),
            )
            flash("AI settings saved.")
            st.rerun()


def manager_sections(s, user, project_id: int, choice: service.ModelChoice) -> None:
    from ui.ai_sections import active_learning_section, training_section

    settings_section(s, user, project_id)
    training_section(s, user, project_id)
    active_learning_section(s, user, project_id)


s, user, project = page_start(
    "AI assist", Action.USE_AI, "You have no project where you may use AI assist."
)
try:
    choices = service.model_choices(s, user, project.id)
    choice = pick_model(choices)
    st.sidebar.caption(choice.info.description)
    try:
        case_section(s, user, project.id, choice)
    except WeightsError as e:
        show_error(e)
        weights_help(choice)
    if can(s, user, project.id, Action.EDIT_SETTINGS):
        run_section(s, user, project.id, choice)
        manager_sections(s, user, project.id, choice)
except MarkitError as e:
    show_error(e)
finally:
    s.close()
