"""De-identification on ingest: nothing identifying is stored; pseudonyms are stable; trace-back."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.datadict import keyword_dict
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID, UID_dictionary

from markit_core.errors import PermissionDenied
from markit_core.imaging.deid import PROFILE_REMOVED, ProjectDeidentifier, uid_pseudonym
from markit_core.imaging.ingest import ingest
from markit_core.imaging.store import ImageStore
from markit_core.imaging.trace import find_by_original, mapping_table, project_salt, trace_case
from markit_core.models import Case, UidMap
from tests.imaging_fixtures import (
    IDENTITY,
    ImagingProject,
    dicom_bytes,
    identified_dicom,
    pydicom_files,
)


def _original_uids(ds: Dataset) -> set[str]:
    """Every instance UID in a dataset and its file meta (well-known UIDs excluded)."""
    found: set[str] = set()

    def collect(_ds: Dataset, elem) -> None:
        if elem.VR == "UI" and elem.value:
            values = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
            found.update(str(v).strip("\0 ") for v in values)

    ds.walk(collect)
    if hasattr(ds, "file_meta"):
        ds.file_meta.walk(collect)
        found.discard(str(ds.file_meta.get("ImplementationClassUID", "")))
    return {u for u in found if u and u not in UID_dictionary and len(u) >= 8}


def _identifying_values(ds: Dataset) -> dict[str, str]:
    """Patient name, ID, birth date, accession and institution of a dataset (if present)."""
    values = {}
    # not identifying, and kept: an institution named like the manufacturer is not a leak
    kept = {str(ds.get(k, "")) for k in ("Manufacturer", "ManufacturerModelName")}
    for kw in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "AccessionNumber",
        "InstitutionName",
        "InstitutionAddress",
        "ReferringPhysicianName",
        "OperatorsName",
    ):
        value = str(ds.get(kw, "") or "").strip()
        if len(value) >= 4 and not any(value in k for k in kept):  # short: chance in pixels
            values[kw] = value
    return values


def _stored(settings, session, case_id: int) -> bytes:
    case = session.get(Case, case_id)
    return ImageStore.from_settings(settings).read(case.stored_path)


def test_stored_files_hold_no_original_identity(session, settings, imaging: ImagingProject):
    crafted = identified_dicom(seed=1)
    burned = identified_dicom(seed=2, burned_in=True)
    items = [("crafted.dcm", dicom_bytes(crafted)), ("burned.dcm", dicom_bytes(burned))]
    items += [(p.name, p) for p in pydicom_files()]
    report = ingest(session, settings, imaging.dataowner, imaging.project_id, items)

    checked = 0
    originals = {"crafted.dcm": crafted, "burned.dcm": burned}
    for outcome in report.ingested:
        if outcome.name in originals:
            original = originals[outcome.name]
        else:
            path = next(p for p in pydicom_files() if p.name == outcome.name)
            original = pydicom.dcmread(path, force=True)
        if "PixelData" not in original:
            continue
        stored = _stored(settings, session, outcome.case_id)
        for kw, value in _identifying_values(original).items():
            assert value.encode() not in stored, f"{outcome.name}: original {kw} {value!r} stored"
        for uid in _original_uids(original):
            assert uid.encode() not in stored, f"{outcome.name}: original UID {uid} stored"
        ds = pydicom.dcmread(io.BytesIO(stored))
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        assert not any(elem.tag.is_private for elem in ds.iterall())
        checked += 1
    assert checked >= 40

    stored = _stored(settings, session, report.outcomes[0].case_id)
    for part in ("Quixote", "Alonso", "Panza", "Dulcinea", "ACME HOSPITAL", "19470312"):
        assert part.encode() not in stored
    ds = pydicom.dcmread(io.BytesIO(stored))
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.PatientSex == crafted.PatientSex  # Retain Patient Characteristics Option
    assert "StudyDescription" not in ds and "OperatorsName" not in ds
    assert ds.PatientBirthDate == ""
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPInstanceUID.startswith("2.25.") and UID(ds.SOPInstanceUID).is_valid


def test_burned_in_annotation_is_kept_and_flagged(session, settings, imaging: ImagingProject):
    report = ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [("burned.dcm", dicom_bytes(identified_dicom(seed=3, burned_in=True)))],
    )
    outcome = report.outcomes[0]
    assert outcome.status == "ingested" and "Burned In Annotation" in outcome.warning
    assert report.warnings == [outcome]
    case = session.get(Case, outcome.case_id)
    assert case.burned_in_warning
    ds = pydicom.dcmread(io.BytesIO(_stored(settings, session, case.id)))
    assert ds.BurnedInAnnotation == "YES" and ds.PatientIdentityRemoved == "NO"


def test_same_uids_get_the_same_pseudonyms_across_ingests(
    session, settings, imaging: ImagingProject
):
    first = identified_dicom(seed=4)
    second = identified_dicom(
        seed=5, study_uid=first.StudyInstanceUID, series_uid=first.SeriesInstanceUID
    )
    r1 = ingest(
        session, settings, imaging.dataowner, imaging.project_id, [("1.dcm", dicom_bytes(first))]
    )
    r2 = ingest(
        session, settings, imaging.dataowner, imaging.project_id, [("2.dcm", dicom_bytes(second))]
    )
    c1, c2 = session.get(Case, r1.outcomes[0].case_id), session.get(Case, r2.outcomes[0].case_id)
    assert c1.study_uid == c2.study_uid != first.StudyInstanceUID
    assert c1.series_uid == c2.series_uid and c1.sop_uid != c2.sop_uid
    assert c1.accession == c2.accession != first.AccessionNumber

    pairs = {
        (m.kind, m.original): m.pseudonym
        for m in mapping_table(session, imaging.dataowner, imaging.project_id)
    }
    assert pairs[("uid", str(first.StudyInstanceUID))] == c1.study_uid
    assert pairs[("uid", str(second.SOPInstanceUID))] == c2.sop_uid
    assert pairs[("accession", first.AccessionNumber)] == c1.accession
    assert pairs[("patient_id", first.PatientID)] not in ("", first.PatientID)

    # re-ingesting the same original: detected, nothing new
    again = ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [("1-again.dcm", dicom_bytes(first))],
    )
    assert again.outcomes[0].status == "duplicate" and again.outcomes[0].case_id == c1.id

    # de-identifying the same original again gives byte-identical output
    salt = project_salt(session, imaging.dataowner, imaging.project_id)
    a = ProjectDeidentifier(salt).deidentify(first).data
    b = ProjectDeidentifier(salt).deidentify(first).data
    assert a == b == _stored(settings, session, c1.id)

    # another project: other pseudonyms for the same original
    r3 = ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.other_project_id,
        [("1.dcm", dicom_bytes(first))],
    )
    c3 = session.get(Case, r3.outcomes[0].case_id)
    assert c3.study_uid != c1.study_uid and c3.accession != c1.accession


def test_recorded_pairs_win_over_the_salt(session, settings, imaging: ImagingProject):
    ds = identified_dicom(seed=6)
    session.add(
        UidMap(
            project_id=imaging.project_id,
            kind="uid",
            original=str(ds.StudyInstanceUID),
            pseudonym="2.25.12345",
        )
    )
    session.commit()
    report = ingest(
        session, settings, imaging.dataowner, imaging.project_id, [("x.dcm", dicom_bytes(ds))]
    )
    assert session.get(Case, report.outcomes[0].case_id).study_uid == "2.25.12345"


def test_trace_back_for_data_owners_only(session, settings, imaging: ImagingProject):
    ds = identified_dicom(seed=7)
    report = ingest(
        session, settings, imaging.dataowner, imaging.project_id, [("x.dcm", dicom_bytes(ds))]
    )
    case_id = report.outcomes[0].case_id
    trace = trace_case(session, imaging.dataowner, case_id)
    assert trace.patient_name == IDENTITY["PatientName"]
    assert trace.patient_id == IDENTITY["PatientID"]
    assert trace.accession == IDENTITY["AccessionNumber"]
    assert trace.study_uid == str(ds.StudyInstanceUID) and trace.sop_uid == str(ds.SOPInstanceUID)
    assert trace.pseudonym_study_uid == session.get(Case, case_id).study_uid
    assert trace_case(session, imaging.owner, case_id).patient_id == IDENTITY["PatientID"]
    assert find_by_original(
        session, imaging.dataowner, imaging.project_id, IDENTITY["AccessionNumber"]
    ) == [case_id]
    for call in (
        lambda: trace_case(session, imaging.annotator, case_id),
        lambda: mapping_table(session, imaging.annotator, imaging.project_id),
        lambda: find_by_original(session, imaging.annotator, imaging.project_id, "x"),
    ):
        with pytest.raises(PermissionDenied, match="trace identity"):
            call()
    # the salt is never part of the mapping a data owner sees
    kinds = {m.kind for m in mapping_table(session, imaging.dataowner, imaging.project_id)}
    assert kinds == {"uid", "patient_id", "patient_name", "accession"}


def test_pseudonyms_and_profile_table():
    uid = uid_pseudonym("salt", "1.2.840.113619.2.55.3.1234")
    assert uid == uid_pseudonym("salt", "1.2.840.113619.2.55.3.1234")
    assert uid != uid_pseudonym("other salt", "1.2.840.113619.2.55.3.1234")
    assert uid.startswith("2.25.") and len(uid) <= 64 and UID(uid).is_valid
    assert set(keyword_dict) >= PROFILE_REMOVED
    assert {"PatientSex", "PatientAge", "Modality", "ViewPosition"}.isdisjoint(PROFILE_REMOVED)


def test_unparseable_dates_are_emptied_not_fatal():
    ds = identified_dicom(seed=8)
    ds.StudyDate, ds.StudyTime = "2001.13.45", "1"
    ds.SeriesDate = "garbage"
    result = ProjectDeidentifier("salt").deidentify(ds, "odd.dcm")
    assert result.dataset.StudyDate == "" and result.dataset.SeriesDate == ""
    assert any("unreadable dates" in w for w in result.warnings)
