"""Radiology reports imported from a CSV and matched to cases.

CSV format
----------
UTF-8 (a BOM is fine), comma-separated (semicolon or tab also accepted when
the header uses them), with a header row naming exactly one *key* column and
one *report* column; other columns are ignored. Column names are
case-insensitive:

==================  ===========================================================
key column          matches
==================  ===========================================================
``case_id``         the MarkIt case id
``accession``       the accession number: the hospital's original one (what a
                    report export carries) or the pseudonymised one
``study_uid``       the Study Instance UID, original or pseudonymised
``key``             an accession or study UID, tried in this order: original
                    accession, original study UID, pseudonymised accession,
                    pseudonymised study UID (never a case id: use ``case_id``)
==================  ===========================================================

The report column is ``report`` (or ``text``). Report text with commas or line
breaks must be quoted, as every spreadsheet does when saving CSV. Example::

    accession,report
    A123456,"PA chest. Small left pleural effusion, no pneumothorax."

An accession or study matches every case (image) of that study, and each gets
the report. Rows whose key matches nothing are returned (row number and key)
so the data owner can fix them; a malformed file (missing columns, a row with
the wrong number of fields, an empty key or report, bad encoding) is refused
as a whole with the file, row and problem named, and nothing is stored.
Importing the same file twice adds nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from markit_core import ledger
from markit_core.access import Action, require
from markit_core.db import require_id, rolls_back
from markit_core.errors import InputFileError, NotFoundError
from markit_core.models import Case, CaseOrigin, Report, User

__all__ = [
    "ReportImportResult",
    "ReportInfo",
    "UnmatchedRow",
    "import_reports",
    "report_for_case",
    "reports_for_case",
]

_KEY_COLUMNS = {
    "key": "key",
    "case_id": "case_id",
    "case": "case_id",
    "caseid": "case_id",
    "accession": "accession",
    "accession_number": "accession",
    "accessionnumber": "accession",
    "study_uid": "study_uid",
    "studyinstanceuid": "study_uid",
    "study_instance_uid": "study_uid",
}
_REPORT_COLUMNS = {"report": "report", "text": "report", "report_text": "report"}
_MAX_FIELD = 16 << 20  # reports can be long; csv's default limit is 128 KiB


@dataclass(frozen=True)
class UnmatchedRow:
    """A CSV row whose key matched no case (row 1 is the header)."""

    row: int
    key: str


@dataclass
class ReportImportResult:
    """Outcome of :func:`import_reports`."""

    rows: int = 0
    matched_rows: int = 0
    reports_added: int = 0
    unchanged: int = 0
    unmatched: list[UnmatchedRow] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a terminal or a status box."""
        return (
            f"{self.rows} rows: {self.matched_rows} matched ({self.reports_added} reports "
            f"added, {self.unchanged} already present), {len(self.unmatched)} unmatched"
        )


@dataclass(frozen=True)
class ReportInfo:
    """A report as shown beside the image."""

    id: int
    case_id: int
    text: str
    matched_on: str
    created_at: datetime


def _read_text(source: bytes | str | Path, name: str) -> str:
    try:
        raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as e:
        raise InputFileError(f"{name}: cannot read file: {e.strerror or e}") from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputFileError(f"{name}: line {line}: not UTF-8 text (save the CSV as UTF-8)") from e


def _parse(text: str, name: str) -> tuple[str, list[tuple[int, str, str]]]:
    """Return the key kind and ``(row number, key, report)`` rows, or raise ``InputFileError``."""
    first = text.split("\n", 1)[0]
    delimiter = "," if "," in first else ";" if ";" in first else "\t" if "\t" in first else ","
    old_limit = csv.field_size_limit()
    csv.field_size_limit(max(old_limit, _MAX_FIELD))
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        records = []
        row_no = 0
        try:
            for row_no, record in enumerate(reader, start=1):
                records.append((row_no, record))
        except csv.Error as e:
            raise InputFileError(f"{name}: row {row_no + 1}: {e}") from e
    finally:
        csv.field_size_limit(old_limit)
    if not records:
        raise InputFileError(f"{name}: empty file; expected a header such as 'accession,report'")
    header = [h.strip().lower() for h in records[0][1]]
    keys = [(i, _KEY_COLUMNS[h]) for i, h in enumerate(header) if h in _KEY_COLUMNS]
    texts = [i for i, h in enumerate(header) if h in _REPORT_COLUMNS]
    if len(keys) != 1 or len(texts) != 1:
        raise InputFileError(
            f"{name}: row 1: the header must name one key column (case_id, accession, "
            f"study_uid or key) and one report column (report); found "
            f"{', '.join(header) or 'nothing'}"
        )
    (key_col, kind), text_col = keys[0], texts[0]
    rows = []
    for row_no, record in records[1:]:
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(record) != len(header):
            raise InputFileError(
                f"{name}: row {row_no}: {len(record)} fields but the header has {len(header)} "
                "columns (quote report text that contains the separator)"
            )
        key, report = record[key_col].strip(), record[text_col].strip()
        if not key:
            raise InputFileError(f"{name}: row {row_no}: empty {header[key_col]}")
        if not report:
            raise InputFileError(f"{name}: row {row_no}: empty report text")
        rows.append((row_no, key, report))
    return kind, rows


def _match(session: Session, project_id: int, kind: str, key: str) -> tuple[list[int], str]:
    """Case ids for a key, and what matched."""

    def origin(column: object) -> list[int]:
        return list(
            session.exec(
                select(CaseOrigin.case_id).where(CaseOrigin.project_id == project_id, column == key)
            ).all()
        )

    def pseudo(column: object) -> list[int]:
        ids = session.exec(select(Case.id).where(Case.project_id == project_id, column == key))
        return [cid for cid in ids if cid is not None]  # a primary key: never None

    def by_id() -> list[int]:
        if not key.isdigit():
            return []
        case = session.get(Case, int(key))
        return [case.id] if case is not None and case.project_id == project_id and case.id else []

    attempts = {
        "case_id": [(by_id, "case_id")],
        "accession": [
            (lambda: origin(CaseOrigin.accession), "accession"),
            (lambda: pseudo(Case.accession), "accession (pseudonym)"),
        ],
        "study_uid": [
            (lambda: origin(CaseOrigin.study_uid), "study_uid"),
            (lambda: pseudo(Case.study_uid), "study_uid (pseudonym)"),
        ],
    }
    # A generic key never falls back to case ids: a numeric accession that matches nothing
    # must be reported as unmatched, not attached to whichever case has that id.
    attempts["key"] = (
        attempts["accession"][:1]
        + attempts["study_uid"][:1]
        + attempts["accession"][1:]
        + attempts["study_uid"][1:]
    )
    for find, label in attempts[kind]:
        ids = sorted(set(find()))
        if ids:
            return ids, label
    return [], ""


REDACTED = "[removed]"


def redact_identity(text: str, origin: CaseOrigin | None) -> str:
    """Remove the case's known identifiers (name parts, patient ID, accession) from a report.

    Annotators read reports beside the image, so a report must not undo the
    image's de-identification. Only identifiers the archive gave us for this
    very case are removed: reliable, though not a general free-text scrubber.
    """
    if origin is None:
        return text
    tokens = {origin.patient_id, origin.accession}
    tokens |= {part for part in re.split(r"[\^\s,]+", origin.patient_name or "") if len(part) >= 2}
    for token in sorted((t for t in tokens if t and t.strip()), key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(token)}(?!\w)", REDACTED, text, flags=re.IGNORECASE)
    return text


@rolls_back
def import_reports(
    session: Session,
    actor: User,
    project_id: int,
    source: bytes | str | Path,
    name: str | None = None,
) -> ReportImportResult:
    """Import a report CSV into a project (format in the module docstring).

    Parameters
    ----------
    session : Session
        Database session; everything is committed in one transaction.
    actor : User
        Needs ``Action.UPLOAD`` (data owners, owners).
    project_id : int
        Target project.
    source : bytes | str | Path
        The file's bytes, or a path to it.
    name : str | None
        File name for messages (defaults to the path's name).

    Returns
    -------
    ReportImportResult
        Counts and the unmatched rows.

    Raises
    ------
    InputFileError
        Malformed CSV: the message names the file, the row and the problem.
    """
    require(session, actor, project_id, Action.UPLOAD)
    name = name or (Path(source).name if not isinstance(source, bytes) else "reports.csv")
    kind, rows = _parse(_read_text(source, name), name)
    result = ReportImportResult(rows=len(rows))
    try:
        for row_no, key, text in rows:
            case_ids, matched_on = _match(session, project_id, kind, key)
            if not case_ids:
                result.unmatched.append(UnmatchedRow(row_no, key))
                continue
            result.matched_rows += 1
            for case_id in case_ids:
                text = redact_identity(
                    text,
                    session.exec(select(CaseOrigin).where(CaseOrigin.case_id == case_id)).first(),
                )
                same = session.exec(
                    select(Report.id).where(Report.case_id == case_id, Report.text == text)
                ).first()
                if same is not None:
                    result.unchanged += 1
                    continue
                report = Report(
                    project_id=project_id, case_id=case_id, text=text, matched_on=matched_on
                )
                session.add(report)
                session.flush()
                ledger.append(
                    session,
                    actor=actor,
                    project_id=project_id,
                    action="report.import",
                    record=report,
                )
                result.reports_added += 1
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def reports_for_case(session: Session, actor: User, case_id: int) -> list[ReportInfo]:
    """All reports of a case, newest first (anyone who may view the project)."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"case {case_id} not found")
    require(session, actor, case.project_id, Action.VIEW)
    rows = session.exec(
        select(Report)
        .where(Report.case_id == case_id)
        .order_by(col(Report.created_at).desc(), col(Report.id).desc())
    ).all()
    return [ReportInfo(require_id(r), r.case_id, r.text, r.matched_on, r.created_at) for r in rows]


def report_for_case(session: Session, actor: User, case_id: int) -> ReportInfo | None:
    """The newest report of a case, or None (for the annotate page)."""
    reports = reports_for_case(session, actor, case_id)
    return reports[0] if reports else None
