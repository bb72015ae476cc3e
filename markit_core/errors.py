"""Errors raised by markit_core.

Every error a user can cause is a ``MarkitError`` subclass with a message that
says what was wrong and where; pages show it with ``st.error`` and the CLI
prints it on one line.
"""

from __future__ import annotations


class MarkitError(Exception):
    """Base class for every expected, user-facing error."""

    default_message = "MarkIt error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class ValidationError(MarkitError):
    """Input that breaks a rule: empty name, duplicate, bad value."""

    default_message = "invalid input"


class NotFoundError(MarkitError):
    """A user, project, label or case that does not exist (or is not visible)."""

    default_message = "not found"


class PermissionDenied(MarkitError):
    """The acting user lacks the role the action needs."""

    default_message = "permission denied"


class AuthenticationError(MarkitError):
    """Wrong username or password, or a locked account."""

    default_message = "invalid username or password"


class AccountLocked(AuthenticationError):
    """Too many failed logins in the lock-out window."""

    default_message = "account locked after too many failed logins; try again later"


class PasswordChangeRequired(AuthenticationError):
    """The password was right but is a one-time password: the user must choose a new one."""

    default_message = "your password was reset by an administrator; choose a new password"


class SessionExpired(AuthenticationError):
    """The idle timeout has passed; the user must log in again."""

    default_message = "session expired after inactivity; please log in again"


class ConflictError(MarkitError):
    """A write that would conflict with stored state (e.g. removing the last owner)."""

    default_message = "conflict with stored state"


class InputFileError(ValidationError):
    """A file (CSV, image, archive) that cannot be used; message names file and row."""

    default_message = "invalid input file"


class ImageError(MarkitError):
    """An image that cannot be decoded or displayed."""

    default_message = "cannot read image"


class SourceError(MarkitError):
    """A remote image source (DICOMweb, DIMSE) failed: down, slow, auth, bad data."""

    default_message = "image source failed"


class LedgerError(MarkitError):
    """The activity ledger failed verification."""

    default_message = "ledger verification failed"
