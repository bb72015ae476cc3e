"""Shared checks for names typed by users (projects, labels, groups, usernames)."""

from __future__ import annotations

import re
import unicodedata

from markit_core.errors import ValidationError

_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


def clean_name(value: object, what: str, *, max_len: int = 100, allow_empty: bool = False) -> str:
    """Strip ``value`` and refuse empty names, control characters and over-long names.

    ``what`` names the field in the error ("project name", "label 3 name", ...).
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        if allow_empty:
            return ""
        raise ValidationError(f"{what} is empty")
    bad = [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]
    if bad:
        raise ValidationError(f"{what} {text!r} contains control character {bad[0]!r}")
    if len(text) > max_len:
        raise ValidationError(f"{what} is longer than {max_len} characters")
    return text


def clean_username(value: object) -> str:
    """Usernames: 2-64 letters, digits or ``_ . @ -``."""
    text = clean_name(value, "username", max_len=64)
    if not _USERNAME.match(text):
        raise ValidationError(
            f"username {text!r} may only contain letters, digits, '_', '.', '@' and '-' "
            "(2-64 chars)"
        )
    return text
