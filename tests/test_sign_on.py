"""Single sign-on mapping (markit_core.sign_on): verified e-mail -> one active MarkIt account."""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.account_admin import deactivate_user
from markit_core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from markit_core.models import LedgerEntry, LoginAttempt, UserEmail
from markit_core.sign_on import clean_email, email_of, set_user_email, user_for_sign_in


def test_an_address_set_by_an_admin_signs_its_account_in(session, admin, make_user):
    ann = make_user("ann")
    assert set_user_email(session, admin, "ann", "  Ann.Reader@Example.ORG ") == (
        "ann.reader@example.org"
    )
    assert email_of(session, ann.id) == "ann.reader@example.org"
    user = user_for_sign_in(session, "ANN.reader@example.org")
    assert user.id == ann.id
    attempt = session.exec(select(LoginAttempt)).one()
    assert (attempt.username, attempt.user_id, attempt.success) == ("ann", ann.id, True)
    actions = [e.action for e in session.exec(select(LedgerEntry).order_by(LedgerEntry.seq))]
    assert actions[-2:] == ["user.email", "login.sso"]
    assert ledger.integrity(session).ok


def test_unknown_deactivated_and_missing_addresses_are_refused(session, admin, make_user):
    make_user("ann")
    set_user_email(session, admin, "ann", "ann@example.org")
    with pytest.raises(AuthenticationError, match="no MarkIt account has .*bob@example.org"):
        user_for_sign_in(session, "bob@example.org")
    for claim in (None, "", "not an address"):
        with pytest.raises(AuthenticationError, match="no usable e-mail address"):
            user_for_sign_in(session, claim)
    deactivate_user(session, admin, "ann")
    with pytest.raises(AuthenticationError, match="'ann' .* is deactivated"):
        user_for_sign_in(session, "ann@example.org")
    assert not session.exec(select(LoginAttempt)).all()  # nothing recorded as a login


def test_an_address_on_two_accounts_signs_nobody_in(session, admin, make_user):
    ann, bob = make_user("ann"), make_user("bob")
    set_user_email(session, admin, "ann", "shared@example.org")
    # the core refuses to give it to a second account ...
    with pytest.raises(ConflictError, match="already the e-mail address of 'ann'"):
        set_user_email(session, admin, "bob", "Shared@example.org")
    assert email_of(session, bob.id) is None
    # ... but rows written outside it (an import, a hand edit) must not pick one at random
    session.add(UserEmail(user_id=bob.id, email="SHARED@example.org"))
    session.commit()
    with pytest.raises(AuthenticationError, match=r"several accounts \(ann, bob\)"):
        user_for_sign_in(session, "shared@example.org")
    assert ann.id is not None


def test_only_an_admin_sets_addresses_and_bad_input_is_named(session, admin, make_user):
    ann = make_user("ann")
    with pytest.raises(PermissionDenied, match="only an administrator may set e-mail"):
        set_user_email(session, ann, "ann", "ann@example.org")
    with pytest.raises(NotFoundError, match="unknown user 'zed'"):
        set_user_email(session, admin, "zed", "zed@example.org")
    for bad, message in (
        ("ann@", "is not an e-mail address"),
        ("a b@example.org", "is not an e-mail address"),
        ("ann@example", "is not an e-mail address"),
        ("x" * 250 + "@e.org", "longer than 254"),
    ):
        with pytest.raises(ValidationError, match=message):
            set_user_email(session, admin, "ann", bad)
    with pytest.raises(ValidationError, match="must be text"):
        clean_email(42)
    assert email_of(session, ann.id) is None


def test_an_address_can_be_changed_and_removed(session, admin, make_user):
    ann = make_user("ann")
    set_user_email(session, admin, "ann", "ann@example.org")
    set_user_email(session, admin, "ann", "ann@example.org")  # unchanged: no new entry
    set_user_email(session, admin, "ann", "ann@hospital.example")
    assert email_of(session, ann.id) == "ann@hospital.example"
    with pytest.raises(AuthenticationError):
        user_for_sign_in(session, "ann@example.org")
    assert set_user_email(session, admin, "ann", "") is None
    assert email_of(session, ann.id) is None
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.action == "user.email")).all()
    assert [e.removed for e in entries] == [False, False, True]
    assert ledger.integrity(session).ok


def test_migration_0012_adds_the_table_and_keeps_every_row(tmp_path):
    from alembic import command
    from sqlalchemy import inspect, text

    from markit_core.db import alembic_config, current_revision, make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0011")
    with engine.begin() as conn:  # an account written by the 0011 schema, as a release would
        conn.execute(
            text(
                "insert into user_account (username, display_name, password_hash, is_admin, "
                "is_active, is_demo, created_at) values ('old', 'Old user', 'x', 1, 1, 0, "
                "'2025-01-01 10:00:00')"
            )
        )
    upgrade(engine, "0012")
    assert current_revision(engine) == "0012"
    assert "user_email" in inspect(engine).get_table_names()
    with engine.begin() as conn:
        assert conn.execute(text("select username, display_name from user_account")).all() == [
            ("old", "Old user")
        ]
        conn.execute(
            text(
                "insert into user_email (user_id, email, updated_at) "
                "values (1, 'old@example.org', '2025-01-02 10:00:00')"
            )
        )
    command.downgrade(alembic_config(engine), "0011")
    assert "user_email" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("select username from user_account")).all() == [("old",)]
    engine.dispose()
