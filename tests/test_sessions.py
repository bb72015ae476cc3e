"""Server-side login sessions (markit_core.sessions): hashed tokens, expiry, idle, revocation."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from markit_core import ledger
from markit_core.models import LoginSession, utcnow
from markit_core.sessions import (
    SESSION_LIFETIME,
    end_session,
    resume_session,
    revoke_user_sessions,
    start_session,
    token_hash,
)


def test_a_token_resumes_its_user_and_only_its_hash_is_stored(session, settings, admin, make_user):
    ann = make_user("ann")
    token = start_session(session, ann)
    (row,) = session.exec(select(LoginSession)).all()
    assert row.token_hash == token_hash(token) and token not in row.token_hash
    assert len(token) >= 40
    assert resume_session(session, settings, token).id == ann.id
    assert resume_session(session, settings, token + "x") is None
    assert resume_session(session, settings, None) is None
    assert start_session(session, ann) != token  # random per login
    assert ledger.verify(session, admin).ok


def test_idle_timeout_and_absolute_expiry(session, settings, make_user):
    ann = make_user("ann")
    t0 = utcnow()
    token = start_session(session, ann, now=t0)
    idle = timedelta(minutes=settings.session_timeout_minutes)
    # activity keeps it alive past one idle period ...
    assert resume_session(session, settings, token, now=t0 + idle * 0.9) is not None
    assert resume_session(session, settings, token, now=t0 + idle * 1.8) is not None
    # ... a longer silence ends it
    assert resume_session(session, settings, token, now=t0 + idle * 3) is None
    fresh = start_session(session, ann, now=t0)
    row = session.exec(
        select(LoginSession).where(LoginSession.token_hash == token_hash(fresh))
    ).one()
    row.last_seen = t0 + SESSION_LIFETIME  # active until the very end
    session.add(row)
    session.commit()
    assert resume_session(session, settings, fresh, now=t0 + SESSION_LIFETIME) is None


def test_logout_and_deactivation_revoke(session, settings, admin, make_user):
    ann, other = make_user("ann"), make_user("other")
    a1, a2, o1 = (
        start_session(session, ann),
        start_session(session, ann),
        start_session(session, other),
    )
    assert end_session(session, a1) and not end_session(session, a1)
    assert resume_session(session, settings, a1) is None
    assert resume_session(session, settings, a2) is not None
    assert revoke_user_sessions(session, ann.id) == 1
    assert resume_session(session, settings, a2) is None
    assert resume_session(session, settings, o1).id == other.id
    assert ledger.verify(session, admin).ok  # sessions change no ledgered record
    other.is_active = False  # as a deactivation would (issue 9 also revokes the sessions)
    session.add(other)
    session.commit()
    assert resume_session(session, settings, o1) is None  # an inactive account never resumes
