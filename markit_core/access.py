"""Roles and permissions.

Every service function calls ``require`` (or ``require_admin``) before it
reads or writes project data, so the UI only hides what the core would refuse
anyway. The matrix below is the single source of truth; the tests walk it
pair by pair.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import event
from sqlmodel import Session, select

from markit_core.errors import NotFoundError, PermissionDenied
from markit_core.models import Annotation, Membership, Project, Role, User


class Action(StrEnum):
    """Things a user can do in a project."""

    VIEW = "view"  # see the project at all
    EXPORT = "export"  # download annotations
    PROGRESS = "progress"  # progress tracking (who did what)
    STATS = "stats"  # project statistics
    EDIT_LABELS = "edit_labels"  # label set editor
    MANAGE_MEMBERS = "manage_members"  # grant / revoke roles
    EDIT_SETTINGS = "edit_settings"  # project settings, case assignment
    UPLOAD = "upload"  # add images, import from archives, reports
    TRACE_IDENTITY = "trace_identity"  # see the de-identification mapping
    ANNOTATE = "annotate"
    REVIEW = "review"  # review heatmaps, adjudication
    REWARDS = "rewards"  # run and see reward distributions
    USE_AI = "use_ai"  # request AI suggestions
    AUDIT_IDENTITY = "audit_identity"  # list who looked at trace-back data (owners)


_ALL = frozenset(Action)

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: _ALL,
    Role.MANAGER: frozenset(
        {
            Action.VIEW,
            Action.EXPORT,
            Action.PROGRESS,
            Action.STATS,
            Action.EDIT_LABELS,
            Action.MANAGE_MEMBERS,
            Action.EDIT_SETTINGS,
            Action.REVIEW,
            Action.REWARDS,
            Action.USE_AI,
        }
    ),
    Role.DATA_OWNER: frozenset(
        {
            Action.VIEW,
            Action.UPLOAD,
            Action.TRACE_IDENTITY,
            Action.PROGRESS,
        }
    ),
    Role.ANNOTATOR: frozenset({Action.VIEW, Action.ANNOTATE, Action.USE_AI}),
    Role.REVIEWER: frozenset(
        {Action.VIEW, Action.REVIEW, Action.STATS, Action.PROGRESS, Action.USE_AI}
    ),
}


# Roles read in the session's current transaction, {(user id, project id): roles}: one
# page run checks the same membership a dozen times (the page list, then every service
# it calls). A flush or the end of the transaction forgets them, and a membership added
# or deleted but not yet flushed bypasses them, so a change is seen at once.
_ROLES_READ = "markit_roles_read"


def _forget_roles(session: Session, *_: object) -> None:
    session.info.pop(_ROLES_READ, None)


event.listen(Session, "after_flush", _forget_roles)
event.listen(Session, "after_transaction_end", _forget_roles)


def _membership_pending(session: Session) -> bool:
    return any(isinstance(o, Membership) for o in (*session.new, *session.deleted))


def roles_of(session: Session, user: User, project_id: int) -> set[Role]:
    """The roles ``user`` holds in the project (read once per transaction)."""
    read: dict[tuple[int | None, int], frozenset[Role]] = session.info.setdefault(_ROLES_READ, {})
    key = (user.id, project_id)
    if key not in read or _membership_pending(session):
        rows = session.exec(
            select(Membership.role).where(
                Membership.project_id == project_id, Membership.user_id == user.id
            )
        ).all()
        read[key] = frozenset(Role(r) for r in rows)
    return set(read[key])


def allowed(roles: set[Role], action: Action) -> bool:
    """Whether any of ``roles`` grants ``action``."""
    return any(action in PERMISSIONS[r] for r in roles)


def can(session: Session, user: User, project_id: int, action: Action) -> bool:
    """Whether ``user`` may do ``action`` in the project (site admins may do all)."""
    if not user.is_active:
        return False
    if user.is_admin:
        return True
    return allowed(roles_of(session, user, project_id), action)


def require(session: Session, user: User, project_id: int, action: Action) -> Project:
    """Return the project if ``user`` may do ``action`` in it, else raise.

    A user who is not a member gets ``NotFoundError`` (a private project's
    existence is not revealed); a member without the right role gets
    ``PermissionDenied`` naming the action.
    """
    project = session.get(Project, project_id)
    if project is None:
        raise NotFoundError(f"project {project_id} not found")
    if not user.is_active:
        raise PermissionDenied(f"user {user.username!r} is deactivated")
    if user.is_admin:
        return project
    roles = roles_of(session, user, project_id)
    if not roles:
        raise NotFoundError(f"project {project_id} not found")
    if not allowed(roles, action):
        held = ", ".join(sorted(r.value for r in roles))
        raise PermissionDenied(
            f"{user.username!r} may not {action.value.replace('_', ' ')} in project "
            f"{project.name!r} (roles: {held})"
        )
    return project


# Who may grant (and revoke) which role: managers handle the readers, owners (and site
# administrators) everything. Nobody grants a role to themselves (see ``check_grant``).
GRANTABLE_BY: dict[Role, frozenset[Role]] = {
    Role.OWNER: frozenset(Role),
    Role.MANAGER: frozenset({Role.ANNOTATOR, Role.REVIEWER}),
}


def check_grant(
    session: Session,
    actor: User,
    project_id: int,
    target: User,
    role: Role,
    *,
    revoke: bool = False,
) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may grant (or revoke) ``role`` for ``target``.

    Managers grant and revoke annotator and reviewer only; owner, manager and
    data-owner are granted by an owner or a site administrator; nobody grants
    a role to themselves (a site administrator included). Giving up one of
    one's own roles is allowed (the last owner stays protected by the caller).
    """
    if actor.id == target.id:
        if revoke:
            return
        raise PermissionDenied("nobody may grant themselves a role; ask an owner")
    if actor.is_admin and actor.is_active:
        return
    held = roles_of(session, actor, project_id)
    if not any(role in GRANTABLE_BY.get(r, ()) for r in held):
        manager_may = role in GRANTABLE_BY[Role.MANAGER]
        who = "an owner or a manager" if manager_may else "an owner or a site administrator"
        raise PermissionDenied(f"only {who} may grant or revoke the {role.value} role")


def reads_blind(session: Session, user: User, project_id: int) -> bool:
    """Whether ``user`` annotates in the project: holds the annotator role (whatever else
    they hold) or has submitted a reading there.

    Such a user reads independently: no read path shows them another reader's
    answers or regions on a case they have not read themselves. Owners,
    managers and reviewers who do not annotate are unaffected.
    """
    if Role.ANNOTATOR in roles_of(session, user, project_id):
        return True
    return (
        session.exec(
            select(Annotation.id).where(
                Annotation.project_id == project_id, Annotation.annotator_id == user.id
            )
        ).first()
        is not None
    )


def require_admin(user: User, what: str) -> None:
    """Raise unless ``user`` is an active site administrator."""
    if not (user.is_active and user.is_admin):
        raise PermissionDenied(f"only an administrator may {what}")
