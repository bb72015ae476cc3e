"""Roles are read once per transaction, and a membership change is seen at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from markit_core.access import Action, require, roles_of
from markit_core.accounts import get_user
from markit_core.db import session as new_session
from markit_core.errors import NotFoundError
from markit_core.models import Membership, Role
from markit_core.projects import grant_role, revoke_role


@contextmanager
def membership_queries(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements that read memberships, while the block runs."""
    seen: list[str] = []

    def note(conn, cursor, statement, *_args) -> None:  # noqa: ANN001
        if "FROM membership" in statement and "membership.role" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


@pytest.fixture
def project(make_user, make_project):
    owner = make_user("owner")
    make_user("ann")
    return make_project("P", owner, {"ann": [Role.ANNOTATOR]})


def test_one_read_per_transaction(session, engine, admin, project, make_user) -> None:
    ann = make_user("ann2")
    grant_role(session, admin, project.id, "ann2", Role.ANNOTATOR)
    session.commit()
    with membership_queries(engine) as seen:
        for _ in range(5):
            require(session, ann, project.id, Action.ANNOTATE)
        assert roles_of(session, ann, project.id) == {Role.ANNOTATOR}
    assert len(seen) == 1
    session.commit()  # a new transaction reads again
    with membership_queries(engine) as seen:
        roles_of(session, ann, project.id)
    assert len(seen) == 1


def test_a_pending_membership_is_seen(session, project, make_user) -> None:
    """Added in this transaction and not yet flushed: the cache must not hide it."""
    user = make_user("late")
    assert roles_of(session, user, project.id) == set()
    session.add(Membership(project_id=project.id, user_id=user.id, role=Role.REVIEWER.value))
    assert roles_of(session, user, project.id) == {Role.REVIEWER}


def test_a_revocation_elsewhere_is_seen_next_transaction(session, engine, admin, project) -> None:
    ann = get_user(session, "ann")
    assert roles_of(session, ann, project.id) == {Role.ANNOTATOR}
    with new_session(engine) as other:
        revoke_role(other, get_user(other, "root"), project.id, "ann", Role.ANNOTATOR)
    session.rollback()  # this transaction ends: its reads are forgotten
    with pytest.raises(NotFoundError):
        require(session, ann, project.id, Action.ANNOTATE)


def test_a_revocation_in_this_session_is_seen_at_once(session, admin, project) -> None:
    ann = get_user(session, "ann")
    require(session, ann, project.id, Action.ANNOTATE)
    revoke_role(session, admin, project.id, "ann", Role.ANNOTATOR)
    with pytest.raises(NotFoundError):
        require(session, ann, project.id, Action.ANNOTATE)
