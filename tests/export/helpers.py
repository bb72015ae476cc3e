"""A project to export: the review worked example plus regions of every shape, an edit,
an adjudication, a case name a spreadsheet would run as a formula, and a signing key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from markit_core.annotation.submit import RegionInput
from markit_core.audit.keys import create_signing_key
from markit_core.models import Case, Role
from markit_core.projects import grant_role
from markit_core.review.views import adjudicate
from tests.review_helpers import Example, build_example, read

PASSPHRASE = "owner passphrase 123"


@dataclass
class ExportProject:
    example: Example
    manager: object

    @property
    def project_id(self) -> int:
        return self.example.project.id


def export_project(session: Session, settings, make_user, make_project, admin) -> ExportProject:
    ex = build_example(session, settings, make_user, make_project)
    manager = make_user("mgr")
    grant_role(session, admin, ex.project.id, "mgr", Role.MANAGER)
    lab = ex.labels
    b = ex.annotators["ann_b"]
    read(  # B edits image 3 (version 2) and outlines a lesion with a polygon and a free-hand line
        session,
        b,
        ex.project.id,
        ex.cases[2],
        {lab["effusion"]: True, lab["pneumothorax"]: False},
        confidence=40,
        seconds={lab["effusion"]: 3.25},
        regions=(
            RegionInput(lab["lesion outline"], "polygon", [(5, 5), (40, 8), (22.5, 30.75)]),
            RegionInput(lab["lesion outline"], "path", [(50, 50), (60, 52), (70, 60), (55, 70)]),
        ),
        token="edit-b-3",
    )
    adjudicate(session, ex.reviewer, ex.project.id, ex.cases[3], lab["pneumothorax"], True)
    case = session.get(Case, ex.cases[0])
    case.original_name = "=HYPERLINK(1).png"
    session.add(case)
    session.commit()
    create_signing_key(session, ex.owner, ex.project.id, PASSPHRASE)
    return ExportProject(ex, manager)


def bundle_dir(tmp_path: Path, name: str = "bundle") -> Path:
    return tmp_path / name
