"""Who may read and verify the activity ledger: checked in the core, not only in the page."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from markit_core import ledger
from markit_core.accounts import get_user
from markit_core.cli import main
from markit_core.errors import NotFoundError, PermissionDenied
from markit_core.labels import CHEST_XRAY_LABELS, add_labels, list_labels
from markit_core.models import Role
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD


@pytest.fixture
def two_projects(session, make_user, make_project):
    """Projects A and B with their own owners; ``ann_a`` annotates A only."""
    owner_a, owner_b = make_user("owner_a"), make_user("owner_b")
    make_user("ann_a")
    a = make_project("A", owner_a, {"ann_a": [Role.ANNOTATOR]})
    b = make_project("B", owner_b)
    add_labels(session, owner_a, a.id, CHEST_XRAY_LABELS[:2])
    add_labels(session, owner_b, b.id, CHEST_XRAY_LABELS[2:4])
    return a, b


def test_a_project_activity_view_shows_that_project_only(session, two_projects):
    a, b = two_projects
    entries = ledger.recent(session, get_user(session, "owner_a"), a.id, limit=500)
    assert entries and {e["project_id"] for e in entries} == {a.id}
    # every entry of A is there, none of B's
    n_a = session.exec(text(f"select count(*) from ledger_entry where project_id = {a.id}")).one()
    assert len(entries) == n_a[0]


def test_an_annotator_of_a_cannot_see_the_activity_of_b(session, two_projects):
    a, b = two_projects
    ann = get_user(session, "ann_a")
    with pytest.raises(NotFoundError):  # B's existence is not revealed
        ledger.recent(session, ann, b.id)
    with pytest.raises(NotFoundError):
        ledger.verify(session, ann, b.id)
    # nor A's own activity: that needs the statistics permission, as the page says
    with pytest.raises(PermissionDenied, match="may not stats"):
        ledger.recent(session, ann, a.id)


def test_the_owner_of_a_cannot_read_b_or_the_whole_ledger(session, two_projects):
    a, b = two_projects
    owner_a = get_user(session, "owner_a")
    with pytest.raises(NotFoundError):
        ledger.recent(session, owner_a, b.id)
    with pytest.raises(PermissionDenied, match="only an administrator"):
        ledger.recent(session, owner_a, None)


def test_only_a_site_administrator_verifies_the_whole_database(session, admin, two_projects):
    a, _ = two_projects
    for name in ("owner_a", "ann_a"):
        with pytest.raises(PermissionDenied, match="only an administrator"):
            ledger.verify(session, get_user(session, name))
    whole = ledger.verify(session, admin)
    assert whole.ok and whole.entries == ledger.integrity(session).entries
    # the whole ledger for an admin includes entries of no project (user accounts)
    assert None in {e["project_id"] for e in ledger.recent(session, admin, None, limit=500)}
    # a deactivated administrator may not
    admin.is_active = False
    with pytest.raises(PermissionDenied):
        ledger.verify(session, admin)


def test_a_project_verification_checks_that_projects_records(session, admin, two_projects):
    a, b = two_projects
    owner_a, owner_b = get_user(session, "owner_a"), get_user(session, "owner_b")
    result = ledger.verify(session, owner_a, a.id)
    assert result.ok and result.records_checked >= 2
    assert result.entries < ledger.integrity(session).entries
    # a record of B edited outside MarkIt: B's owner and the admin see it, A's owner does not
    label_b = list_labels(session, owner_b, b.id)[0]
    session.exec(text(f"update label_def set name = 'forged' where id = {label_b.id}"))
    session.commit()
    assert ledger.verify(session, owner_a, a.id).ok
    assert ledger.verify(session, owner_b, b.id).problem.kind == "record changed"
    assert not ledger.verify(session, admin).ok
    # and an edit in A is named to A's owner
    label_a = list_labels(session, owner_a, a.id)[0]
    session.exec(text(f"update label_def set name = 'forged' where id = {label_a.id}"))
    session.commit()
    problem = ledger.verify(session, owner_a, a.id).problem
    assert problem is not None and f"label_def {label_a.id} changed" in problem.detail


def test_cli_verify_acts_as_the_given_user(settings, monkeypatch, capsys, two_projects):
    point_app_at(settings, monkeypatch)
    assert main(["ledger", "verify"]) == 0  # default: the first administrator
    assert "ledger ok" in capsys.readouterr().out
    assert main(["ledger", "verify", "--as", "owner_a"]) == 1
    assert "only an administrator" in capsys.readouterr().err
    assert main(["ledger", "verify", "--project", "A", "--as", "owner_a"]) == 0
    assert main(["ledger", "verify", "--project", "B", "--as", "owner_a"]) == 2
    assert "project 'B' not found" in capsys.readouterr().err


def test_the_page_offers_the_whole_ledger_to_administrators_only(
    settings, monkeypatch, two_projects
):
    point_app_at(settings, monkeypatch)
    at = open_page(log_in(fresh_app(), "owner_a", PASSWORD), "project_admin")
    assert not at.exception, at.exception
    keys = {b.key for b in at.button}
    assert "verify_ledger" in keys and "verify_ledger_all" not in keys
    at.button(key="verify_ledger").click().run()
    assert any("entries of this project" in s.value for s in at.success)
