"""Report CSV import: matching on case id, original or pseudonymised accession and study UID."""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.errors import InputFileError, NotFoundError, PermissionDenied
from markit_core.imaging.ingest import ingest
from markit_core.models import Case, LedgerEntry, Report
from markit_core.reports import import_reports, report_for_case, reports_for_case
from tests.imaging_fixtures import ImagingProject, dicom_bytes, identified_dicom


@pytest.fixture
def cases(session, settings, imaging: ImagingProject) -> dict[str, Case]:
    """Two images of study A (accession ACC-A) and one of study B (accession ACC-B)."""
    a1 = identified_dicom(seed=1)
    a1.AccessionNumber = "ACC-A"
    a2 = identified_dicom(seed=2, study_uid=a1.StudyInstanceUID, series_uid=a1.SeriesInstanceUID)
    a2.AccessionNumber = "ACC-A"
    b = identified_dicom(seed=3)
    b.AccessionNumber = "ACC-B"
    report = ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [("a1.dcm", dicom_bytes(a1)), ("a2.dcm", dicom_bytes(a2)), ("b.dcm", dicom_bytes(b))],
    )
    out = {
        name: session.get(Case, o.case_id)
        for name, o in zip(("a1", "a2", "b"), report.outcomes, strict=True)
    }
    out["study_a"] = a1.StudyInstanceUID  # type: ignore[assignment]
    out["study_b"] = b.StudyInstanceUID  # type: ignore[assignment]
    return out


def _import(session, imaging, text: str, who=None):
    return import_reports(
        session,
        who or imaging.dataowner,
        imaging.project_id,
        text.encode("utf-8"),
        name="reports.csv",
    )


def test_match_on_original_accession_study_uid_and_case_id(session, imaging, cases):
    a1, a2, b = cases["a1"], cases["a2"], cases["b"]
    text = (
        "accession,report\n"
        'ACC-A,"PA chest. Small left effusion, no pneumothorax."\n'
        "ACC-NOPE,orphan\n"
        f"{b.accession},Pseudonymised accession works too\n"
    )
    result = _import(session, imaging, text)
    assert (result.rows, result.matched_rows, result.reports_added) == (3, 2, 3)
    assert [(u.row, u.key) for u in result.unmatched] == [(3, "ACC-NOPE")]
    # a study-level report reaches every image of the study
    for case in (a1, a2):
        info = report_for_case(session, imaging.annotator, case.id)
        assert info.text == "PA chest. Small left effusion, no pneumothorax."
        assert info.matched_on == "accession"
    assert report_for_case(session, imaging.annotator, b.id).matched_on == "accession (pseudonym)"

    result = _import(
        session,
        imaging,
        f"study_uid,report\n{cases['study_b']},Study B report\n"
        f"{a1.study_uid},By pseudonymised study UID\n",
    )
    assert result.matched_rows == 2 and not result.unmatched
    assert reports_for_case(session, imaging.annotator, b.id)[0].text == "Study B report"
    assert report_for_case(session, imaging.annotator, b.id).matched_on == "study_uid"

    result = _import(session, imaging, f"case_id,report\n{b.id},By case id\n999999,none\n")
    assert result.matched_rows == 1 and [u.key for u in result.unmatched] == ["999999"]
    assert [r.text for r in reports_for_case(session, imaging.annotator, b.id)][0] == "By case id"
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.action == "report.import")).all()
    assert len(entries) == session.exec(select(Report)).all().__len__() == 7
    assert ledger.integrity(session).ok


def test_generic_key_column_and_reimport_is_idempotent(session, imaging, cases):
    text = (
        "Key;Report\n"
        "ACC-B;semicolon separated\n"
        f"{cases['study_a']};by original study UID\n"
        f"{cases['a1'].id};a number is not taken for a case id\n"
    )
    first = _import(session, imaging, text)
    assert first.matched_rows == 2 and first.reports_added == 3
    assert [u.key for u in first.unmatched] == [str(cases["a1"].id)]
    again = _import(session, imaging, text)
    assert again.matched_rows == 2 and again.reports_added == 0 and again.unchanged == 3
    assert len(session.exec(select(Report)).all()) == 3


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty file"),
        ("accession,notes\nA,b\n", "row 1: the header must name one key column"),
        ("case_id,accession,report\n1,A,x\n", "row 1: the header must name one key column"),
        (
            "accession,report\nACC-A,fine\nACC-B,unquoted, comma\n",
            "row 3: 3 fields but the header has 2",
        ),
        ("accession,report\n,no key\n", "row 2: empty accession"),
        ("accession,report\nACC-A,\n", "row 2: empty report text"),
        ('accession,report\nACC-A,"never closed\n', "row 2:"),
    ],
)
def test_malformed_csv_names_file_row_and_problem(session, imaging, cases, text, message):
    with pytest.raises(InputFileError, match=message) as e:
        _import(session, imaging, text)
    assert str(e.value).startswith("reports.csv: ")
    assert session.exec(select(Report)).all() == []  # nothing stored


def test_non_utf8_is_refused(session, imaging, cases):
    with pytest.raises(InputFileError, match="line 2: not UTF-8"):
        import_reports(
            session,
            imaging.dataowner,
            imaging.project_id,
            "accession,report\nACC-A,Pleuraerguss rechts größer\n".encode("latin-1"),
            name="reports.csv",
        )


def test_rights(session, imaging, cases, make_user):
    with pytest.raises(PermissionDenied):
        _import(session, imaging, "accession,report\nACC-A,x\n", who=imaging.annotator)
    _import(session, imaging, "accession,report\nACC-A,x\n")
    stranger = make_user("stranger")
    with pytest.raises(NotFoundError):
        report_for_case(session, stranger, cases["a1"].id)
    with pytest.raises(NotFoundError):
        report_for_case(session, imaging.annotator, 424242)
    assert report_for_case(session, imaging.annotator, cases["a1"].id).text == "x"


def test_known_identifiers_are_removed_from_report_text(session, imaging, cases):
    b = cases["b"]
    text = (
        "accession,report\n"
        'ACC-B,"Patient QUIXOTE, Alonso (MRN-55501234), acc ACC-B: no effusion. '
        'Quixotic sign absent."\n'
    )
    _import(session, imaging, text)
    stored = report_for_case(session, imaging.annotator, b.id).text
    assert "quixote" not in stored.lower().replace("quixotic", "")
    assert "Alonso" not in stored and "MRN-55501234" not in stored and "ACC-B" not in stored
    assert "no effusion" in stored and "Quixotic sign absent" in stored  # whole words only
    assert stored.count("[removed]") == 4
