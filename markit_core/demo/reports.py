"""Synthetic radiology reports for the demo cases, imported like a hospital's export.

The text follows the demo images' ground truth, so the report beside the
image says what a radiologist would have dictated, findings first.
"""

from __future__ import annotations

import csv
import io

from sqlmodel import Session, col, select

from markit_core.config import Settings
from markit_core.demo.answers import Truth, demo_truth
from markit_core.models import Case, User
from markit_core.reports import import_reports


def report_text(truth: Truth, view: str) -> str:
    """A short structured report from one image's ground truth."""
    found = [name for name, present in truth.labels.items() if present]
    absent = [name for name, present in truth.labels.items() if not present]
    lines = [f"CHEST RADIOGRAPH, {view or 'PA'} VIEW."]
    lines.append(
        "FINDINGS: "
        + (
            "; ".join(f.capitalize() for f in found) + "."
            if found
            else "Lungs are clear. Heart size is normal."
        )
    )
    if absent:
        lines.append("No " + ", no ".join(absent) + ".")
    lines.append(
        "IMPRESSION: "
        + (", ".join(found) if found else "no acute cardiopulmonary abnormality")
        + "."
    )
    return " ".join(lines)


def seed_demo_reports(session: Session, settings: Settings, uploader: User, project_id: int) -> str:
    """Import one report per demo case (idempotent: an identical report is not added twice)."""
    in_project = select(Case).where(Case.project_id == project_id)
    cases = list(session.exec(in_project.order_by(col(Case.id))))
    truth = demo_truth(settings, cases)
    if not truth:
        return "demo reports: no demo cases to report on"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["case_id", "report"])
    for case in cases:
        if case.id in truth:
            writer.writerow([case.id, report_text(truth[case.id], case.view_position)])
    result = import_reports(
        session, uploader, project_id, buf.getvalue().encode(), name="demo_reports.csv"
    )
    return f"demo reports: {result.reports_added} added, {result.unchanged} already present"
