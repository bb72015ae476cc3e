"""Issue 9, points 1, 2 and 4: role hierarchy, trace-back audit, who creates projects,
the remote-archive registry, and errors that reveal nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.config import Settings
from markit_core.errors import NotFoundError, PermissionDenied, SourceError, ValidationError
from markit_core.imaging.remote_archives import add_archive, list_archives, remove_archive
from markit_core.imaging.remote_import import import_studies, search_studies
from markit_core.imaging.sources.dicomweb import DicomWebSource
from markit_core.imaging.trace import find_by_original, identity_views, mapping_table, trace_case
from markit_core.models import LedgerEntry, Role
from markit_core.projects import create_project, grant_role, revoke_role
from markit_core.reports import reports_for_case
from tests.review_helpers import add_cases
from tests.servers import free_port

# --- point 1: role hierarchy ---------------------------------------------------------------


@pytest.fixture
def team(session, make_user, make_project):
    owner, manager, ann, other = (make_user(n) for n in ("own", "man", "ann", "other"))
    project = make_project("Team", owner, {"man": [Role.MANAGER]})
    return project, owner, manager, ann, other


def test_manager_cannot_grant_themselves_data_owner(session, team):
    project, _owner, manager, _ann, _other = team
    with pytest.raises(PermissionDenied):
        grant_role(session, manager, project.id, "man", Role.DATA_OWNER)
    with pytest.raises(PermissionDenied, match="grant themselves"):
        grant_role(session, manager, project.id, "man", Role.ANNOTATOR)


@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER, Role.DATA_OWNER])
def test_manager_cannot_grant_senior_roles_to_others(session, team, role):
    project, _owner, manager, _ann, _other = team
    with pytest.raises(PermissionDenied, match="owner or a site administrator"):
        grant_role(session, manager, project.id, "other", role)


def test_manager_grants_and_revokes_readers_only(session, team):
    project, owner, manager, _ann, _other = team
    assert grant_role(session, manager, project.id, "ann", Role.ANNOTATOR)
    assert grant_role(session, manager, project.id, "ann", Role.REVIEWER)
    revoke_role(session, manager, project.id, "ann", Role.REVIEWER)
    grant_role(session, owner, project.id, "other", Role.DATA_OWNER)
    with pytest.raises(PermissionDenied):
        revoke_role(session, manager, project.id, "other", Role.DATA_OWNER)


def test_owner_grants_senior_roles_but_not_to_themselves(session, team):
    project, owner, _manager, _ann, _other = team
    assert grant_role(session, owner, project.id, "other", Role.DATA_OWNER)
    assert grant_role(session, owner, project.id, "ann", Role.MANAGER)
    with pytest.raises(PermissionDenied, match="grant themselves"):
        grant_role(session, owner, project.id, "own", Role.DATA_OWNER)


def test_site_admin_grants_any_role(session, admin, team):
    project, *_ = team
    assert grant_role(session, admin, project.id, "man", Role.DATA_OWNER)


# --- point 1: every trace-back view is ledgered and listed for owners ------------------------


def test_trace_back_views_are_ledgered_and_listed_for_owners(
    session, settings, make_user, make_project
):
    owner, keeper = make_user("own"), make_user("keeper")
    project = make_project("P", owner, {"keeper": [Role.DATA_OWNER]})
    (case_id,) = add_cases(session, settings, project.id, 1)
    before = session.exec(select(LedgerEntry).where(LedgerEntry.action == "identity.view")).all()
    assert before == []
    trace_case(session, keeper, case_id)
    mapping_table(session, keeper, project.id)
    find_by_original(session, keeper, project.id, "PAT-1")
    entries = session.exec(
        select(LedgerEntry).where(LedgerEntry.action == "identity.view").order_by(LedgerEntry.seq)
    ).all()
    assert [e.actor for e in entries] == ["keeper"] * 3
    views = identity_views(session, owner, project.id)
    assert [(v.username, v.what, v.case_id) for v in views] == [
        ("keeper", "search", None),
        ("keeper", "mapping", None),
        ("keeper", "case", case_id),
    ]
    assert "PAT-1" not in views[0].detail  # the searched identifier itself is not logged
    with pytest.raises(PermissionDenied):
        identity_views(session, keeper, project.id)  # data owners cannot audit themselves
    assert ledger.integrity(session).ok


# --- point 2: who may create projects -------------------------------------------------------


def test_only_admins_create_projects_by_default(session, admin, make_user, tmp_path):
    ann = make_user("ann")
    with pytest.raises(PermissionDenied, match="MARKIT_PROJECT_CREATORS"):
        create_project(session, ann, "Mine", settings=Settings(data_dir=tmp_path))
    assert create_project(session, admin, "Admins", settings=Settings(data_dir=tmp_path)).id
    everyone = Settings(data_dir=tmp_path, project_creators="everyone")
    assert create_project(session, ann, "Mine", settings=everyone).my_roles == ("owner",)


def test_project_creators_setting_from_environment(session, make_user, monkeypatch):
    ann = make_user("ann")
    monkeypatch.delenv("MARKIT_PROJECT_CREATORS", raising=False)
    with pytest.raises(PermissionDenied):
        create_project(session, ann, "Mine")
    monkeypatch.setenv("MARKIT_PROJECT_CREATORS", "everyone")
    assert create_project(session, ann, "Mine").id
    monkeypatch.setenv("MARKIT_PROJECT_CREATORS", "annotators")
    with pytest.raises(Exception, match="admins"):
        Settings()


# --- point 2: the remote-archive registry -----------------------------------------------------


def test_archives_are_registered_by_admins_and_never_show_their_secret(session, admin, make_user):
    keeper = make_user("keeper")
    with pytest.raises(PermissionDenied):
        add_archive(session, keeper, "PACS", "dicomweb", url="http://127.0.0.1:1/dicom-web")
    info = add_archive(
        session,
        admin,
        "Hospital PACS",
        "dicomweb",
        url="http://127.0.0.1:8042/dicom-web",
        auth="basic",
        username="markit",
        secret="s3cret-token-value",
    )
    listed = list_archives(session, keeper)
    assert [a.name for a in listed] == ["Hospital PACS"]
    assert "s3cret-token-value" not in repr(listed) and listed[0].secret.startswith("set")
    with pytest.raises(ValidationError, match="already registered"):
        add_archive(session, admin, "Hospital PACS", "dimse", host="h", port=104, called_aet="X")
    with pytest.raises(ValidationError):
        add_archive(session, admin, "Bad", "ftp", url="ftp://x")
    with pytest.raises(PermissionDenied):
        remove_archive(session, keeper, info.id)
    remove_archive(session, admin, "Hospital PACS")
    assert list_archives(session, admin) == []
    actions = [e.action for e in session.exec(select(LedgerEntry))]
    assert "archive.add" in actions and "archive.remove" in actions
    dump = " ".join(str(tuple(r)) for r in session.exec(select(LedgerEntry)))
    assert "s3cret-token-value" not in dump


def test_data_owner_imports_only_from_a_registered_archive(
    session, settings, admin, make_user, make_project
):
    owner, keeper = make_user("own"), make_user("keeper")
    project = make_project("P", owner, {"keeper": [Role.DATA_OWNER]})
    closed = free_port()
    typed = DicomWebSource(f"http://127.0.0.1:{closed}/dicom-web")
    with pytest.raises(PermissionDenied, match="registered archive"):
        search_studies(session, keeper, project.id, typed)
    with pytest.raises(PermissionDenied, match="registered archive"):
        import_studies(session, settings, keeper, project.id, typed, ["1.2.3"])
    archive = add_archive(
        session, admin, "Local", "dicomweb", url=f"http://127.0.0.1:{closed}/dicom-web"
    )
    # the registered address is used: nothing listens there, so the study fails cleanly
    report = import_studies(session, settings, keeper, project.id, archive.id, ["1.2.3"])
    assert [s.ok for s in report.studies] == [False]
    assert "connect" in report.studies[0].reason
    with pytest.raises(SourceError):
        search_studies(session, keeper, project.id, archive.id)
    with pytest.raises(NotFoundError):
        import_studies(session, settings, keeper, project.id, 999, ["1.2.3"])


# --- point 4: errors reveal nothing ----------------------------------------------------------


def test_not_found_is_the_same_for_hidden_and_missing_cases(
    session, settings, make_user, make_project
):
    owner, outsider = make_user("own"), make_user("outsider")
    project = make_project("Hidden", owner)
    (case_id,) = add_cases(session, settings, project.id, 1)
    missing = case_id + 1000
    for read in (trace_case, reports_for_case):
        with pytest.raises(NotFoundError) as hidden:
            read(session, outsider, case_id)
        with pytest.raises(NotFoundError) as absent:
            read(session, outsider, missing)
        assert str(hidden.value) == str(absent.value).replace(str(missing), str(case_id))
        assert "project" not in str(hidden.value)


def test_duplicate_project_name_does_not_reveal_a_private_project(session, admin, make_user):
    owner = make_user("own")
    create_project(session, admin, "Secret Study", owner=owner)
    with pytest.raises(ValidationError) as theirs:
        create_project(session, admin, "secret study")
    create_project(session, admin, "Mine")
    with pytest.raises(ValidationError) as mine:
        create_project(session, admin, "mine")
    assert "exist" not in str(theirs.value).lower() and "Secret Study" not in str(theirs.value)
    assert str(theirs.value).replace("secret study", "X") == str(mine.value).replace("mine", "X")
