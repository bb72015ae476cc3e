"""The project-private pseudonym table and trace-back for data owners.

Each project has a secret salt (kept as a ``UidMap`` row of kind ``salt``, so it
lives and is backed up with the database, PostgreSQL included) from which all
pseudonyms are derived, and a ``UidMap`` of every original -> pseudonym pair
seen so far. The pairs let a data owner trace a case back to the hospital's
identifiers and let imported reports match on original accession numbers and
study UIDs. Annotators never see any of it: every read here requires
``Action.TRACE_IDENTITY``, and every read is an ``IdentityView`` row with its
ledger entry (who saw which case's identity, when), which owners list with
:func:`identity_views`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.db import require_id, rolls_back
from markit_core.errors import NotFoundError
from markit_core.models import Case, CaseOrigin, IdentityView, UidMap, User

SALT_KIND = "salt"
_SALT_KEY = "project"


@dataclass(frozen=True)
class CaseTrace:
    """Where a case came from, with its original identifiers (data owners only)."""

    case_id: int
    project_id: int
    source: str
    original_name: str
    patient_id: str
    patient_name: str
    accession: str
    study_uid: str
    sop_uid: str
    pseudonym_study_uid: str
    pseudonym_sop_uid: str
    pseudonym_accession: str


@dataclass(frozen=True)
class IdentityViewInfo:
    """One logged look at trace-back data."""

    at: str
    username: str
    what: str
    case_id: int | None
    detail: str


@dataclass(frozen=True)
class MappingRow:
    """One original -> pseudonym pair of a project."""

    kind: str
    original: str
    pseudonym: str


def project_salt(session: Session, actor: User | None, project_id: int) -> str:
    """The project's secret salt, created (and committed) on first use.

    Creating it is a state change, so it is ledgered (the ledger keeps only a
    digest, never the salt). Two processes racing to create it both end up with
    the one that reached the database first.
    """
    row = _salt_row(session, project_id)
    if row is not None:
        return row.pseudonym
    row = UidMap(
        project_id=project_id, kind=SALT_KIND, original=_SALT_KEY, pseudonym=secrets.token_hex(32)
    )
    try:
        session.add(row)
        session.flush()
        ledger.append(session, actor=actor, project_id=project_id, action="deid.salt", record=row)
        session.commit()
    except IntegrityError:
        session.rollback()
        row = _salt_row(session, project_id)
        if row is None:  # pragma: no cover - the winner's row must exist now
            raise
    return row.pseudonym


def _salt_row(session: Session, project_id: int) -> UidMap | None:
    return session.exec(
        select(UidMap).where(
            UidMap.project_id == project_id, UidMap.kind == SALT_KIND, UidMap.original == _SALT_KEY
        )
    ).first()


def known_pairs(
    session: Session, project_id: int, kind: str, originals: Iterable[str]
) -> dict[str, str]:
    """Recorded pseudonyms for ``originals`` (internal: used while de-identifying)."""
    wanted = sorted({o for o in originals if o})
    if not wanted:
        return {}
    result: dict[str, str] = {}
    for start in range(0, len(wanted), 500):  # stay under SQL parameter limits
        chunk = wanted[start : start + 500]
        rows = session.exec(
            select(UidMap.original, UidMap.pseudonym).where(
                UidMap.project_id == project_id,
                UidMap.kind == kind,
                col(UidMap.original).in_(chunk),
            )
        ).all()
        result.update(dict(rows))
    return result


def record_pairs(session: Session, project_id: int, pairs: Iterable[tuple[str, str, str]]) -> int:
    """Add the ``(kind, original, pseudonym)`` pairs not yet recorded; return how many.

    Runs inside the caller's transaction (the case's), so a failed case leaves
    no pairs behind. A concurrent ingest recording the same pair first makes
    the caller's commit fail with ``IntegrityError``; pseudonyms are
    deterministic, so the caller simply retries once.
    """
    added = 0
    seen: set[tuple[str, str]] = set()
    for kind, original, pseudonym in pairs:
        if not original or len(original) > 255 or len(pseudonym) > 255 or (kind, original) in seen:
            continue
        seen.add((kind, original))
        exists = session.exec(
            select(UidMap.id).where(
                UidMap.project_id == project_id, UidMap.kind == kind, UidMap.original == original
            )
        ).first()
        if exists is None:
            session.add(
                UidMap(project_id=project_id, kind=kind, original=original, pseudonym=pseudonym)
            )
            added += 1
    return added


def trace_case(session: Session, actor: User, case_id: int) -> CaseTrace:
    """The pre-de-identification identity of a case (requires ``TRACE_IDENTITY``).

    Raises
    ------
    NotFoundError
        No such case (or the actor cannot see its project).
    PermissionDenied
        The actor may see the project but not trace identities (annotators).
    """
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"case {case_id} not found")
    try:
        require(session, actor, case.project_id, Action.TRACE_IDENTITY)
    except NotFoundError:  # same message as for a case that does not exist
        raise NotFoundError(f"case {case_id} not found") from None
    _log_view(session, actor, case.project_id, "case", case_id=case_id)
    origin = session.exec(select(CaseOrigin).where(CaseOrigin.case_id == case_id)).first()
    o = origin or CaseOrigin(case_id=case_id, project_id=case.project_id)
    return CaseTrace(
        case_id=case_id,
        project_id=case.project_id,
        source=o.source,
        original_name=case.original_name,
        patient_id=o.patient_id,
        patient_name=o.patient_name,
        accession=o.accession,
        study_uid=o.study_uid,
        sop_uid=o.sop_uid,
        pseudonym_study_uid=case.study_uid,
        pseudonym_sop_uid=case.sop_uid,
        pseudonym_accession=case.accession,
    )


def mapping_table(
    session: Session, actor: User, project_id: int, kind: str | None = None
) -> list[MappingRow]:
    """The project's original -> pseudonym pairs (requires ``TRACE_IDENTITY``).

    The salt itself is never returned. The look is logged (``identity.view``).
    """
    require(session, actor, project_id, Action.TRACE_IDENTITY)
    stmt = select(UidMap).where(UidMap.project_id == project_id, UidMap.kind != SALT_KIND)
    if kind:
        stmt = stmt.where(UidMap.kind == kind)
    rows = session.exec(stmt.order_by(UidMap.kind, UidMap.original)).all()
    result = [MappingRow(r.kind, r.original, r.pseudonym) for r in rows]
    _log_view(
        session, actor, project_id, "mapping", detail=f"{len(result)} pairs, kind {kind or 'all'}"
    )
    return result


def find_by_original(session: Session, actor: User, project_id: int, original: str) -> list[int]:
    """Case ids whose original patient ID, accession, study or SOP UID is ``original``.

    Lets a data owner answer "which cases came from this hospital record?"
    (requires ``TRACE_IDENTITY``).
    """
    require(session, actor, project_id, Action.TRACE_IDENTITY)
    value = (original or "").strip()
    if not value:
        return []
    _log_view(session, actor, project_id, "search", detail=f"{len(value)}-character identifier")
    rows = session.exec(
        select(CaseOrigin.case_id)
        .where(
            CaseOrigin.project_id == project_id,
            (CaseOrigin.patient_id == value)
            | (CaseOrigin.accession == value)
            | (CaseOrigin.study_uid == value)
            | (CaseOrigin.sop_uid == value),
        )
        .order_by(col(CaseOrigin.case_id))
    ).all()
    return list(rows)


@rolls_back
def _log_view(
    session: Session,
    actor: User,
    project_id: int,
    what: str,
    *,
    case_id: int | None = None,
    detail: str = "",
) -> None:
    """Record (and commit, with its ledger entry) one look at trace-back data.

    Committed before the data is returned: a look that cannot be logged is not shown.
    """
    row = IdentityView(
        project_id=project_id, user_id=require_id(actor), case_id=case_id, what=what, detail=detail
    )
    session.add(row)
    session.flush()
    ledger.append(session, actor=actor, project_id=project_id, action="identity.view", record=row)
    session.commit()


def identity_views(
    session: Session, actor: User, project_id: int, limit: int = 500
) -> list[IdentityViewInfo]:
    """Who looked at the project's trace-back data, newest first (owners and site admins).

    Raises
    ------
    PermissionDenied
        The actor is not an owner of the project (data owners cannot audit themselves).
    """
    require(session, actor, project_id, Action.AUDIT_IDENTITY)
    rows = session.exec(
        select(IdentityView, User.username)
        .join(User, col(User.id) == col(IdentityView.user_id))
        .where(IdentityView.project_id == project_id)
        .order_by(IdentityView.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    ).all()
    return [
        IdentityViewInfo(v.at.isoformat(timespec="seconds"), name, v.what, v.case_id, v.detail)
        for v, name in rows
    ]
