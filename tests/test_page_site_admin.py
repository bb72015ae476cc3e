"""AppTest (issue 9): the site-admin page, forced password change at login, sessions that end
on deactivation, own password change, the archive picker and the identity-view audit."""

from __future__ import annotations

import pytest

from markit_core.account_admin import deactivate_user
from markit_core.accounts import get_user, login
from markit_core.errors import AuthenticationError
from markit_core.imaging.remote_archives import add_archive, list_archives
from markit_core.imaging.trace import mapping_table
from markit_core.models import Role
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD


@pytest.fixture
def app_env(settings, monkeypatch, admin, make_user):
    point_app_at(settings, monkeypatch)
    make_user("alice")
    return settings


def test_site_admin_page_only_for_admins(app_env):
    at = log_in(fresh_app(timeout=120), "alice", PASSWORD)
    with pytest.raises(ValueError, match="site_admin"):  # not even in alice's navigation
        open_page(at, "site_admin")


def test_admin_deactivates_and_the_session_of_that_user_ends(session, app_env):
    alice = log_in(fresh_app(timeout=120), "alice", PASSWORD)
    assert alice.session_state["user_id"]
    at = open_page(log_in(fresh_app(timeout=120), "root", PASSWORD), "site_admin")
    assert not at.exception, at.exception
    at.selectbox(key="manage_user").set_value("alice")
    at.radio(key="manage_verb").set_value("deactivate")
    at.button(key="manage_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not get_user(session, "alice").is_active
    alice.run()
    assert "user_id" not in alice.session_state
    assert "no longer active" in alice.info[0].value


def test_admin_reset_forces_a_new_password_at_login(session, app_env):
    at = open_page(log_in(fresh_app(timeout=120), "root", PASSWORD), "site_admin")
    at.selectbox(key="manage_user").set_value("alice")
    at.radio(key="manage_verb").set_value("reset password")
    at.button(key="manage_submit").click().run()
    assert not at.exception
    once = at.code[0].value
    assert len(once) >= 16
    # alice logs in with the one-time password: the page asks for a new one first
    a = log_in(fresh_app(timeout=120), "alice", once)
    assert "user_id" not in a.session_state
    assert "reset by an administrator" in a.info[0].value
    a.text_input(key="login_once").input(once)
    a.text_input(key="login_new").input("alice's own password")
    a.text_input(key="login_new_again").input("alice's own password")
    a.button(key="login_change_submit").click().run()
    assert not a.exception and a.session_state["user_id"]
    with pytest.raises(AuthenticationError):
        login(session, app_env, "alice", once)
    assert login(session, app_env, "alice", "alice's own password").username == "alice"


def test_user_changes_own_password_with_the_old_one(session, app_env):
    at = open_page(log_in(fresh_app(timeout=120), "alice", PASSWORD), "account")
    at.text_input(key="own_old").input("wrong old password")
    at.text_input(key="own_new").input("a new password here")
    at.text_input(key="own_again").input("a new password here")
    at.button(key="own_submit").click().run()
    assert "current password is not correct" in at.error[0].value
    at.text_input(key="own_old").input(PASSWORD)
    at.text_input(key="own_new").input("a new password here")
    at.text_input(key="own_again").input("a new password here")
    at.button(key="own_submit").click().run()
    assert at.success and "changed" in at.success[0].value
    assert login(session, app_env, "alice", "a new password here").username == "alice"


def test_admin_registers_an_archive_and_its_secret_is_not_shown(session, app_env):
    at = open_page(log_in(fresh_app(timeout=120), "root", PASSWORD), "site_admin")
    at.text_input(key="archive_name").input("Hospital")
    at.text_input(key="archive_url").input("http://127.0.0.1:8042/dicom-web")
    at.radio(key="archive_auth").set_value("token")
    at.text_input(key="archive_secret").input("very-secret-token-42")
    at.button(key="archive_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [a.name for a in list_archives(session, get_user(session, "root"))] == ["Hospital"]
    shown = " ".join(str(df.value.to_dict()) for df in at.dataframe)
    assert "Hospital" in shown and "very-secret-token-42" not in shown


def test_upload_page_offers_registered_archives_only(
    session, settings, app_env, make_user, make_project, admin
):
    owner = make_user("own")
    make_user("keeper")
    make_project("P", owner, {"keeper": [Role.DATA_OWNER]})
    add_archive(session, admin, "Orthanc A", "dicomweb", url="http://127.0.0.1:1/dicom-web")
    at = open_page(log_in(fresh_app(timeout=120), "keeper", PASSWORD), "upload")
    assert not at.exception, at.exception
    assert at.selectbox(key="dw_archive").options == ["Orthanc A"]
    keys = {w.key for w in at.text_input}
    assert "dw_url" not in keys and "pacs_host" not in keys


def test_owner_sees_who_looked_at_identities(session, settings, app_env, make_user, make_project):
    owner, keeper = make_user("own"), make_user("keeper")
    project = make_project("P", owner, {"keeper": [Role.DATA_OWNER]})
    mapping_table(session, keeper, project.id)
    at = open_page(log_in(fresh_app(timeout=120), "own", PASSWORD), "project_admin")
    assert not at.exception, at.exception
    views = next(d.value for d in at.dataframe if "what" in d.value.columns)
    assert views["username"].tolist() == ["keeper"] and views["what"].tolist() == ["mapping"]


def test_deactivated_user_cannot_log_in_on_the_page(session, app_env, admin):
    deactivate_user(session, admin, "alice")
    at = log_in(fresh_app(timeout=120), "alice", PASSWORD)
    assert "invalid username or password" in at.error[0].value
