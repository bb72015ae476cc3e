"""Exports of annotations; every export is recorded and logged in the ledger.

The CSV layout (``case_id,label,annotator,value,confidence,seconds``) is the
one ``python -m markit_core rewards --annotations`` reads, so an export can be
fed straight into the reward computation outside the app.
"""

from __future__ import annotations

import hashlib
import io

from sqlmodel import Session

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.annotation.current import current_answers
from markit_core.db import require_id, rolls_back
from markit_core.export.spreadsheet import csv_writer
from markit_core.models import ExportRecord, User

CSV_COLUMNS = ("case_id", "label", "annotator", "value", "confidence", "seconds")


@rolls_back
def export_annotations_csv(session: Session, actor: User, project_id: int) -> str:
    """Current binary answers as CSV text; records the export in the ledger."""
    require(session, actor, project_id, Action.EXPORT)
    readings = current_answers(session, project_id)
    buf = io.StringIO()
    writer = csv_writer(buf)  # label and user names are neutralised against formulas
    writer.writerow(CSV_COLUMNS)
    for r in readings:
        if r.value is None:
            continue
        writer.writerow(
            [
                r.case_id,
                r.label,
                r.annotator,
                "true" if r.value else "false",
                "" if r.confidence is None else r.confidence,
                "" if r.seconds is None else f"{r.seconds:.3f}",
            ]
        )
    text = buf.getvalue()
    record = ExportRecord(
        project_id=project_id,
        user_id=require_id(actor),
        format="csv",
        rows=text.count("\n") - 1,
        content_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )
    session.add(record)
    ledger.append(session, actor=actor, project_id=project_id, action="export.csv", record=record)
    session.commit()
    return text
