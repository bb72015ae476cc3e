"""AppTest: the projects page — create, label set editor, members, settings, stats, ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from markit_core import ledger
from markit_core.labels import add_labels, list_labels
from markit_core.models import Role
from markit_core.projects import list_members, list_projects
from tests.apptest_helpers import fresh_app, log_in, open_page, open_tab, point_app_at
from tests.conftest import PASSWORD


@pytest.fixture
def app_env(settings, monkeypatch, admin, make_user, make_project):
    point_app_at(settings, monkeypatch)
    owner = make_user("owner")
    make_user("ann")
    return settings, owner


def _open(username: str):
    at = open_page(log_in(fresh_app(), username, PASSWORD), "project_admin")
    assert not at.exception, at.exception
    return at


def test_create_project_from_the_page(session, app_env, monkeypatch):
    monkeypatch.setenv("MARKIT_PROJECT_CREATORS", "everyone")  # default: administrators only
    at = _open("owner")
    assert "not in any project" in at.info[0].value
    at.text_input(key="new_project_name").input("Pneumothorax pilot")
    at.button(key="new_project_submit").click().run()
    assert not at.exception
    assert "Created project 'Pneumothorax pilot'" in at.success[0].value
    assert (
        at.sidebar.selectbox(key="project_picker").format_func(
            at.sidebar.selectbox(key="project_picker").value
        )
        == "Pneumothorax pilot"
    )
    at.text_input(key="new_project_name").input("pneumothorax PILOT")
    at.button(key="new_project_submit").click().run()
    assert "is not available" in at.error[0].value
    # a second new project becomes the current one too (the picker had a value already)
    at.text_input(key="new_project_name").input("Second study")
    at.button(key="new_project_submit").click().run()
    picker = at.sidebar.selectbox(key="project_picker")
    assert picker.format_func(picker.value) == "Second study"


def test_new_project_form_only_where_the_site_allows_it(session, app_env, monkeypatch):
    monkeypatch.delenv("MARKIT_PROJECT_CREATORS", raising=False)
    at = _open("owner")
    assert not [t for t in at.text_input if t.key == "new_project_name"]
    assert "Ask a project owner" in at.info[0].value


def test_label_editor_saves_and_rejects_bad_rows(session, app_env, make_project):
    _, owner = app_env
    project = make_project("Chest", owner)
    add_labels(session, owner, project.id, [("cardiomegaly", "Heart")])
    at = _open("owner")
    assert [d for d in at.dataframe if d.key == "label_editor"], "label editor not rendered"
    # AppTest cannot type into data_editor cells; the edit goes through the widget's state.
    at.session_state["label_editor"] = {
        "edited_rows": {},
        "added_rows": [
            {"name": "pleural effusion", "group": "Pleura", "kind": "binary", "order": 2}
        ],
        "deleted_rows": [],
    }
    at.button(key="save_labels").click().run()
    assert not at.exception, at.exception
    names = [lb.name for lb in list_labels(session, owner, project.id)]
    assert names == ["cardiomegaly", "pleural effusion"]
    at.session_state["label_editor"] = {
        "edited_rows": {},
        "added_rows": [{"name": "bad\x07name", "kind": "binary"}],
        "deleted_rows": [],
    }
    at.button(key="save_labels").click().run()
    assert "control character" in at.error[0].value
    assert [lb.name for lb in list_labels(session, owner, project.id)] == names


def test_members_tab_grants_and_refuses_last_owner_removal(session, app_env, make_project):
    _, owner = app_env
    project = make_project("Chest", owner)
    at = _open("owner")
    at.selectbox(key="role_user").select("ann")
    at.selectbox(key="role_role").select("annotator")
    at.button(key="role_submit").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert "ann is now annotator" in at.success[0].value
    assert at.session_state["project_tab"] == "Labels"  # default; a user's pick is kept
    assert {m.username: m.roles for m in list_members(session, owner, project.id)}["ann"] == (
        "annotator",
    )
    at.selectbox(key="role_user").select("owner")
    at.selectbox(key="role_role").select("owner")
    at.radio(key="role_verb").set_value("revoke")
    at.button(key="role_submit").click().run()
    assert "last owner" in at.error[0].value
    assert ledger.integrity(session).ok


def test_annotator_sees_read_only_labels_and_no_member_form(session, app_env, make_project):
    _, owner = app_env
    make_project("Chest", owner, {"ann": [Role.ANNOTATOR]})
    at = _open("ann")
    editor = next(d for d in at.dataframe if d.key == "label_editor")
    assert list(editor.value["name"]) == []
    assert not [b for b in at.button if b.key == "save_labels"]
    assert not [s for s in at.selectbox if s.key == "role_user"]
    assert any("Only owners and managers" in i.value for i in at.info)


def test_settings_and_stats_tabs(session, app_env, make_project):
    _, owner = app_env
    project = make_project("Chest", owner)
    at = _open("owner")
    at.number_input(key="settings_required").set_value(3)
    at.checkbox(key="settings_show_others").check()
    at.button(key="settings_submit").click().run()
    assert "Settings saved" in at.success[0].value
    row = session.exec(
        text(
            f"select required_annotators, show_others_after_submit from project "
            f"where id = {project.id}"
        )
    ).one()
    assert tuple(row) == (3, 1)
    assert [m.value for m in at.metric][:2] == ["0", "0"]
    at.button(key="verify_ledger").click().run()
    assert any("Ledger intact" in s.value for s in at.success)


def _demo_app(settings, session):
    from markit_core.demo.seed import seed_demo

    seed_demo(session, settings)
    return open_page(log_in(fresh_app(), "pi", settings.demo_password), "project_admin")


def test_assign_cases_progress_and_export(session, settings, monkeypatch):
    point_app_at(settings, monkeypatch)
    at = _demo_app(settings, session)
    assert not at.exception, at.exception
    progress = at.tabs[3].dataframe[0].value
    assert dict(zip(progress["annotator"], progress["done"], strict=True)) == {
        "ann1": 22,
        "ann2": 24,
        "ann3": 24,
        "ann4": 24,
    }
    at.selectbox(key="assign_user").select("ann1")
    at.text_input(key="assign_cases").input("1-3, 5")
    at.button(key="assign_submit").click().run()
    assert "4 case(s) newly assigned to ann1" in at.success[0].value
    at.text_input(key="assign_cases").input("1-x")
    at.button(key="assign_submit").click().run()
    assert "not a case id" in at.error[0].value
    at.button(key="export_prepare").click().run()
    assert not at.exception, at.exception
    exports = session.exec(text("select rows from export_record")).all()
    assert [r[0] for r in exports] == [(24 * 4 - 2) * 7]
    assert any(b.key == "export_download" for b in at.get("download_button"))


def test_new_project_copies_a_template_or_a_managed_projects_labels(
    session, app_env, make_project, monkeypatch
):
    monkeypatch.setenv("MARKIT_PROJECT_CREATORS", "everyone")
    _, owner = app_env
    src = make_project("Source", owner)
    add_labels(session, owner, src.id, [("nodule", "Lung"), ("tube tip", "Devices")])
    at = _open("owner")
    picker = at.selectbox(key="new_project_labels_from")
    assert picker.options[0].startswith("no labels")
    assert picker.options[1:] == [
        "Chest X-ray: the MarkIt paper's 7 critical labels (7 labels)",
        "Source (2 labels)",
    ]
    at.text_input(key="new_project_name").input("Chest study")
    at.selectbox(key="new_project_labels_from").select("template:chest-xray-7")
    at.button(key="new_project_submit").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert "Created project 'Chest study' with 7 labels" in at.success[0].value
    by_name = {p.name: p.id for p in list_projects(session, owner)}
    assert [lb.name for lb in list_labels(session, owner, by_name["Chest study"])][:2] == [
        "interstitial lung disease",
        "pneumonia",
    ]
    # the new project is current and its label editor shows the copied set
    editor = next(d for d in at.dataframe if d.key == "label_editor")
    assert len(editor.value) == 7
    at.text_input(key="new_project_name").input("Second")
    at.selectbox(key="new_project_labels_from").select(f"project:{src.id}")
    at.button(key="new_project_submit").click().run()
    assert not at.exception and not at.error
    by_name = {p.name: p.id for p in list_projects(session, owner)}
    assert [(lb.name, lb.group) for lb in list_labels(session, owner, by_name["Second"])] == [
        ("nodule", "Lung"),
        ("tube tip", "Devices"),
    ]
    assert ledger.integrity(session).ok


def test_label_editor_keeps_typed_rows_until_saved(session, app_env, make_project):
    """Typing in the label editor does not rerun the page (a rerun per committed cell lost
    what was typed meanwhile in the browser); the edits survive other reruns and are saved
    whole."""
    _, owner = app_env
    project = make_project("Chest", owner)
    add_labels(session, owner, project.id, [("cardiomegaly", "Heart")])
    at = _open("owner")
    editor = next(d for d in at.dataframe if d.key == "label_editor")
    assert editor.proto.ignore_rerun and editor.editing_mode == "dynamic"
    editor_id = editor.proto.id
    typed = {
        "edited_rows": {"0": {"group": "Cardiac"}},
        "added_rows": [
            {"name": "nodule", "group": "Lung"},
            {"name": "effusion", "group": "Pleura", "kind": "binary"},
        ],
        "deleted_rows": [],
    }
    at.session_state["label_editor"] = typed
    at.run()
    # an unrelated rerun (another tab's widget) keeps the editor and its edits
    at.selectbox(key="role_user").select("ann").run()
    editor = next(d for d in at.dataframe if d.key == "label_editor")
    assert editor.proto.id == editor_id and at.session_state["label_editor"] == typed
    at.button(key="save_labels").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert [(lb.name, lb.group) for lb in list_labels(session, owner, project.id)] == [
        ("cardiomegaly", "Cardiac"),
        ("nodule", "Lung"),
        ("effusion", "Pleura"),
    ]


def test_a_change_on_the_members_tab_stays_on_that_tab(session, app_env, make_project):
    _, owner = app_env
    make_project("Chest", owner)
    at = _open("owner")
    at.session_state["project_tab"] = "Members"  # the user opens the tab
    at.run()
    at.selectbox(key="role_user").select("ann")
    at.selectbox(key="role_role").select("reviewer")
    at.button(key="role_submit").click().run()
    assert not at.exception and not at.error
    assert "ann is now reviewer" in at.success[0].value
    assert open_tab(at) == "Members"


def test_labels_typed_as_lines_are_added_with_the_tables_pending_edits(
    session, app_env, make_project
):
    """The text box adds one label per line (a text box keeps every key typed, where the
    table's cell editor drops keys typed before it opens) and saves what was edited in the
    table but not saved yet, in one go; a bad line names itself and stores nothing."""
    _, owner = app_env
    project = make_project("Chest", owner)
    add_labels(session, owner, project.id, [("cardiomegaly", "Heart")])
    at = _open("owner")
    at.session_state["label_editor"] = {
        "edited_rows": {"0": {"group": "Cardiac"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.text_area(key="label_lines").input("nodule, Lung\ntube tip, Devices, roi, extra\n")
    at.button(key="label_lines_add").click().run()
    assert "line 2: 4 fields" in at.error[0].value
    assert [lb.name for lb in list_labels(session, owner, project.id)] == ["cardiomegaly"]
    at.text_area(key="label_lines").input(
        "nodule, Lung\n\npleural effusion\tPleura\ntube tip, Devices, ROI\n"
    )
    at.button(key="label_lines_add").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert "added: nodule, pleural effusion, tube tip" in at.success[0].value
    saved = {lb.name: (lb.group, lb.kind) for lb in list_labels(session, owner, project.id)}
    assert saved == {
        "cardiomegaly": ("Cardiac", "binary"),
        "nodule": ("Lung", "binary"),
        "pleural effusion": ("Pleura", "binary"),
        "tube tip": ("Devices", "roi"),
    }
    editor = next(d for d in at.dataframe if d.key == "label_editor")
    assert len(editor.value) == 4  # the table shows the stored set
    assert ledger.integrity(session).ok
