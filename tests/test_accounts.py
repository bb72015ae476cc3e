"""Accounts: argon2 hashes, login, lock-out, idle timeout, no secrets stored or logged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from markit_core.accounts import check_idle, create_user, login
from markit_core.config import Settings
from markit_core.errors import (
    AccountLocked,
    AuthenticationError,
    PermissionDenied,
    SessionExpired,
    ValidationError,
)
from markit_core.models import utcnow
from tests.conftest import PASSWORD


def test_first_user_is_admin_and_password_is_hashed(session):
    info = create_user(session, None, "first", PASSWORD)
    assert info.is_admin
    stored = session.exec(text("select password_hash from user_account")).one()[0]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_only_admins_create_users(session, admin, make_user):
    alice = make_user("alice")
    with pytest.raises(PermissionDenied):
        create_user(session, alice, "bob", PASSWORD)
    with pytest.raises(ValidationError, match="already taken"):
        create_user(session, admin, "alice", PASSWORD)
    with pytest.raises(ValidationError, match="at least 8"):
        create_user(session, admin, "carol", "short")
    with pytest.raises(ValidationError, match="may only contain"):
        create_user(session, admin, "bad name", PASSWORD)


def test_login_success_and_failure(session, settings, admin):
    assert login(session, settings, "root", PASSWORD).username == "root"
    with pytest.raises(AuthenticationError) as wrong:
        login(session, settings, "root", "not the password")
    with pytest.raises(AuthenticationError) as unknown:
        login(session, settings, "nobody", "whatever123")
    assert str(wrong.value) == str(unknown.value)  # no hint whether the user exists


def test_lockout_after_five_failures_in_fifteen_minutes(session, settings, admin):
    t0 = utcnow()
    for i in range(5):
        with pytest.raises(AuthenticationError):
            login(session, settings, "root", "wrong password", now=t0 + timedelta(minutes=i))
    # the right password no longer helps while locked
    with pytest.raises(AccountLocked):
        login(session, settings, "root", PASSWORD, now=t0 + timedelta(minutes=5))
    # once the failures fall out of the 15-minute window, the account opens again
    assert (
        login(session, settings, "root", PASSWORD, now=t0 + timedelta(minutes=16)).username
        == "root"
    )


def test_failures_spread_over_more_than_the_window_do_not_lock(session, settings, admin):
    t0 = utcnow()
    for i in range(6):
        with pytest.raises(AuthenticationError) as e:
            login(session, settings, "root", "wrong password", now=t0 + timedelta(minutes=4 * i))
        assert not isinstance(e.value, AccountLocked)
    assert (
        login(session, settings, "root", PASSWORD, now=t0 + timedelta(minutes=25)).username
        == "root"
    )


def test_lockout_is_configurable(session, tmp_path, admin):
    strict = Settings(data_dir=tmp_path, lockout_attempts=2, lockout_window_minutes=1)
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            login(session, strict, "root", "wrong password")
    with pytest.raises(AccountLocked):
        login(session, strict, "root", PASSWORD)


def test_idle_timeout(settings):
    now = utcnow()
    check_idle(now - timedelta(minutes=29), settings, now)
    with pytest.raises(SessionExpired):
        check_idle(now - timedelta(minutes=31), settings, now)
    short = Settings(data_dir=settings.data_dir, session_timeout_minutes=1)
    with pytest.raises(SessionExpired):
        check_idle(now - timedelta(seconds=61), short, now)


def test_logins_are_in_the_ledger_without_secrets(session, settings, admin):
    login(session, settings, "root", PASSWORD)
    with pytest.raises(AuthenticationError):
        login(session, settings, "root", "Wrong-Pass-123")
    actions = [r[0] for r in session.exec(text("select action from ledger_entry order by seq"))]
    assert actions[-2:] == ["login", "login.failed"]
    dump = "\n".join(
        str(tuple(r))
        for table in ("ledger_entry", "login_attempt", "user_account")
        for r in session.exec(text(f"select * from {table}"))
    )
    assert PASSWORD not in dump and "Wrong-Pass-123" not in dump
