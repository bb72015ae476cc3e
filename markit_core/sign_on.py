"""Single sign-on: the e-mail address an identity provider verified -> a MarkIt account.

Streamlit's ``st.login`` (OpenID Connect, configured in ``.streamlit/secrets.toml``)
tells the app who signed in by the ``email`` claim of the identity token. MarkIt
keeps its own accounts, roles and ledger, so an address signs in only when a site
administrator has given it to exactly one active account (:func:`set_user_email`).
Nobody is created or elevated by signing in: an unknown address is refused.
The sign-in is recorded like a password login (a ``login`` ledger entry); the page
then starts the same server-side session (``markit_core.sessions``).
"""

from __future__ import annotations

import re

from sqlmodel import Session, col, func, select

from markit_core import ledger
from markit_core.access import require_admin
from markit_core.accounts import get_user
from markit_core.db import require_id, rolls_back
from markit_core.errors import AuthenticationError, ConflictError, ValidationError
from markit_core.models import LoginAttempt, User, UserEmail, utcnow

__all__ = ["all_emails", "clean_email", "email_of", "set_user_email", "user_for_sign_in"]

MAX_EMAIL = 254
# one @, no spaces or control characters, a dot in the domain: enough to catch typing
# mistakes; the identity provider is what verifies the address
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_email(value: object) -> str:
    """The address lower-cased and stripped; ``ValidationError`` naming what is wrong."""
    if not isinstance(value, str):
        raise ValidationError(f"e-mail address must be text, got {type(value).__name__}")
    text = value.strip().lower()
    if not text:
        raise ValidationError("e-mail address is empty")
    if len(text) > MAX_EMAIL:
        raise ValidationError(f"e-mail address is longer than {MAX_EMAIL} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text) or not _EMAIL.match(text):
        raise ValidationError(f"{text!r} is not an e-mail address (name@domain.tld)")
    return text


def email_of(session: Session, user_id: int) -> str | None:
    """The sign-on address of an account, or None."""
    row = session.get(UserEmail, user_id)
    return row.email if row is not None else None


def all_emails(session: Session, actor: User) -> dict[str, str]:
    """Username -> sign-on address of every account that has one (administrators only)."""
    require_admin(actor, "list e-mail addresses")
    rows = session.exec(
        select(User.username, UserEmail.email).join(
            UserEmail, col(UserEmail.user_id) == col(User.id)
        )
    ).all()
    return dict(rows)


@rolls_back
def set_user_email(session: Session, actor: User, username: str, email: str | None) -> str | None:
    """Give an account the address single sign-on maps to it (None or "" removes it).

    Parameters
    ----------
    session : Session
        The unit of work; committed here.
    actor : User
        An active site administrator.
    username : str
        The account to change.
    email : str | None
        The address (stored lower-case); empty or None removes the account's address.

    Returns
    -------
    str | None
        The stored address, or None when it was removed.

    Raises
    ------
    PermissionDenied
        ``actor`` is not an active administrator.
    NotFoundError
        No account is named ``username``.
    ValidationError, ConflictError
        The address is malformed, or another account already has it.
    """
    require_admin(actor, "set e-mail addresses")
    target = get_user(session, username)
    user_id = require_id(target)
    row = session.get(UserEmail, user_id)
    if email is None or not str(email).strip():
        if row is not None:
            ledger.append(
                session, actor=actor, project_id=None, action="user.email", record=row, removed=True
            )
            session.delete(row)
            session.commit()
        return None
    address = clean_email(email)
    other = session.exec(
        select(User.username)
        .join(UserEmail, col(UserEmail.user_id) == col(User.id))
        .where(UserEmail.email == address, UserEmail.user_id != user_id)
    ).first()
    if other is not None:
        raise ConflictError(f"{address!r} is already the e-mail address of {other!r}")
    if row is not None and row.email == address:
        return address
    row = row or UserEmail(user_id=user_id, email=address)
    row.email, row.updated_at = address, utcnow()
    session.add(row)
    session.flush()
    ledger.append(session, actor=actor, project_id=None, action="user.email", record=row)
    session.commit()
    return address


@rolls_back
def user_for_sign_in(session: Session, email: object) -> User:
    """The active account an identity provider's verified address maps to; records the login.

    Parameters
    ----------
    session : Session
        The unit of work; the login is recorded (``login`` ledger entry) and committed.
    email : object
        The ``email`` claim of the identity token (compared lower-case).

    Returns
    -------
    User
        The account, for the page to start its server-side session with.

    Raises
    ------
    AuthenticationError
        With a message saying why: no address was given, no account has the address, the
        account is deactivated, or several accounts have it (an administrator must fix
        the addresses first; nobody is signed in to a guessed account).
    """
    try:
        address = clean_email(email)
    except ValidationError as e:
        raise AuthenticationError(
            f"the identity provider sent no usable e-mail address ({e})"
        ) from e
    matches = session.exec(
        select(User)
        .join(UserEmail, col(UserEmail.user_id) == col(User.id))
        # stored lower-case; lower() also covers rows written by hand
        .where(func.lower(UserEmail.email) == address)
    ).all()
    if not matches:
        raise AuthenticationError(
            f"no MarkIt account has the e-mail address {address!r}; ask an administrator "
            "to set it on your account (Site admin → Accounts)"
        )
    if len(matches) > 1:
        names = ", ".join(sorted(u.username for u in matches))
        raise AuthenticationError(
            f"the e-mail address {address!r} belongs to several accounts ({names}); "
            "an administrator must give it to one of them only"
        )
    user = matches[0]
    if not user.is_active:
        raise AuthenticationError(f"the account {user.username!r} for {address!r} is deactivated")
    attempt = LoginAttempt(username=user.username, user_id=user.id, success=True)
    session.add(attempt)
    session.flush()
    ledger.append(session, actor=user, project_id=None, action="login.sso", record=attempt)
    session.commit()
    return user
