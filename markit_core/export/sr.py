"""DICOM SR measurement reports (TID 1500, highdicom ``Comprehensive3DSR``) per DICOM case.

Each report holds, for every current reading of the case:

* per (label, reader) a TID 1501 group: the qualitative evaluation *present* /
  *absent* (SNOMED CT 52101004 / 272519000) of the label's concept, and the
  reader's confidence in percent (an AI reading's probability is recorded as
  ``AI probability`` instead);
* per region a TID 1410 planar ROI group whose image region is a closed 2D
  SCOORD ``POLYLINE`` (first point repeated last: 2D SCOORD has no ``POLYGON``
  graphic type, a closed polyline is DICOM's polygon): a rectangle's four
  corners, a polygon's vertices, a free-hand outline's points, in image pixel
  (column, row) coordinates of the referenced frame;
* a tracking identifier (UID and text) for every group, and the source image in
  the image library, as OHIF's measurement tracking needs.

Images are referenced by the pseudonymised UIDs of the stored (de-identified)
instance, so the SR joins the de-identified study in an archive. Labels have no
standard code: they are coded in the private scheme ``99MARKIT`` as ``L<label id>``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid
from sqlmodel import Session, col, select

from markit_core.config import Settings
from markit_core.export.coco import polygon_of
from markit_core.export.rows import ReadingRow, RegionRow, iter_readings, iter_regions
from markit_core.export.tables import Progress, Written, _noop
from markit_core.imaging.archive_images import case_image_bytes
from markit_core.models import Case

__all__ = [
    "AI_PROBABILITY",
    "CONFIDENCE",
    "SCHEME",
    "build_sr",
    "label_code",
    "region_scoord",
    "write_srs",
]

SCHEME = "99MARKIT"
CONFIDENCE = hd.sr.CodedConcept("CONFIDENCE", SCHEME, "Reader confidence")
AI_PROBABILITY = hd.sr.CodedConcept("AIPROBABILITY", SCHEME, "AI probability")
PROCEDURE = hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure")


def label_code(label_id: int, name: str) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(f"L{label_id}", SCHEME, name[:64] or f"label {label_id}")


def region_scoord(shape: str, points: list) -> tuple[hd.sr.GraphicTypeValues, np.ndarray]:
    """Graphic type and closed (column, row) data of a stored region."""
    outline = polygon_of(shape, points)
    return hd.sr.GraphicTypeValues.POLYLINE, np.array([*outline, outline[0]], dtype=float)


def _tracking(text: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=text[:64])


def _reading_group(r: ReadingRow, image: Dataset) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    concept = label_code(r.label_id, r.label)
    value = codes.SCT.Present if r.value else codes.SCT.Absent
    measurements = []
    if r.confidence is not None:
        name = AI_PROBABILITY if r.source == "ai" else CONFIDENCE
        measurements.append(
            hd.sr.Measurement(name=name, value=float(r.confidence), unit=codes.UCUM.Percent)
        )
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(f"{r.label} / {r.reader}"),
        finding_type=concept,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=concept, value=value)],
        measurements=measurements or None,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(image)],
    )


def _region_group(
    r: RegionRow, image: Dataset
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    kind, data = region_scoord(r.shape, r.points)
    frames = [r.frame + 1] if int(getattr(image, "NumberOfFrames", 1) or 1) > 1 else None
    source = hd.sr.SourceImageForRegion.from_source_image(image, referenced_frame_numbers=frames)
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(f"region {r.region_id} {r.label} / {r.reader}"),
        referenced_region=hd.sr.ImageRegion(
            graphic_type=kind, graphic_data=data, source_image=source
        ),
        finding_type=label_code(r.label_id, r.label),
    )


def build_sr(
    image: Dataset, readings: list[ReadingRow], regions: list[RegionRow], instance_number: int = 1
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of one case's readings and regions, in the image's study."""
    groups: list = [_reading_group(r, image) for r in readings]
    groups += [_region_group(r, image) for r in regions]
    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="MarkIt"
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=PROCEDURE,
        imaging_measurements=groups,
        title=codes.cid7021.ImagingMeasurementReport,
        referenced_images=[image],
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[image],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=9901,
        sop_instance_uid=generate_uid(),
        instance_number=instance_number,
        manufacturer="MarkIt",
        series_description="MarkIt annotations",
        is_complete=True,
    )


def _by_case(rows: Iterator, dicom: set[int]) -> Iterator[tuple[int, list]]:
    for case_id, items in groupby(rows, key=lambda r: r.case_id):
        if case_id in dicom:
            yield case_id, list(items)


def _merged(a: Iterator[tuple[int, list]], b: Iterator[tuple[int, list]]) -> Iterator[tuple]:
    """(case id, readings, regions) from two streams ordered by case id, one case at a time."""
    ia, ib = next(a, None), next(b, None)
    while ia is not None or ib is not None:
        if ib is None or (ia is not None and ia[0] < ib[0]):
            yield ia[0], ia[1], []  # type: ignore[index]
            ia = next(a, None)
        elif ia is None or ib[0] < ia[0]:
            yield ib[0], [], ib[1]
            ib = next(b, None)
        else:
            yield ia[0], ia[1], ib[1]
            ia, ib = next(a, None), next(b, None)


def write_srs(
    session: Session, settings: Settings, project_id: int, folder: Path, progress: Progress = _noop
) -> list[Written]:
    """One SR file ``case_<id>.dcm`` per DICOM case with a current reading or region.

    Readings and regions stream case by case; one case's SR is in memory at a time.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[int, str] = {
        int(cid or 0): path
        for cid, path in session.exec(
            select(Case.id, Case.stored_path).where(
                col(Case.project_id) == project_id, col(Case.kind) == "dicom"
            )
        )
    }
    dicom = set(paths)
    merged = _merged(
        _by_case(iter_readings(session, project_id, include_ai=False), dicom),
        _by_case(iter_regions(session, project_id), dicom),
    )
    written = []
    for n, (case_id, reads, regs) in enumerate(merged, start=1):
        # a case left in an archive is read through its cache (fetched on a miss)
        data = case_image_bytes(settings, paths[case_id])
        image = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        sr = build_sr(image, reads, regs, instance_number=n)
        out = Written(folder / f"case_{case_id}.dcm", rows=len(reads) + len(regs))
        out.annotation_ids = {r.annotation_id for r in (*reads, *regs)}
        sr.save_as(out.path, enforce_file_format=True)
        written.append(out)
        progress(n, len(dicom), "DICOM SR")
    return written
