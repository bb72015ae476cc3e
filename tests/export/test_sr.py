"""DICOM SR export parsed back with highdicom / pydicom equals the database."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.sr.codedict import codes
from sqlmodel import select

from markit_core.annotation.submit import Answer, RegionInput, submit
from markit_core.annotation.timing import Timing
from markit_core.audit.keys import create_signing_key, public_key_pem
from markit_core.audit.verify import verify_bundle
from markit_core.export.bundle_export import export_bundle
from markit_core.export.sr import AI_PROBABILITY, CONFIDENCE, SCHEME
from markit_core.imaging.ingest import ingest
from markit_core.imaging.store import ImageStore
from markit_core.labels import add_labels, list_labels
from markit_core.models import Case, Roi, Role
from markit_core.projects import grant_role

PASS = "sr owner passphrase"


@pytest.fixture
def dicom_project(session, settings, imaging, make_user, admin):
    """Two DICOM cases (MR, CT) read by two annotators, with a rectangle and a polygon."""
    ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [(n, get_testdata_file(n)) for n in ("MR_small.dcm", "CT_small.dcm")],
    )
    owner = imaging.owner
    add_labels(session, owner, imaging.project_id, [("nodule", "Lung"), ("effusion", "Pleura")])
    add_labels(session, owner, imaging.project_id, [("outline", "ROI")], kind="roi")
    labels = {lb.name: lb.id for lb in list_labels(session, owner, imaging.project_id)}
    second = make_user("reader2")
    grant_role(session, admin, imaging.project_id, "reader2", Role.ANNOTATOR)
    cases = session.exec(
        select(Case).where(Case.project_id == imaging.project_id).order_by(Case.id)
    ).all()
    assert [c.kind for c in cases] == ["dicom", "dicom"]
    mr = cases[0]
    submit(
        session,
        imaging.annotator,
        imaging.project_id,
        mr.id,
        answers={labels["nodule"]: Answer(True, 80), labels["effusion"]: Answer(False, 60)},
        regions=(
            RegionInput(labels["outline"], "rect", [(4.5, 6.0), (30.0, 40.25)]),
            RegionInput(labels["outline"], "polygon", [(10, 10), (50, 12), (30, 60)]),
        ),
        timing=Timing(12.0, 10.0, 2.0, {}),
        token="sr-1",
    )
    submit(
        session,
        second,
        imaging.project_id,
        mr.id,
        answers={labels["nodule"]: Answer(False, 100)},
        timing=Timing(5.0, 5.0, 0.0, {}),
        token="sr-2",
    )
    submit(
        session,
        second,
        imaging.project_id,
        cases[1].id,
        answers={labels["effusion"]: Answer(True, 40)},
        timing=Timing(5.0, 5.0, 0.0, {}),
        token="sr-3",
    )
    create_signing_key(session, owner, imaging.project_id, PASS)
    return imaging, labels, cases


def test_sr_round_trip(session, settings, dicom_project, tmp_path):
    imaging, labels, cases = dicom_project
    result = export_bundle(
        session,
        imaging.owner,
        imaging.project_id,
        tmp_path / "b",
        passphrase=PASS,
        formats=["sr"],
        settings=settings,
    )
    assert verify_bundle(
        result.directory, public_key_pem(session, imaging.owner, imaging.project_id)
    ).ok
    store = ImageStore.from_settings(settings)
    mr = cases[0]
    stored = pydicom.dcmread(store.path_of(mr.stored_path), stop_before_pixels=True)
    original = pydicom.dcmread(get_testdata_file("MR_small.dcm"), stop_before_pixels=True)
    assert stored.SOPInstanceUID != original.SOPInstanceUID  # pseudonymised on ingest

    sr = hd.sr.srread(result.directory / "sr" / f"case_{mr.id}.dcm")
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert sr.StudyInstanceUID == stored.StudyInstanceUID
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    ref = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == stored.SOPInstanceUID
    report = sr.content
    (library,) = [
        i for i in sr.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "111028"
    ]
    entry = library.ContentSequence[0].ContentSequence[0]  # Image Library Group -> image
    assert entry.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == stored.SOPInstanceUID

    groups = report.get_image_measurement_groups()
    found = {}
    for g in groups:
        assert g.tracking_identifier and g.tracking_uid
        (qe,) = g.get_qualitative_evaluations()
        assert qe.name.scheme_designator == SCHEME
        (m,) = g.get_measurements()
        assert m.name == CONFIDENCE and m.unit == codes.UCUM.Percent
        found[(qe.name.value, g.tracking_identifier.split(" / ")[1])] = (qe.value, m.value)
    assert found == {
        (f"L{labels['nodule']}", "annotator"): (codes.SCT.Present, 80.0),
        (f"L{labels['effusion']}", "annotator"): (codes.SCT.Absent, 60.0),
        (f"L{labels['nodule']}", "reader2"): (codes.SCT.Absent, 100.0),
    }
    rois = report.get_planar_roi_measurement_groups()
    assert len(rois) == 2
    shapes = {}
    for g in rois:
        assert g.tracking_identifier.startswith("region ") and g.tracking_uid
        assert g.finding_type.value == f"L{labels['outline']}"
        region = g.roi
        source = region.ContentSequence[0].ReferencedSOPSequence[0]
        assert source.ReferencedSOPInstanceUID == stored.SOPInstanceUID
        data = region.value
        assert region.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        assert np.array_equal(data[0], data[-1])  # closed
        roi = session.get(Roi, int(g.tracking_identifier.split()[1]))
        shapes[roi.shape] = data
    assert np.allclose(
        shapes["rect"], [[4.5, 6.0], [30.0, 6.0], [30.0, 40.25], [4.5, 40.25], [4.5, 6.0]]
    )
    assert np.allclose(shapes["polygon"], [[10, 10], [50, 12], [30, 60], [10, 10]])

    ct = hd.sr.srread(result.directory / "sr" / f"case_{cases[1].id}.dcm")
    (g,) = ct.content.get_image_measurement_groups()
    assert g.get_qualitative_evaluations()[0].value == codes.SCT.Present
    assert AI_PROBABILITY != CONFIDENCE
