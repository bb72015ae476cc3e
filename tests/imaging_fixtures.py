"""Fixtures and DICOM builders for the ingest, de-identification, archive and report tests.

The ``imaging`` fixture is registered for every test through ``pytest_plugins`` in conftest.py;
import the helpers (``dicom_bytes``, ``png_bytes``, ...) where they are used.
(``tests/conftest.py`` provides ``session``, ``settings``, ``make_user``, ...).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlmodel import Session

from markit_core.models import Role, User

__all__ = [
    "ImagingProject",
    "identified_dicom",
    "imaging",
    "dicom_bytes",
    "png_bytes",
    "pydicom_files",
    "IDENTITY",
]

#: A fake identity written into test DICOMs; none of it may survive ingest.
IDENTITY = {
    "PatientName": "Quixote^Alonso^Ximenez",
    "PatientID": "MRN-55501234",
    "PatientBirthDate": "19470312",
    "AccessionNumber": "ACC-9988776",
    "InstitutionName": "Hospital Santa Quiteria de Albacete",
    "ReferringPhysicianName": "Sancho^Panza",
    "StudyDescription": "CHEST PA quixote",
    "OperatorsName": "Dulcinea^Toboso",
}


@dataclass
class ImagingProject:
    """A project with an owner, a data owner and an annotator."""

    project_id: int
    owner: User
    dataowner: User
    annotator: User
    other_project_id: int


@pytest.fixture
def imaging(session: Session, make_user, make_project) -> ImagingProject:
    owner = make_user("owner")
    dataowner = make_user("dataowner")
    annotator = make_user("annotator")
    info = make_project(
        "Chest", owner, {"dataowner": [Role.DATA_OWNER], "annotator": [Role.ANNOTATOR]}
    )
    other = make_project("Other", owner, {"dataowner": [Role.DATA_OWNER]})
    return ImagingProject(info.id, owner, dataowner, annotator, other.id)


def identified_dicom(
    *,
    seed: int = 0,
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    burned_in: bool = False,
    base: str = "MR_small.dcm",
) -> Dataset:
    """A real pydicom test image carrying :data:`IDENTITY`, private tags and nested UIDs.

    ``seed`` changes the pixels (so two images are not duplicates of each other).
    """
    ds = pydicom.dcmread(get_testdata_file(base))
    for kw, value in IDENTITY.items():
        setattr(ds, kw, value)
    ds.StudyInstanceUID = study_uid or generate_uid(entropy_srcs=[f"study{seed}"])
    ds.SeriesInstanceUID = series_uid or generate_uid(entropy_srcs=[f"series{seed}"])
    ds.SOPInstanceUID = sop_uid or generate_uid(entropy_srcs=[f"sop{seed}"])
    ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[f"for{seed}"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = generate_uid(entropy_srcs=[f"ref{seed}"])
    ds.ReferencedImageSequence = [ref]
    block = ds.private_block(0x0019, "ACME HOSPITAL 1.0", create=True)
    block.add_new(0x01, "LO", f"private note about {IDENTITY['PatientName']}")
    if burned_in:
        ds.BurnedInAnnotation = "YES"
    if seed:
        arr = ds.pixel_array.copy()
        arr.flat[seed % arr.size] = (int(arr.flat[seed % arr.size]) + 7) % 1000
        ds.PixelData = arr.astype(ds.pixel_array.dtype).tobytes()
    return ds


def dicom_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, copy.deepcopy(ds), enforce_file_format=True)
    return buf.getvalue()


def png_bytes(seed: int = 0, size: tuple[int, int] = (40, 50), fmt: str = "PNG") -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, size=size, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def pydicom_files() -> list[Path]:
    """Every regular file among pydicom's test files (images, non-images and broken ones)."""
    return sorted(Path(p) for p in get_testdata_files() if Path(p).is_file())
