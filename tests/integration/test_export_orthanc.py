"""STOW-RS of an exported DICOM SR to a real Orthanc; QIDO-RS finds it; WADO-RS returns it."""

from __future__ import annotations

import highdicom as hd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from sqlmodel import select

from markit_core.annotation.submit import Answer, RegionInput, submit
from markit_core.annotation.timing import Timing
from markit_core.audit.keys import create_signing_key
from markit_core.export.bundle_export import export_bundle
from markit_core.export.stow import stow_srs
from markit_core.imaging.ingest import ingest
from markit_core.imaging.sources.dicomweb import DicomWebSource
from markit_core.labels import add_labels, list_labels
from markit_core.models import Case, ExportRecord, LedgerEntry
from tests.integration.test_orthanc import PASSWORD, USER, orthanc  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def test_stow_sr_then_qido_and_wado(session, settings, imaging, orthanc, tmp_path):  # noqa: F811
    ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [("mr", get_testdata_file("MR_small.dcm"))],
    )
    add_labels(session, imaging.owner, imaging.project_id, [("nodule", "Lung")])
    add_labels(session, imaging.owner, imaging.project_id, [("outline", "ROI")], kind="roi")
    labels = {lb.name: lb.id for lb in list_labels(session, imaging.owner, imaging.project_id)}
    case = session.exec(select(Case).where(Case.project_id == imaging.project_id)).one()
    submit(
        session,
        imaging.annotator,
        imaging.project_id,
        case.id,
        answers={labels["nodule"]: Answer(True, 80)},
        regions=(RegionInput(labels["outline"], "rect", [(2, 3), (20, 30)]),),
        timing=Timing(3.0, 3.0, 0.0, {}),
        token="stow-1",
    )
    create_signing_key(session, imaging.owner, imaging.project_id, "stow passphrase")
    result = export_bundle(
        session,
        imaging.owner,
        imaging.project_id,
        tmp_path / "b",
        passphrase="stow passphrase",
        formats=["sr"],
        settings=settings,
    )
    sr_path = result.directory / "sr" / f"case_{case.id}.dcm"
    exported = pydicom.dcmread(sr_path)

    source = DicomWebSource(orthanc.url, username=USER, password=PASSWORD, timeout=(5, 30))
    stowed = stow_srs(session, imaging.owner, imaging.project_id, result.directory, source)
    assert stowed.sop_uids == [exported.SOPInstanceUID]
    assert stowed.study_uids == [case.study_uid]
    entry = session.exec(select(LedgerEntry).order_by(LedgerEntry.seq.desc())).first()
    assert entry.action == "export.stow"
    assert session.get(ExportRecord, int(entry.record_id)).rows == 1

    found = source.search_for_instances(case.study_uid)
    uids = {i["00080018"]["Value"][0] for i in found}
    assert exported.SOPInstanceUID in uids  # the SR is in the (pseudonymised) study
    retrieved = source.retrieve_instance(
        case.study_uid, exported.SeriesInstanceUID, exported.SOPInstanceUID
    )
    assert retrieved == exported  # every data element intact
    report = hd.sr.Comprehensive3DSR.from_dataset(retrieved)
    (group,) = report.content.get_planar_roi_measurement_groups()
    assert group.roi.value.tolist() == [[2, 3], [20, 3], [20, 30], [2, 30], [2, 3]]
