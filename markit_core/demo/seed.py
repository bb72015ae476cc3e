"""The demo project a newcomer sees on the first ``make run``.

Seeding is idempotent: it creates what is missing and leaves existing data
alone. Demo accounts are flagged ``is_demo`` and share one well-known
password (``MARKIT_DEMO_PASSWORD``, default ``markit-demo``): they exist for a
pilot on one machine and must be removed before real data is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from markit_core.accounts import create_user, get_user, has_users
from markit_core.config import Settings
from markit_core.db import require_id
from markit_core.demo.answers import seed_demo_answers
from markit_core.demo.reports import seed_demo_reports
from markit_core.labels import CHEST_XRAY_LABELS, add_labels
from markit_core.models import Case, Project, Role, User
from markit_core.projects import create_project, grant_role, update_settings

DEMO_PROJECT = "Demo: chest X-ray"
DEMO_IMAGES = 24
DEMO_IMAGE_SEED = 7
DEMO_ADMIN = "admin"

# username -> (display name, roles in the demo project)
DEMO_USERS: dict[str, tuple[str, tuple[Role, ...]]] = {
    "pi": ("Dr. PI (project owner)", (Role.OWNER, Role.MANAGER, Role.REVIEWER)),
    "dataowner": ("Data owner", (Role.DATA_OWNER,)),
    "reviewer": ("Reviewer", (Role.REVIEWER,)),
    "ann1": ("Annotator 1", (Role.ANNOTATOR,)),
    "ann2": ("Annotator 2", (Role.ANNOTATOR,)),
    "ann3": ("Annotator 3", (Role.ANNOTATOR,)),
    "ann4": ("Annotator 4", (Role.ANNOTATOR,)),
}


@dataclass
class DemoResult:
    project_id: int
    created_users: list[str] = field(default_factory=list)
    created_project: bool = False
    notes: list[str] = field(default_factory=list)

    def credentials_banner(self, password: str) -> str:
        """The one-time terminal message listing new demo accounts."""
        if not self.created_users:
            return ""
        lines = [
            "",
            "=" * 64,
            " MarkIt demo accounts (DEMO ONLY - remove before real data)",
            f" password for all: {password}",
        ]
        lines += [f"   {u}" for u in self.created_users]
        lines += ["=" * 64, ""]
        return "\n".join(lines)


def _user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def seed_demo(session: Session, settings: Settings) -> DemoResult:
    """Create the demo admin, users, project, roles, labels and images if missing."""
    created: list[str] = []
    admin = _user(session, DEMO_ADMIN)
    if admin is None:
        if has_users(session):
            admins = select(User).where(col(User.is_admin)).order_by(col(User.id))
            admin = session.exec(admins).first()
        if admin is None or not has_users(session):
            create_user(
                session,
                None,
                DEMO_ADMIN,
                settings.demo_password,
                display_name="Demo administrator",
                is_admin=True,
                is_demo=True,
            )
            created.append(DEMO_ADMIN)
            admin = _user(session, DEMO_ADMIN)
    assert admin is not None
    for username, (display, _roles) in DEMO_USERS.items():
        if _user(session, username) is None:
            create_user(
                session, admin, username, settings.demo_password, display_name=display, is_demo=True
            )
            created.append(username)

    project = session.exec(select(Project).where(Project.name == DEMO_PROJECT)).first()
    created_project = project is None
    if project is None:
        owner = _user(session, "pi")
        info = create_project(
            session,
            admin,
            DEMO_PROJECT,
            owner=owner,
            is_demo=True,
            description="Synthetic chest radiographs with the MarkIt paper's "
            "seven labels. Demo data only.",
        )
        project_id = info.id
        add_labels(session, admin, project_id, CHEST_XRAY_LABELS)
        # four readers per case as in a multi-reader study; after submitting, readers may
        # compare with the others (the paper's review mode), which the calibration view uses
        update_settings(
            session,
            admin,
            project_id,
            required_annotators=len(
                [u for u, (_, roles) in DEMO_USERS.items() if Role.ANNOTATOR in roles]
            ),
            show_others_after_submit=True,
        )
    else:
        project_id = require_id(project)
    for username, (_display, roles) in DEMO_USERS.items():
        for role in roles:
            grant_role(session, admin, project_id, username, role)
    result = DemoResult(
        project_id=project_id, created_users=created, created_project=created_project
    )
    result.notes.append(seed_demo_images(session, settings, project_id))
    result.notes.append(
        seed_demo_reports(session, settings, get_user(session, "dataowner"), project_id)
    )
    answered = seed_demo_answers(session, settings, project_id)
    result.notes.append(
        f"demo readings: {answered} simulated readings added"
        if answered
        else "demo readings: already present"
    )
    return result


def seed_demo_images(
    session: Session, settings: Settings, project_id: int, n: int = DEMO_IMAGES
) -> str:
    """Ingest the synthetic demo images into the demo project; return a one-line note.

    The images are generated (deterministically, from a fixed seed) into
    ``settings.cache_dir / "demo_images"`` and go through the normal ingest
    path as the demo data owner, so they are de-identified, validated and
    ledgered like any upload. Re-running adds nothing: ingest recognises every
    image as already present, and when the project already holds that many
    cases the generator and ingest are skipped altogether.
    """
    from markit_core.demo.generator import generate_demo_set
    from markit_core.imaging.ingest import ingest

    present = session.exec(
        select(func.count()).select_from(Case).where(Case.project_id == project_id)
    ).one()
    if present >= n:
        return f"demo images: {present} cases already in the demo project"
    uploader = _user(session, "dataowner")
    if uploader is None:  # pragma: no cover - seed_demo creates it first
        return "demo images: skipped (no dataowner account)"
    folder = settings.cache_dir / "demo_images"
    images = generate_demo_set(folder, n=n, seed=DEMO_IMAGE_SEED)
    report = ingest(
        session,
        settings,
        uploader,
        project_id,
        [(f"demo_images/{img.path.name}", img.path) for img in images],
    )
    note = f"demo images: {len(report.ingested)} ingested, {len(report.duplicates)} already present"
    if report.refused:
        note += f", {len(report.refused)} refused: " + "; ".join(o.line() for o in report.refused)
    return note
