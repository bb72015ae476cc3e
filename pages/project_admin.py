"""Projects page: create projects, manage members and roles, edit the label set."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from markit_core import ledger
from markit_core.access import Action, can
from markit_core.accounts import list_users
from markit_core.annotation.progress import project_progress
from markit_core.annotation.queue import assign_cases, parse_case_ids
from markit_core.annotation.summary import project_summary
from markit_core.errors import MarkitError
from markit_core.export.csv_export import export_annotations_csv
from markit_core.imaging.trace import identity_views
from markit_core.label_lines import add_label_lines
from markit_core.labels import LabelChanges, label_sources, list_labels, save_label_set
from markit_core.models import LabelKind, Role
from markit_core.projects import (
    create_project,
    grant_role,
    list_members,
    revoke_role,
    update_settings,
)
from markit_core.reading_options import set_show_report, show_report
from ui.export_panel import export_section
from ui.resources import get_settings
from ui.session import current_user, db, flash, show_error, show_flash
from ui.tables import DASH, activity_rows
from ui.text import plain
from ui.widgets import project_picker

ROLE_NAMES = {r.value: r.value.replace("_", " ") for r in Role}
EXPORT_KEY = "export_csv"

st.title("Projects")
s = db()
user = current_user(s)
if user is None:
    st.stop()
show_flash()


def _new_project_form() -> None:
    with (
        st.expander("New project", icon=":material/add:"),
        st.form("new_project", clear_on_submit=True),
    ):
        name = st.text_input("Project name", key="new_project_name")
        description = st.text_area("Description", key="new_project_description")
        sources = {src.key: src for src in label_sources(s, user)}
        labels_from = st.selectbox(
            "Start with the labels of",
            [None, *sources],
            format_func=lambda k: (
                "no labels (add them in the label editor)"
                if k is None
                else f"{sources[k].title} ({len(sources[k].labels)} labels)"
            ),
            key="new_project_labels_from",
            help="a built-in template or another project whose labels you manage; "
            "the copy is the new project's own",
        )
        if st.form_submit_button("Create project", type="primary", key="new_project_submit"):
            try:
                info = create_project(
                    s,
                    user,
                    name,
                    description=description,
                    settings=get_settings(),
                    labels_from=labels_from,
                )
            except MarkitError as e:
                show_error(e)
            else:
                st.session_state["project_id"] = info.id
                st.session_state["project_picker"] = info.id  # the new project becomes current
                copied = f" with {len(sources[labels_from].labels)} labels" if labels_from else ""
                st.success(f"Created project '{plain(info.name)}'{copied}; you are its owner.")


def _report_label_changes(changes: LabelChanges) -> None:
    """Flash what a save changed and rerun (the table then shows the stored set)."""
    if not changes.any:
        st.info("No changes to save.")
        return
    parts = [
        f"{what}: {', '.join(names)}"
        for what, names in (
            ("added", changes.created),
            ("changed", changes.updated),
            ("deleted", changes.deleted),
            ("archived (has answers)", changes.archived),
        )
        if names
    ]
    flash("Label set saved — " + "; ".join(parts))
    st.rerun()


# MARKIT_PROJECT_CREATORS: the core refuses anyway; the form is offered only where it can work
may_create = user.is_admin or get_settings().project_creators == "everyone"
if may_create:
    _new_project_form()

project = project_picker(s, user)
if project is None:
    st.info(
        "You are not in any project yet. "
        + ("Create one above, or ask" if may_create else "Ask")
        + " a project owner to add you."
    )
    st.stop()

st.subheader(plain(project.name))
if project.description:
    st.caption(plain(project.description))
st.caption("Your roles: " + (", ".join(ROLE_NAMES[r] for r in project.my_roles) or "administrator"))

# keyed and tracked: a change that reruns the page (flash + st.rerun) keeps the open tab
tabs = st.tabs(
    ["Labels", "Members", "Settings", "Statistics", "Activity"],
    key="project_tab",
    on_change="rerun",
)

with tabs[0]:
    labels = list_labels(s, user, project.id)
    editable = can(s, user, project.id, Action.EDIT_LABELS)
    frame = pd.DataFrame(
        [vars(lb) for lb in labels], columns=["id", "name", "group", "kind", "order"]
    )
    edited = st.data_editor(
        frame,
        key="label_editor",
        # no rerun per committed cell: with one, what is typed while the rerun redraws the
        # grid was lost (characters, and at times whole new rows); the edits stay in the
        # browser and reach the script with the next rerun (Save, or any other widget)
        on_change="ignore",
        num_rows="dynamic" if editable else "fixed",
        disabled=not editable,
        hide_index=True,
        width="stretch",
        column_config={
            "id": st.column_config.NumberColumn("id", disabled=True, help="assigned on save"),
            "name": st.column_config.TextColumn("Label", required=True, max_chars=100),
            "group": st.column_config.TextColumn("Group", help="e.g. Pleura"),
            "kind": st.column_config.SelectboxColumn(
                "Type",
                options=[k.value for k in LabelKind],
                default=LabelKind.BINARY.value,
                required=True,
                help="binary: present/absent with a 0-100 % confidence grade; roi: drawn regions",
            ),
            "order": st.column_config.NumberColumn("Order", step=1),
        },
        placeholder=DASH,
    )
    rows = edited.astype(object).where(edited.notna(), None).to_dict("records")
    if editable and st.button("Save label set", key="save_labels", type="primary"):
        try:
            _report_label_changes(save_label_set(s, user, project.id, rows))
        except MarkitError as e:
            show_error(e)
    if editable:
        # typing many labels: a text box keeps every key (the table's cell editor drops keys
        # typed before it opens); its button also saves the table's pending edits
        with st.form("label_lines_form", clear_on_submit=True, border=False):
            lines = st.text_area(
                "Add labels as text: one per line, `name, group, kind` (group and kind optional)",
                key="label_lines",
                placeholder="nodule, Lung\npleural effusion, Pleura\ntube tip, Devices, roi",
                height=110,
            )
            add = st.form_submit_button("Add these labels", key="label_lines_add")
        if add:
            try:
                _report_label_changes(add_label_lines(s, user, project.id, rows, lines))
            except MarkitError as e:
                show_error(e)

with tabs[1]:
    members = list_members(s, user, project.id)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "user": m.username,
                    "name": m.display_name,
                    "roles": ", ".join(ROLE_NAMES[r] for r in m.roles),
                }
                for m in members
            ]
        ),
        hide_index=True,
        width="stretch",
        key="members_table",
        placeholder=DASH,
    )
    if can(s, user, project.id, Action.MANAGE_MEMBERS):
        usernames = [u.username for u in list_users(s, user)]
        with st.form("role_form"):
            c1, c2, c3 = st.columns([2, 2, 1])
            who = c1.selectbox("User", usernames, key="role_user")
            role = c2.selectbox(
                "Role", list(ROLE_NAMES), format_func=ROLE_NAMES.get, key="role_role"
            )
            verb = c3.radio("Action", ["grant", "revoke"], key="role_verb", horizontal=False)
            if st.form_submit_button("Apply", type="primary", key="role_submit"):
                try:
                    if verb == "grant":
                        changed = grant_role(s, user, project.id, who, role)
                        msg = (
                            f"{who} is now {ROLE_NAMES[role]}"
                            if changed
                            else f"{who} already was {ROLE_NAMES[role]}"
                        )
                    else:
                        revoke_role(s, user, project.id, who, role)
                        msg = f"{who} is no longer {ROLE_NAMES[role]}"
                except MarkitError as e:
                    show_error(e)
                else:
                    flash(msg)
                    st.rerun()

with tabs[2]:
    if can(s, user, project.id, Action.EDIT_SETTINGS):
        with st.form("settings_form"):
            desc = st.text_area("Description", project.description, key="settings_description")
            needed = st.number_input(
                "Annotators per case",
                0,
                50,
                project.required_annotators,
                help="0: every annotator reads every case. Otherwise a case "
                "leaves the queues once this many have read it.",
                key="settings_required",
            )
            show = st.checkbox(
                "Show other annotators' answers after one's own submission "
                "(review / training mode)",
                project.show_others_after_submit,
                key="settings_show_others",
            )
            report_shown = st.checkbox(
                "Show the radiology report to readers (off: blinded reading)",
                show_report(s, user, project.id),
                key="settings_show_report",
            )
            if st.form_submit_button("Save settings", type="primary", key="settings_submit"):
                try:
                    update_settings(
                        s,
                        user,
                        project.id,
                        description=desc,
                        required_annotators=int(needed),
                        show_others_after_submit=show,
                    )
                    if report_shown != show_report(s, user, project.id):
                        set_show_report(s, user, project.id, report_shown)
                except MarkitError as e:
                    show_error(e)
                else:
                    st.success("Settings saved.")
        annotators = [
            m.username for m in list_members(s, user, project.id) if "annotator" in m.roles
        ]
        with st.form("assign_form"):
            st.markdown("**Assign cases** — an annotator with assignments sees only those cases")
            c1, c2 = st.columns([1, 2])
            who = c1.selectbox("Annotator", annotators, key="assign_user")
            ids = c2.text_input("Case ids", placeholder="e.g. 1-50, 75", key="assign_cases")
            if st.form_submit_button("Assign", key="assign_submit"):
                try:
                    new = assign_cases(s, user, project.id, who or "", parse_case_ids(ids))
                except MarkitError as e:
                    show_error(e)
                else:
                    st.success(f"{new} case(s) newly assigned to {plain(who)}.")
    else:
        st.info("Only owners and managers can change project settings.")

with tabs[3]:
    if can(s, user, project.id, Action.STATS):
        stats = project_summary(s, user, project.id)
        c = st.columns(4)
        c[0].metric("Cases", stats.cases)
        c[1].metric("Annotated cases", stats.annotated_cases)
        c[2].metric("Annotations", stats.annotations)
        c[3].metric("Labels", stats.labels)
        st.bar_chart(pd.Series(stats.members_by_role, name="members"), horizontal=True)
    else:
        st.info("Your roles do not include project statistics.")
    if can(s, user, project.id, Action.PROGRESS):
        st.markdown("**Progress per annotator**")
        st.dataframe(
            pd.DataFrame(
                [
                    {"annotator": p.username, "done": p.done, "of": p.total, "progress": p.fraction}
                    for p in project_progress(s, user, project.id)
                ]
            ),
            hide_index=True,
            key="progress_table",
            column_config={
                "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)
            },
            placeholder=DASH,
        )
    if can(s, user, project.id, Action.EXPORT):
        if st.button("Export annotations (CSV)", key="export_prepare", icon=":material/download:"):
            st.session_state[EXPORT_KEY] = (project.id, export_annotations_csv(s, user, project.id))
        ready = st.session_state.get(EXPORT_KEY)
        if ready and ready[0] == project.id:
            st.download_button(
                "Download the export",
                ready[1],
                file_name=f"{project.name}-annotations.csv",
                mime="text/csv",
                key="export_download",
            )
            st.caption(
                "Recorded in the activity ledger. The file feeds `python -m markit_core rewards`."
            )
        export_section(s, user, project.id, project.name)


def show_verification(result: ledger.VerifyResult, scope: str) -> None:
    if result.ok:
        st.success(
            f"Ledger intact: {result.entries} entries{scope}, "
            f"{result.records_checked} records re-digested."
        )
    else:
        st.error(f"Ledger broken — {plain(result.problem)}")


with tabs[4]:
    if can(s, user, project.id, Action.STATS):
        if st.button("Verify this project", key="verify_ledger", icon=":material/verified:"):
            try:
                show_verification(ledger.verify(s, user, project.id), " of this project")
            except MarkitError as e:
                show_error(e)
        if user.is_admin and st.button(
            "Verify the whole ledger (all projects)",
            key="verify_ledger_all",
            icon=":material/verified_user:",
        ):
            try:
                show_verification(ledger.verify(s, user), "")
            except MarkitError as e:
                show_error(e)
        entries = ledger.recent(s, user, project.id, limit=100)
        st.dataframe(
            activity_rows(entries),
            hide_index=True,
            width="stretch",
            key="ledger_table",
            placeholder=DASH,
        )
    else:
        st.info("Your roles do not include the activity log.")
    if can(s, user, project.id, Action.AUDIT_IDENTITY):
        st.markdown("**Who looked at patient identities** (de-identification trace-back)")
        st.dataframe(
            pd.DataFrame(
                [vars(v) for v in identity_views(s, user, project.id)],
                columns=["at", "username", "what", "case_id", "detail"],
            ),
            hide_index=True,
            width="stretch",
            key="identity_views_table",
            placeholder=DASH,
        )
s.close()
