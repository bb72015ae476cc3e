"""A project's label set: names, groups, kinds and order.

The editor submits the whole table; ``save_label_set`` validates every row
first and then applies the difference in one transaction, so a bad row
changes nothing. A label that already has answers is archived instead of
deleted, so no annotation ever loses its label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, SupportsInt

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.db import require_id, rolls_back
from markit_core.errors import ValidationError
from markit_core.models import Adjudication, AnnotationValue, LabelDef, LabelKind, Roi, User
from markit_core.validation import clean_name

# The seven critical chest X-ray labels of the MarkIt paper, with their groups.
CHEST_XRAY_LABELS: tuple[tuple[str, str], ...] = (
    ("interstitial lung disease", "Lung"),
    ("pneumonia", "Lung"),
    ("pulmonary edema", "Lung"),
    ("pleural effusion", "Pleura"),
    ("cardiomegaly", "Heart"),
    ("pneumothorax", "Pleura"),
    ("atelectasis", "Lung"),
)


@dataclass(frozen=True)
class LabelInfo:
    id: int
    name: str
    group: str
    kind: str
    order: int


@dataclass(frozen=True)
class LabelChanges:
    """What ``save_label_set`` did."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    archived: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.created or self.updated or self.deleted or self.archived)


def _info(label: LabelDef) -> LabelInfo:
    return LabelInfo(require_id(label), label.name, label.group, label.kind, label.order)


def list_labels(session: Session, actor: User, project_id: int) -> list[LabelInfo]:
    """The project's active labels in display order (group, order, name)."""
    require(session, actor, project_id, Action.VIEW)
    return [_info(lb) for lb in active_labels(session, project_id)]


def active_labels(session: Session, project_id: int) -> list[LabelDef]:
    """The project's non-archived label rows in display order.

    No permission check: a query helper for callers that already checked.
    """
    return list(
        session.exec(
            select(LabelDef)
            .where(LabelDef.project_id == project_id, col(LabelDef.archived).is_(False))
            .order_by(col(LabelDef.order), col(LabelDef.name))
        )
    )


def active_binary_labels(session: Session, project_id: int) -> list[LabelDef]:
    """The project's non-archived present/absent labels in display order.

    The one query behind review, rewards and the demo answers (no permission
    check: callers already checked).
    """
    return [lb for lb in active_labels(session, project_id) if lb.kind == LabelKind.BINARY.value]


def _parse_kind(value: object, where: str) -> str:
    text = str(value or LabelKind.BINARY.value).strip().lower()
    try:
        return LabelKind(text).value
    except ValueError:
        raise ValidationError(f"{where}: kind {value!r} is not one of binary, roi") from None


def _parse_order(value: object, where: str, default: int) -> int:
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return default
    if not isinstance(value, (str, SupportsInt)):
        raise ValidationError(f"{where}: order {value!r} is not a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: order {value!r} is not a whole number") from None


def _validate(rows: Iterable[Mapping[str, Any]], existing_ids: set[int]) -> list[dict[str, Any]]:
    clean: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        where = f"label row {n}"
        name = clean_name(row.get("name"), f"{where} name")
        key = name.casefold()
        if key in seen:
            raise ValidationError(f"{where}: duplicate label name {name!r} (also row {seen[key]})")
        seen[key] = n
        raw_id = row.get("id")
        label_id = None
        if raw_id not in (None, "") and not (isinstance(raw_id, float) and raw_id != raw_id):
            try:
                label_id = int(raw_id)
            except (TypeError, ValueError):
                raise ValidationError(f"{where}: label id {raw_id!r} is not a number") from None
            if label_id not in existing_ids:
                raise ValidationError(f"{where}: label id {label_id} is not in this project")
        clean.append(
            {
                "id": label_id,
                "name": name,
                "group": clean_name(row.get("group"), f"{where} group", allow_empty=True),
                "kind": _parse_kind(row.get("kind"), where),
                "order": _parse_order(row.get("order"), where, n),
            }
        )
    return clean


def _in_use(session: Session, label_id: int) -> bool:
    for table, column in (
        (AnnotationValue, AnnotationValue.label_id),
        (Roi, Roi.label_id),
        (Adjudication, Adjudication.label_id),
    ):
        if session.exec(select(func.count()).select_from(table).where(column == label_id)).one():
            return True
    return False


@rolls_back
def save_label_set(
    session: Session, actor: User, project_id: int, rows: Iterable[Mapping[str, Any]]
) -> LabelChanges:
    """Replace the project's label set with ``rows`` (dicts: id?, name, group, kind, order)."""
    require(session, actor, project_id, Action.EDIT_LABELS)
    current = {require_id(lb): lb for lb in active_labels(session, project_id)}
    wanted = _validate(rows, set(current))
    archived_names = {
        lb.name.casefold(): lb
        for lb in session.exec(
            select(LabelDef).where(
                LabelDef.project_id == project_id, col(LabelDef.archived).is_(True)
            )
        )
    }
    for n, w in enumerate(wanted, start=1):
        if (
            w["id"] is not None
            and w["name"].casefold() in archived_names
            and current[w["id"]].name.casefold() != w["name"].casefold()
        ):
            raise ValidationError(
                f"label row {n}: {w['name']!r} is the name of an archived label that has answers; "
                "add it as a new row to restore that label instead"
            )
    try:
        return _apply(session, actor, project_id, current, wanted, archived_names)
    except IntegrityError as e:
        raise ValidationError(
            "label names clash with each other; save the renames one at a time"
        ) from e


def _apply(
    session: Session,
    actor: User,
    project_id: int,
    current: dict[int, LabelDef],
    wanted: list[dict[str, Any]],
    archived_names: dict[str, LabelDef],
) -> LabelChanges:
    created, updated, deleted, archived = [], [], [], []

    keep = {w["id"] for w in wanted if w["id"] is not None}
    for label_id, label in current.items():
        if label_id in keep:
            continue
        if _in_use(session, require_id(label)):
            label.archived = True
            session.add(label)
            ledger.append(
                session, actor=actor, project_id=project_id, action="label.archive", record=label
            )
            archived.append(label.name)
        else:
            ledger.append(
                session,
                actor=actor,
                project_id=project_id,
                action="label.delete",
                record=label,
                removed=True,
            )
            session.delete(label)
            deleted.append(label.name)
    session.flush()
    # Renames go through a placeholder first, so that swapping two names never trips the
    # unique (project, name) constraint halfway; the placeholders are never committed.
    renamed = [w for w in wanted if w["id"] is not None and current[w["id"]].name != w["name"]]
    for w in renamed:
        current[w["id"]].name = f"\x7frenaming {w['id']}"  # DEL: no valid name has it
    session.flush()

    for w in wanted:
        fields = {k: w[k] for k in ("name", "group", "kind", "order")}
        if w["id"] is None:
            revived = archived_names.get(w["name"].casefold())
            if revived is not None:  # a re-added label comes back with its old answers
                for k, v in fields.items():
                    setattr(revived, k, v)
                revived.archived = False
                label, action = revived, "label.restore"
            else:
                label, action = LabelDef(project_id=project_id, **fields), "label.create"
            session.add(label)
            session.flush()
            ledger.append(session, actor=actor, project_id=project_id, action=action, record=label)
            created.append(label.name)
            continue
        label = current[w["id"]]
        if any(getattr(label, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(label, k, v)
            session.add(label)
            session.flush()
            ledger.append(
                session, actor=actor, project_id=project_id, action="label.update", record=label
            )
            updated.append(label.name)
    session.commit()
    return LabelChanges(tuple(created), tuple(updated), tuple(deleted), tuple(archived))


def add_labels(
    session: Session,
    actor: User,
    project_id: int,
    labels: Iterable[tuple[str, str]],
    kind: str = LabelKind.BINARY.value,
) -> LabelChanges:
    """Append (name, group) labels after the existing ones."""
    existing = list_labels(session, actor, project_id)
    rows: list[dict[str, Any]] = [vars(lb).copy() for lb in existing]
    start = max((lb.order for lb in existing), default=0)
    rows += [
        {"name": n, "group": g, "kind": kind, "order": start + i}
        for i, (n, g) in enumerate(labels, start=1)
    ]
    return save_label_set(session, actor, project_id, rows)


# --- label sets to start a new project from (issue 12) ---

TEMPLATE_PREFIX = "template:"
PROJECT_PREFIX = "project:"
# Built-in label sets a new project can start from: key -> (title, (name, group) pairs).
LABEL_TEMPLATES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "chest-xray-7": ("Chest X-ray: the MarkIt paper's 7 critical labels", CHEST_XRAY_LABELS),
}


@dataclass(frozen=True)
class LabelSource:
    """A label set a new project can copy: a built-in template or a project's labels."""

    key: str  # "template:<name>" or "project:<id>"
    title: str
    labels: tuple[str, ...]


def label_sources(session: Session, actor: User) -> list[LabelSource]:
    """The built-in templates, then every project whose label set ``actor`` may manage.

    What the new-project form offers; ``start_label_set`` checks again.
    """
    from markit_core.access import can
    from markit_core.models import Membership, Project

    out = [
        LabelSource(f"{TEMPLATE_PREFIX}{key}", title, tuple(n for n, _g in pairs))
        for key, (title, pairs) in LABEL_TEMPLATES.items()
    ]
    projects = select(Project).order_by(col(Project.name))
    if not actor.is_admin:
        mine = select(Membership.project_id).where(Membership.user_id == actor.id)
        projects = projects.where(col(Project.id).in_(mine))
    for project in session.exec(projects):
        project_id = require_id(project)
        if can(session, actor, project_id, Action.EDIT_LABELS):
            names = tuple(lb.name for lb in active_labels(session, project_id))
            if names:
                out.append(LabelSource(f"{PROJECT_PREFIX}{project_id}", project.name, names))
    return out


def label_set_rows(session: Session, actor: User, source: str) -> list[dict[str, Any]]:
    """The rows (name, group, kind, order) of the label set ``source`` names.

    Parameters
    ----------
    source : str
        ``"template:<name>"`` (a key of ``LABEL_TEMPLATES``) or ``"project:<id>"``;
        copying a project's labels needs the right to edit that project's label set.

    Raises
    ------
    ValidationError
        ``source`` names no template and no project.
    NotFoundError, PermissionDenied
        The project is not visible to ``actor`` / ``actor`` may not manage its labels.
    """
    text = str(source or "").strip()
    if text.startswith(TEMPLATE_PREFIX):
        template = LABEL_TEMPLATES.get(text.removeprefix(TEMPLATE_PREFIX))
        if template is None:
            known = ", ".join(f"{TEMPLATE_PREFIX}{k}" for k in LABEL_TEMPLATES)
            raise ValidationError(f"unknown label template {text!r}; known: {known}")
        return [
            {"name": n, "group": g, "kind": LabelKind.BINARY.value, "order": i}
            for i, (n, g) in enumerate(template[1], start=1)
        ]
    if text.startswith(PROJECT_PREFIX) and text.removeprefix(PROJECT_PREFIX).isdigit():
        project_id = int(text.removeprefix(PROJECT_PREFIX))
        require(session, actor, project_id, Action.EDIT_LABELS)
        return [
            {"name": lb.name, "group": lb.group, "kind": lb.kind, "order": lb.order}
            for lb in active_labels(session, project_id)
        ]
    raise ValidationError(
        f"label set {text!r} is neither {TEMPLATE_PREFIX}<name> nor {PROJECT_PREFIX}<id>"
    )


def start_label_set(
    session: Session, actor: User, project_id: int, rows: Iterable[Mapping[str, Any]]
) -> tuple[str, ...]:
    """Give a project that has no labels yet the label set ``rows``, inside the caller's
    transaction (``create_project``: the project and its labels commit together).

    The caller has checked ``actor``'s right to the new project; each label
    gets its own ``label.create`` ledger entry.
    """
    if active_labels(session, project_id):
        raise ValidationError("the project already has labels; edit them in the label editor")
    created = []
    for row in _validate(rows, set()):
        fields = {k: row[k] for k in ("name", "group", "kind", "order")}
        label = LabelDef(project_id=project_id, **fields)
        session.add(label)
        session.flush()
        ledger.append(
            session, actor=actor, project_id=project_id, action="label.create", record=label
        )
        created.append(label.name)
    return tuple(created)
