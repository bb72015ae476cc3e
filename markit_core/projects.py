"""Projects, members and roles, and project settings.

Projects are private: a user sees only those they hold a role in (site
admins see all). Owners and managers manage members; only an owner may grant
or revoke the owner role, and the last owner can never be removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, check_grant, require, roles_of
from markit_core.accounts import get_user
from markit_core.config import Settings, load_settings
from markit_core.db import require_id, rolls_back
from markit_core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from markit_core.labels import label_set_rows, start_label_set
from markit_core.models import Membership, Project, Role, User
from markit_core.validation import clean_name


@dataclass(frozen=True)
class ProjectInfo:
    """Read-model of a project with the viewer's own roles."""

    id: int
    name: str
    description: str
    required_annotators: int
    show_others_after_submit: bool
    is_demo: bool
    my_roles: tuple[str, ...]


@dataclass(frozen=True)
class MemberInfo:
    user_id: int
    username: str
    display_name: str
    roles: tuple[str, ...]


def _info(session: Session, project: Project, viewer: User) -> ProjectInfo:
    roles = tuple(sorted(r.value for r in roles_of(session, viewer, require_id(project))))
    return ProjectInfo(
        require_id(project),
        project.name,
        project.description,
        project.required_annotators,
        project.show_others_after_submit,
        project.is_demo,
        roles,
    )


def _parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise ValidationError(f"unknown role {role!r}; valid roles: {valid}") from None


def find_project(session: Session, actor: User, name: str) -> Project:
    """The project called ``name`` if ``actor`` may see it; ``NotFoundError`` otherwise."""
    project = session.exec(select(Project).where(Project.name == (name or "").strip())).first()
    if project is None:
        raise NotFoundError(f"project {name!r} not found")
    try:
        require(session, actor, require_id(project), Action.VIEW)
    except NotFoundError:
        raise NotFoundError(f"project {name!r} not found") from None
    return project


@rolls_back
def create_project(
    session: Session,
    actor: User,
    name: str,
    *,
    description: str = "",
    owner: User | None = None,
    is_demo: bool = False,
    settings: Settings | None = None,
    labels_from: str | None = None,
) -> ProjectInfo:
    """Create a private project; ``owner`` (default: the actor) becomes its owner.

    ``labels_from`` (``"template:<name>"`` or ``"project:<id>"``, see
    ``labels.label_sources``) gives it a copy of that label set in the same
    transaction; copying a project's labels needs the right to edit them there.

    ``settings.project_creators`` (``MARKIT_PROJECT_CREATORS``; default
    ``admins``) says whether only site administrators or every account may
    create projects; without ``settings`` the environment's setting applies.
    A name already used by any project is refused with the same message
    whether or not the actor can see that project.
    """
    clean = clean_name(name, "project name")
    desc = clean_name(description, "project description", max_len=2000, allow_empty=True)
    if not actor.is_active:
        raise PermissionDenied(f"user {actor.username!r} is deactivated")
    creators = (settings or load_settings()).project_creators
    if creators == "admins" and not actor.is_admin:
        raise PermissionDenied(
            "only a site administrator may create projects on this server "
            "(MARKIT_PROJECT_CREATORS=admins)"
        )
    if owner is not None and owner.id != actor.id and not actor.is_admin:
        raise PermissionDenied("only an administrator may create a project for another user")
    rows = label_set_rows(session, actor, labels_from) if labels_from else []
    taken = session.exec(select(Project).where(func.lower(Project.name) == clean.lower())).first()
    if taken is not None:
        raise ValidationError(f"the project name {clean!r} is not available; choose another name")
    project = Project(name=clean, description=desc, created_by=actor.id, is_demo=is_demo)
    session.add(project)
    session.flush()
    ledger.append(
        session, actor=actor, project_id=project.id, action="project.create", record=project
    )
    member = Membership(
        project_id=require_id(project), user_id=require_id(owner or actor), role=Role.OWNER.value
    )
    session.add(member)
    session.flush()
    ledger.append(session, actor=actor, project_id=project.id, action="role.grant", record=member)
    if rows:
        start_label_set(session, actor, require_id(project), rows)
    session.commit()
    return _info(session, project, actor)


def list_projects(session: Session, actor: User) -> list[ProjectInfo]:
    """Projects ``actor`` belongs to (all of them for a site admin), by name."""
    stmt = select(Project).order_by(Project.name)
    if not actor.is_admin:
        mine = select(Membership.project_id).where(Membership.user_id == actor.id)
        stmt = stmt.where(col(Project.id).in_(mine))
    return [_info(session, p, actor) for p in session.exec(stmt)]


def get_project(session: Session, actor: User, project_id: int) -> ProjectInfo:
    """One project the actor may see."""
    return _info(session, require(session, actor, project_id, Action.VIEW), actor)


@rolls_back
def update_settings(
    session: Session,
    actor: User,
    project_id: int,
    *,
    description: str | None = None,
    required_annotators: int | None = None,
    show_others_after_submit: bool | None = None,
) -> ProjectInfo:
    """Change project settings (owners and managers)."""
    project = require(session, actor, project_id, Action.EDIT_SETTINGS)
    # validate everything before touching the row: a refused call must leave nothing dirty
    desc = (
        None
        if description is None
        else clean_name(description, "project description", max_len=2000, allow_empty=True)
    )
    if required_annotators is not None and not 0 <= int(required_annotators) <= 50:
        raise ValidationError("annotators per case must be between 0 (every annotator) and 50")
    if desc is not None:
        project.description = desc
    if required_annotators is not None:
        project.required_annotators = int(required_annotators)
    if show_others_after_submit is not None:
        project.show_others_after_submit = bool(show_others_after_submit)
    session.add(project)
    ledger.append(
        session, actor=actor, project_id=project_id, action="project.settings", record=project
    )
    session.commit()
    return _info(session, project, actor)


def list_members(session: Session, actor: User, project_id: int) -> list[MemberInfo]:
    """Members with their roles (anyone in the project may see who else is in it)."""
    require(session, actor, project_id, Action.VIEW)
    rows = session.exec(
        select(User, Membership.role)
        .join(Membership, col(Membership.user_id) == User.id)
        .where(Membership.project_id == project_id)
        .order_by(User.username)
    ).all()
    grouped: dict[int, tuple[User, list[str]]] = {}
    for user, role in rows:
        grouped.setdefault(require_id(user), (user, []))[1].append(role)
    return [
        MemberInfo(require_id(u), u.username, u.display_name or u.username, tuple(sorted(rs)))
        for u, rs in grouped.values()
    ]


@rolls_back
def grant_role(
    session: Session, actor: User, project_id: int, username: str, role: str | Role
) -> bool:
    """Give ``username`` a role; returns False if they already had it (nothing changes)."""
    require(session, actor, project_id, Action.MANAGE_MEMBERS)
    r = _parse_role(role)
    target = get_user(session, username)
    check_grant(session, actor, project_id, target, r)
    if not target.is_active:
        raise ValidationError(f"user {username!r} is deactivated")
    exists = session.exec(
        select(Membership).where(
            Membership.project_id == project_id,
            Membership.user_id == target.id,
            Membership.role == r.value,
        )
    ).first()
    if exists is not None:
        return False
    member = Membership(project_id=project_id, user_id=require_id(target), role=r.value)
    session.add(member)
    session.flush()
    ledger.append(session, actor=actor, project_id=project_id, action="role.grant", record=member)
    session.commit()
    return True


@rolls_back
def revoke_role(
    session: Session, actor: User, project_id: int, username: str, role: str | Role
) -> None:
    """Take a role away; refuses to remove the project's last owner."""
    require(session, actor, project_id, Action.MANAGE_MEMBERS)
    r = _parse_role(role)
    target = get_user(session, username)
    check_grant(session, actor, project_id, target, r, revoke=True)
    member = session.exec(
        select(Membership).where(
            Membership.project_id == project_id,
            Membership.user_id == target.id,
            Membership.role == r.value,
        )
    ).first()
    if member is None:
        raise NotFoundError(f"{username!r} does not hold the {r.value} role in this project")
    if r is Role.OWNER:
        owners = session.exec(
            select(func.count())
            .select_from(Membership)
            .where(Membership.project_id == project_id, Membership.role == Role.OWNER.value)
        ).one()
        if owners <= 1:
            raise ConflictError(
                "cannot remove the last owner of a project; make someone else owner first"
            )
    ledger.append(
        session,
        actor=actor,
        project_id=project_id,
        action="role.revoke",
        record=member,
        removed=True,
    )
    session.delete(member)
    session.commit()
