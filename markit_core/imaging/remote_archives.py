"""The registry of remote archives (DICOMweb servers and DIMSE PACS) a site may import from.

Only site administrators register, change or remove archives; data owners
pick a registered archive by name and never type an address, so an account
that can upload to a project cannot make the server send requests to a host
of its choosing. Credentials (a password or bearer token) are stored so the
server can use them and are never shown back in full: read-models carry a
short hint only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, func, select

from markit_core import ledger
from markit_core.access import require_admin
from markit_core.db import require_id, rolls_back
from markit_core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from markit_core.imaging.sources.base import ImageSource
from markit_core.models import CaseArchiveRef, RemoteArchive, User
from markit_core.validation import clean_name

__all__ = [
    "ArchiveInfo",
    "add_archive",
    "archive_source",
    "list_archives",
    "remove_archive",
    "secret_hint",
]

KINDS = ("dicomweb", "dimse")
AUTHS = ("none", "basic", "token")


@dataclass(frozen=True)
class ArchiveInfo:
    """A registered archive as shown to users: the secret only as a hint."""

    id: int
    name: str
    kind: str
    address: str
    auth: str
    username: str
    secret: str  # e.g. "set (12 characters)", never the secret itself


def secret_hint(secret: str) -> str:
    """What the UI may say about a stored secret: whether it is set, not what it is."""
    return f"set ({len(secret)} characters)" if secret else "none"


def _address(row: RemoteArchive) -> str:
    if row.kind == "dicomweb":
        return row.url
    return f"{row.called_aet}@{row.host}:{row.port} (as {row.calling_aet})"


def _info(row: RemoteArchive) -> ArchiveInfo:
    return ArchiveInfo(
        require_id(row),
        row.name,
        row.kind,
        _address(row),
        row.auth,
        row.username,
        secret_hint(row.secret),
    )


def _check_fields(row: RemoteArchive) -> None:
    """Refuse an archive that could not be used, by building its source once (no traffic)."""
    if row.kind not in KINDS:
        raise ValidationError(f"archive kind must be one of {', '.join(KINDS)}, got {row.kind!r}")
    if row.auth not in AUTHS:
        raise ValidationError(f"authentication must be one of {', '.join(AUTHS)}, got {row.auth!r}")
    if row.kind == "dimse" and row.auth != "none":
        raise ValidationError("a DIMSE archive takes no credentials (AE titles only)")
    _source(row)


def _credentials_out_of_url(
    url: str, auth: str, username: str, secret: str
) -> tuple[str, str, str, str]:
    """Move ``user:password@`` out of a URL into the credential fields (never shown)."""
    if not url or "@" not in url:
        return url, auth, username, secret
    from markit_core.imaging.sources.dicomweb import _split_credentials

    plain_url, url_user, url_password = _split_credentials(url.strip())
    if url_user is None:
        return url, auth, username, secret
    if username or secret or (auth or "none") != "none":
        raise ValidationError("credentials are given both in the URL and as fields; give them once")
    return plain_url, "basic", url_user, url_password


@rolls_back
def add_archive(
    session: Session,
    actor: User,
    name: str,
    kind: str,
    *,
    url: str = "",
    host: str = "",
    port: int = 0,
    called_aet: str = "",
    calling_aet: str = "MARKIT",
    auth: str = "none",
    username: str = "",
    secret: str = "",
) -> ArchiveInfo:
    """Register a remote archive (site administrators only); logged in the ledger.

    Raises
    ------
    PermissionDenied
        The actor is not a site administrator.
    ValidationError
        A bad name, kind, URL, port or AE title, or a name already registered.
    """
    require_admin(actor, "register remote archives")
    clean = clean_name(name, "archive name")
    url, auth, username, secret = _credentials_out_of_url(url, auth, username, secret)
    if session.exec(select(RemoteArchive).where(RemoteArchive.name == clean)).first():
        raise ValidationError(f"an archive named {clean!r} is already registered")
    row = RemoteArchive(
        name=clean,
        kind=(kind or "").strip().lower(),
        url=(url or "").strip(),
        host=(host or "").strip(),
        port=int(port or 0),
        called_aet=(called_aet or "").strip(),
        calling_aet=(calling_aet or "").strip(),
        auth=(auth or "none").strip().lower(),
        username=(username or "").strip(),
        secret=secret or "",
        created_by=actor.id,
    )
    _check_fields(row)
    session.add(row)
    session.flush()
    ledger.append(session, actor=actor, project_id=None, action="archive.add", record=row)
    session.commit()
    return _info(row)


def list_archives(session: Session, actor: User) -> list[ArchiveInfo]:
    """Registered archives by name (any active account: data owners pick from this list)."""
    if not actor.is_active:
        raise PermissionDenied(f"user {actor.username!r} is deactivated")
    rows = session.exec(select(RemoteArchive).order_by(RemoteArchive.name)).all()
    return [_info(r) for r in rows]


def _get(session: Session, archive: int | str) -> RemoteArchive:
    if isinstance(archive, int):
        row = session.get(RemoteArchive, archive)
    else:
        row = session.exec(select(RemoteArchive).where(RemoteArchive.name == archive)).first()
    if row is None:
        raise NotFoundError(f"no registered archive {archive!r}")
    return row


@rolls_back
def remove_archive(session: Session, actor: User, archive: int | str) -> None:
    """Unregister an archive by id or name (site administrators only); logged in the ledger."""
    require_admin(actor, "remove remote archives")
    row = _get(session, archive)
    referenced = session.exec(
        select(func.count()).select_from(CaseArchiveRef).where(CaseArchiveRef.archive_id == row.id)
    ).one()
    if referenced:
        raise ConflictError(
            f"archive {row.name!r} still holds the images of {referenced} referenced case(s); "
            "they would become unreadable, so it stays registered"
        )
    ledger.append(
        session, actor=actor, project_id=None, action="archive.remove", record=row, removed=True
    )
    session.delete(row)
    session.commit()


def archive_id(session: Session, name: str) -> int:
    """The id of the archive registered as ``name``."""
    return require_id(_get(session, name))


def _source(row: RemoteArchive, timeout: float | None = None) -> ImageSource:
    if row.kind == "dicomweb":
        from markit_core.imaging.sources.dicomweb import DicomWebSource

        kw: dict[str, object] = {}
        if row.auth == "basic":
            kw = {"username": row.username, "password": row.secret}
        elif row.auth == "token":
            kw = {"token": row.secret}
        if timeout is not None:
            kw["timeout"] = (min(10.0, timeout), timeout)
        return DicomWebSource(row.url, **kw)  # type: ignore[arg-type]
    from markit_core.imaging.sources.dimse import DimseSource

    return DimseSource(
        row.host,
        row.port,
        row.called_aet,
        row.calling_aet or "MARKIT",
        timeout=timeout if timeout is not None else 30.0,
    )


def archive_source(
    session: Session, archive: int | str, timeout: float | None = None
) -> ImageSource:
    """The image source of a registered archive (internal: callers check permissions)."""
    return _source(_get(session, archive), timeout)
