"""What a site administrator does with accounts: deactivate, reactivate, reset passwords,
retire the demo accounts.

Accounts are never deleted (their annotations and ledger entries name them);
a deactivated account cannot log in, and its open sessions end on their next
page run (``ui.session.current_user`` re-reads ``is_active``). Every change
here is one transaction with its ledger entry; no password or one-time
password is ever logged.
"""

from __future__ import annotations

import secrets

from sqlmodel import Session, select

from markit_core import ledger
from markit_core.access import require_admin
from markit_core.accounts import (
    UserInfo,
    _clear_reset,
    _info,
    get_user,
    hash_password,
    min_password_length,
)
from markit_core.db import require_id, rolls_back
from markit_core.errors import ConflictError, PermissionDenied, ValidationError
from markit_core.models import PasswordReset, User, utcnow

__all__ = [
    "all_users",
    "deactivate_user",
    "reactivate_user",
    "remove_demo_accounts",
    "reset_password",
    "set_password",
]


def all_users(session: Session, actor: User) -> list[UserInfo]:
    """Every account, active or not, by username (site administrators only)."""
    require_admin(actor, "list all accounts")
    reset = set(session.exec(select(PasswordReset.user_id)).all())
    return [_info(u, u.id in reset) for u in session.exec(select(User).order_by(User.username))]


def _require_change(session: Session, actor: User, target: User) -> None:
    """Record that ``target`` must choose a new password at the next login (ledgered)."""
    row = session.get(PasswordReset, target.id) or PasswordReset(user_id=require_id(target))
    row.at, row.by = utcnow(), actor.id
    session.add(row)
    session.flush()
    ledger.append(session, actor=actor, project_id=None, action="user.must_change", record=row)


@rolls_back
def deactivate_user(session: Session, actor: User, username: str) -> bool:
    """Deactivate an account (not one's own); False when it already was inactive.

    The actor is an active administrator and not the target, so an
    installation always keeps at least one administrator who can log in.
    """
    require_admin(actor, "deactivate accounts")
    target = get_user(session, username)
    if target.id == actor.id:
        raise PermissionDenied("you cannot deactivate your own account")
    if not target.is_active:
        return False
    target.is_active = False
    session.add(target)
    ledger.append(session, actor=actor, project_id=None, action="user.deactivate", record=target)
    session.commit()
    return True


@rolls_back
def reactivate_user(session: Session, actor: User, username: str) -> bool:
    """Let a deactivated account log in again; False when it was active."""
    require_admin(actor, "reactivate accounts")
    target = get_user(session, username)
    if target.is_active:
        return False
    target.is_active = True
    session.add(target)
    ledger.append(session, actor=actor, project_id=None, action="user.reactivate", record=target)
    session.commit()
    return True


def _one_time_password() -> str:
    return secrets.token_urlsafe(max(12, min_password_length()))[: max(16, min_password_length())]


@rolls_back
def reset_password(session: Session, actor: User, username: str) -> str:
    """Give an account a random one-time password and return it (shown once, never stored).

    The user must choose a new password at their next login (the login
    refuses to go further until they do).
    """
    require_admin(actor, "reset passwords")
    target = get_user(session, username)
    if target.id == actor.id:
        raise PermissionDenied("change your own password with your current one instead")
    once = _one_time_password()
    target.password_hash = hash_password(once)
    session.add(target)
    ledger.append(
        session, actor=actor, project_id=None, action="user.password_reset", record=target
    )
    _require_change(session, actor, target)
    session.commit()
    return once


@rolls_back
def set_password(
    session: Session, actor: User, username: str, password: str, *, must_change: bool = True
) -> None:
    """Set another account's password (site administrators; e.g. from the CLI).

    By default the user must change it at the next login, as after a reset.
    """
    require_admin(actor, "set other users' passwords")
    target = get_user(session, username)
    if target.id == actor.id:
        raise PermissionDenied("change your own password with your current one instead")
    target.password_hash = hash_password(password)
    session.add(target)
    ledger.append(
        session, actor=actor, project_id=None, action="user.password_reset", record=target
    )
    if must_change:
        _require_change(session, actor, target)
    else:
        _clear_reset(session, actor, target)
    session.commit()


@rolls_back
def remove_demo_accounts(session: Session, actor: User) -> list[str]:
    """Deactivate every demo account (``is_demo``); return the usernames deactivated.

    Refuses (``ConflictError``) while no administrator other than demo ones
    exists, so the installation is never left without a way in.
    """
    require_admin(actor, "remove the demo accounts")
    real_admins = session.exec(
        select(User.id).where(User.is_admin, User.is_active, User.is_demo == False)  # noqa: E712
    ).all()
    if not real_admins:
        raise ConflictError(
            "no administrator other than the demo ones exists; create one first with "
            "`python -m markit_core create-user NAME --admin`"
        )
    done: list[str] = []
    for user in session.exec(select(User).where(User.is_demo, User.is_active).order_by(User.id)):  # type: ignore[arg-type]
        user.is_active = False
        session.add(user)
        ledger.append(session, actor=actor, project_id=None, action="user.deactivate", record=user)
        done.append(user.username)
    if not done:
        return done
    session.commit()
    return done


def check_new_password(password: str) -> None:
    """Raise ``ValidationError`` unless ``password`` meets the length rule (for forms)."""
    if len(password or "") < min_password_length():
        raise ValidationError(f"password must be at least {min_password_length()} characters")
