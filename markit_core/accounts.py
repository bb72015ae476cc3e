"""Users, passwords, login with lock-out, and the idle-session rule.

Passwords are hashed with argon2id (argon2-cffi) and never logged, stored in
clear or echoed. Every login attempt is recorded; five failures within fifteen
minutes lock the account for the rest of that window (both configurable).

The failure count lives in one ``login_throttle`` row per username and is
raised by a single conditional ``UPDATE ... RETURNING`` *before* the password
is checked, so any number of simultaneous guesses check at most
``lockout_attempts`` passwords per window. Unknown (and deactivated) usernames
are verified against a dummy hash of the same cost, so a refusal takes the
same time whether or not the account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, func, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import require_admin
from markit_core.config import Settings
from markit_core.db import require_id, rolls_back
from markit_core.errors import (
    AccountLocked,
    AuthenticationError,
    NotFoundError,
    PasswordChangeRequired,
    SessionExpired,
    ValidationError,
)
from markit_core.models import LoginAttempt, LoginThrottle, PasswordReset, User, utcnow
from markit_core.validation import clean_name, clean_username

_hasher = PasswordHasher()
_dummy_hash: str | None = None  # verified for unknown usernames: same cost as a real check
MIN_PASSWORD_LENGTH = 8
_min_length = MIN_PASSWORD_LENGTH


def configure_hashing(time_cost: int, memory_cost_kib: int) -> None:
    """Change the argon2id cost for new hashes (existing hashes keep verifying).

    The defaults are argon2-cffi's RFC 9106 low-memory profile; test suites
    lower the cost so that hundreds of throw-away accounts stay cheap.
    """
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)
    _dummy_hash = None


def configure_password_policy(min_length: int) -> None:
    """Set the minimum length of new passwords (``MARKIT_MIN_PASSWORD_LENGTH``, at least 8)."""
    global _min_length
    _min_length = max(MIN_PASSWORD_LENGTH, int(min_length))


def min_password_length() -> int:
    """The minimum length new passwords must have."""
    return _min_length


def dummy_hash() -> str:
    """An argon2id hash made with the current cost, verified when no account matches."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("markit dummy password, never valid")
    return _dummy_hash


@dataclass(frozen=True)
class UserInfo:
    """Read-model of a user, safe to keep in a UI session (no hash)."""

    id: int
    username: str
    display_name: str
    is_admin: bool
    is_demo: bool
    is_active: bool = True
    must_change_password: bool = False


def _info(user: User, must_change: bool = False) -> UserInfo:
    return UserInfo(
        require_id(user),
        user.username,
        user.display_name or user.username,
        user.is_admin,
        user.is_demo,
        user.is_active,
        must_change,
    )


def pending_reset(session: Session, user: User) -> PasswordReset | None:
    """The administrator's reset the user has not yet answered with a new password."""
    return session.get(PasswordReset, user.id) if user.id is not None else None


def _clear_reset(session: Session, actor: User, user: User) -> None:
    """Forget a pending reset (inside the caller's transaction, with its ledger entry)."""
    row = pending_reset(session, user)
    if row is not None:
        ledger.append(
            session,
            actor=actor,
            project_id=None,
            action="user.reset_done",
            record=row,
            removed=True,
        )
        session.delete(row)


def hash_password(password: str) -> str:
    """argon2id hash of ``password`` after the length check."""
    if not isinstance(password, str) or len(password) < _min_length:
        raise ValidationError(f"password must be at least {_min_length} characters")
    if len(password) > 1024:
        raise ValidationError("password must be at most 1024 characters")
    return _hasher.hash(password)


def _check_password(user: User | None, password: str) -> bool:
    """Verify ``password``; without a user, verify against the dummy hash (and fail)."""
    stored = user.password_hash if user is not None else dummy_hash()
    try:
        return _hasher.verify(stored, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def has_users(session: Session) -> bool:
    """Whether any account exists (the first one must be an admin)."""
    return session.exec(select(func.count()).select_from(User)).one() > 0


def get_user(session: Session, username: str) -> User:
    """The active or inactive user named ``username``; ``NotFoundError`` if none."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"unknown user {username!r}")
    return user


def user_by_id(session: Session, user_id: int) -> User:
    """The user with ``user_id``; ``NotFoundError`` if none."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"unknown user id {user_id}")
    return user


def first_admin(session: Session) -> User:
    """The oldest active admin, used by the CLI when no ``--as`` is given."""
    user = session.exec(
        select(User).where(col(User.is_admin), col(User.is_active)).order_by(col(User.id))
    ).first()
    if user is None:
        raise NotFoundError(
            "no administrator exists yet; run `python -m markit_core create-user "
            "USERNAME --admin` first"
        )
    return user


@rolls_back
def create_user(
    session: Session,
    actor: User | None,
    username: str,
    password: str,
    *,
    display_name: str = "",
    is_admin: bool = False,
    is_demo: bool = False,
) -> UserInfo:
    """Create an account. The very first account needs no actor and is always an admin."""
    name = clean_username(username)
    display = clean_name(display_name, "display name", max_len=128, allow_empty=True)
    first = not has_users(session)
    if not first:
        if actor is None:
            raise ValidationError("an administrator must create further users")
        require_admin(actor, "create users")
    if session.exec(select(User).where(User.username == name)).first() is not None:
        raise ValidationError(f"username {name!r} is already taken")
    user = User(
        username=name,
        display_name=display,
        password_hash=hash_password(password),
        is_admin=is_admin or first,
        is_demo=is_demo,
    )
    session.add(user)
    session.flush()
    ledger.append(session, actor=actor or user, project_id=None, action="user.create", record=user)
    session.commit()
    return _info(user)


def list_users(session: Session, actor: User) -> list[UserInfo]:
    """All users (for granting roles); any logged-in user may list usernames."""
    return [
        _info(u) for u in session.exec(select(User).where(User.is_active).order_by(User.username))
    ]


_THROTTLE = LoginThrottle.__table__  # type: ignore[attr-defined]


def _reserve_check(session: Session, settings: Settings, name: str, now: datetime) -> bool:
    """Count one password check against ``name``'s window, atomically; False when locked.

    One conditional UPDATE both tests and raises the counter, so concurrent
    attempts (threads, processes, PostgreSQL or SQLite) cannot all pass the
    test before any of them counts. Committed at once, before the slow hash.
    """
    t = _THROTTLE
    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
    conn = session.connection()
    start_type = t.c.window_start.type
    conn.execute(
        insert(t).values(username=name, window_start=now, failures=0).on_conflict_do_nothing()
    )
    window_begin = literal(now - timedelta(minutes=settings.lockout_window_minutes), start_type)
    expired = t.c.window_start < window_begin
    row = conn.execute(
        update(t)
        .where(t.c.username == name, or_(expired, t.c.failures < settings.lockout_attempts))
        .values(
            failures=case((expired, 1), else_=t.c.failures + 1),
            window_start=case((expired, literal(now, start_type)), else_=t.c.window_start),
        )
        .returning(t.c.failures)
    ).first()
    session.commit()
    return row is not None


def _release_check(session: Session, name: str) -> None:
    """Give back the check reserved by a correct password (it was not a failure)."""
    t = _THROTTLE
    session.connection().execute(
        update(t).where(t.c.username == name, t.c.failures > 0).values(failures=t.c.failures - 1)
    )


@rolls_back
def login(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    now: datetime | None = None,
    *,
    new_password: str | None = None,
) -> UserInfo:
    """Check credentials, record the attempt in the ledger, and return the user.

    Raises ``AccountLocked`` once ``lockout_attempts`` checks have failed
    within ``lockout_window_minutes`` (the password is then not even checked),
    and ``AuthenticationError`` for a wrong or unknown username or password or
    a deactivated account, with the same message in each case. An account
    whose password an administrator reset raises ``PasswordChangeRequired``
    after a correct password until the call also gives ``new_password``,
    which then replaces the one-time password.
    """
    now = now or utcnow()
    name = (username or "").strip()[:64]
    if not _reserve_check(session, settings, name, now):
        raise AccountLocked(
            f"account locked after {settings.lockout_attempts} failed logins; "
            f"try again in up to {settings.lockout_window_minutes:g} minutes"
        )
    user = session.exec(select(User).where(User.username == name)).first()
    ok = _check_password(user, password or "") and user is not None and user.is_active
    if ok and user is not None and pending_reset(session, user) is not None:
        if new_password is None:
            _release_check(session, name)
            session.commit()
            raise PasswordChangeRequired()
        if new_password == password:
            _release_check(session, name)
            session.commit()
            raise ValidationError("the new password must differ from the one-time password")
        user.password_hash = hash_password(new_password)
        session.add(user)
        ledger.append(session, actor=user, project_id=None, action="user.password", record=user)
        _clear_reset(session, user, user)
    if ok:
        _release_check(session, name)
    attempt = LoginAttempt(username=name, user_id=user.id if user else None, success=ok, at=now)
    session.add(attempt)
    ledger.append(
        session,
        actor=user if ok else None,
        project_id=None,
        action="login" if ok else "login.failed",
        record=attempt,
    )
    session.commit()
    if not ok or user is None:
        raise AuthenticationError()
    return _info(user)


def check_idle(last_activity: datetime, settings: Settings, now: datetime | None = None) -> None:
    """Raise ``SessionExpired`` when the idle timeout has passed since ``last_activity``."""
    now = now or utcnow()
    if now - last_activity > timedelta(minutes=settings.session_timeout_minutes):
        raise SessionExpired()


@rolls_back
def change_own_password(
    session: Session, actor: User, old_password: str, new_password: str
) -> None:
    """Change one's own password; the current password is required (logged in the ledger)."""
    user = user_by_id(session, require_id(actor))
    if not user.is_active:
        raise AuthenticationError()
    if not _check_password(user, old_password or ""):
        raise AuthenticationError("the current password is not correct")
    if new_password == old_password:
        raise ValidationError("the new password must differ from the current one")
    user.password_hash = hash_password(new_password)
    session.add(user)
    ledger.append(session, actor=actor, project_id=None, action="user.password", record=user)
    _clear_reset(session, actor, user)
    session.commit()
