"""Users, passwords, login with lock-out, and the idle-session rule.

Passwords are hashed with argon2id (argon2-cffi) and never logged, stored in
clear or echoed. Every login attempt is recorded; five failures within fifteen
minutes lock the account for the rest of that window (both configurable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import require_admin
from markit_core.config import Settings
from markit_core.db import require_id, rolls_back
from markit_core.errors import (
    AccountLocked,
    AuthenticationError,
    NotFoundError,
    SessionExpired,
    ValidationError,
)
from markit_core.models import LoginAttempt, User, utcnow
from markit_core.validation import clean_name, clean_username

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


def configure_hashing(time_cost: int, memory_cost_kib: int) -> None:
    """Change the argon2id cost for new hashes (existing hashes keep verifying).

    The defaults are argon2-cffi's RFC 9106 low-memory profile; test suites
    lower the cost so that hundreds of throw-away accounts stay cheap.
    """
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=1)


@dataclass(frozen=True)
class UserInfo:
    """Read-model of a user, safe to keep in a UI session (no hash)."""

    id: int
    username: str
    display_name: str
    is_admin: bool
    is_demo: bool


def _info(user: User) -> UserInfo:
    return UserInfo(
        require_id(user),
        user.username,
        user.display_name or user.username,
        user.is_admin,
        user.is_demo,
    )


def hash_password(password: str) -> str:
    """argon2id hash of ``password`` after the length check."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _check_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
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


def _recent_failures(session: Session, username: str, since: datetime) -> int:
    return session.exec(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.username == username,
            LoginAttempt.at >= since,
            LoginAttempt.success == False,  # noqa: E712 - SQL comparison
        )
    ).one()


@rolls_back
def login(
    session: Session, settings: Settings, username: str, password: str, now: datetime | None = None
) -> UserInfo:
    """Check credentials, record the attempt in the ledger, and return the user.

    Raises ``AccountLocked`` once ``lockout_attempts`` failures fall within
    ``lockout_window_minutes`` (the password is then not even checked), and
    ``AuthenticationError`` for a wrong or unknown username or password, with
    the same message in both cases.
    """
    now = now or utcnow()
    name = (username or "").strip()
    window_start = now - timedelta(minutes=settings.lockout_window_minutes)
    if _recent_failures(session, name, window_start) >= settings.lockout_attempts:
        raise AccountLocked(
            f"account locked after {settings.lockout_attempts} failed logins; "
            f"try again in up to {settings.lockout_window_minutes:g} minutes"
        )
    user = session.exec(select(User).where(User.username == name)).first()
    ok = user is not None and user.is_active and _check_password(user, password or "")
    attempt = LoginAttempt(
        username=name[:64], user_id=user.id if user else None, success=ok, at=now
    )
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
def change_password(session: Session, actor: User, username: str, new_password: str) -> None:
    """Set a new password: users may change their own, admins anyone's."""
    target = get_user(session, username)
    if target.id != actor.id:
        require_admin(actor, "change another user's password")
    target.password_hash = hash_password(new_password)
    session.add(target)
    ledger.append(session, actor=actor, project_id=None, action="user.password", record=target)
    session.commit()
