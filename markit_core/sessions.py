"""Server-side login sessions, so a reload or a second tab keeps the user logged in.

Streamlit forgets ``st.session_state`` on a reload; the browser keeps a cookie.
At login the app starts a session here and puts the returned random token in
a cookie; a new Streamlit session (reload, second tab) resumes it from the
cookie. Only the token's SHA-256 is stored. A session ends when it expires
(``session_lifetime_hours`` after login), after the idle timeout
(``session_timeout_minutes`` since it was last seen, the same rule as
:func:`markit_core.accounts.check_idle`), on logout, or when the account is
deactivated (:func:`revoke_user_sessions`).

Like drafts, sessions are not in the ledger: their ``last_seen`` changes as the
user works, which a ledger digest would flag as tampering. The login itself is
(``accounts.login`` records every attempt).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from markit_core.config import Settings
from markit_core.db import require_id, rolls_back
from markit_core.models import LoginSession, User, utcnow

__all__ = [
    "COOKIE_NAME",
    "SESSION_LIFETIME",
    "end_session",
    "resume_session",
    "revoke_user_sessions",
    "start_session",
    "token_hash",
]

COOKIE_NAME = "markit_session"
#: Absolute lifetime of a login, however active (a new login is needed after it).
SESSION_LIFETIME = timedelta(hours=12)
#: ``last_seen`` is written at most this often (a rerun per click must not write a row).
TOUCH_EVERY = timedelta(seconds=30)


def token_hash(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@rolls_back
def start_session(session: Session, user: User, now: datetime | None = None) -> str:
    """Start a login session for ``user`` (just authenticated); returns the cookie token.

    Parameters
    ----------
    session : Session
        Database session.
    user : User
        The user who has just logged in.
    now : datetime | None
        The current time (tests).

    Returns
    -------
    str
        A random URL-safe token (256 bits); only its hash is stored.
    """
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        user_id=require_id(user),
        token_hash=token_hash(token),
        created_at=now,
        last_seen=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    session.commit()
    return token


def _live(row: LoginSession | None, settings: Settings, now: datetime) -> bool:
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        return False
    idle = timedelta(minutes=settings.session_timeout_minutes)
    return now - _aware(row.last_seen) <= idle


def resume_session(
    session: Session, settings: Settings, token: str | None, now: datetime | None = None
) -> User | None:
    """The active user of a live session ``token`` (refreshing its last-seen time), else None.

    Parameters
    ----------
    session : Session
        Database session.
    settings : Settings
        For the idle timeout.
    token : str | None
        The cookie's value (None or empty: no session).
    now : datetime | None
        The current time (tests).
    """
    if not isinstance(token, str) or not token:
        return None
    now = now or utcnow()
    row = session.exec(
        select(LoginSession).where(LoginSession.token_hash == token_hash(token))
    ).first()
    if not _live(row, settings, now) or row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - _aware(row.last_seen) >= TOUCH_EVERY:
        row.last_seen = now
        session.add(row)
        session.commit()
    return user


@rolls_back
def end_session(session: Session, token: str | None, now: datetime | None = None) -> bool:
    """Revoke the session of ``token`` (logout); returns whether a live one was ended."""
    if not token:
        return False
    row = session.exec(
        select(LoginSession).where(LoginSession.token_hash == token_hash(token))
    ).first()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now or utcnow()
    session.add(row)
    session.commit()
    return True


@rolls_back
def revoke_user_sessions(session: Session, user_id: int, now: datetime | None = None) -> int:
    """Revoke every live session of a user (deactivation, password reset); returns how many.

    Commits its own transaction; call it after the change that motivates it has been
    committed (or pass the same session and commit nothing else in between).
    """
    now = now or utcnow()
    rows = session.exec(
        select(LoginSession).where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    session.commit()
    return len(rows)
