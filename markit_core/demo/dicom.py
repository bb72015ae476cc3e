"""DICOM writing and fake identities for the demo generator.

The identities are invented but look real (names, IDs, dates, accession numbers,
institution, referring physician), so de-identification on ingest has something
to remove; UIDs come from :func:`pydicom.uid.generate_uid` with seeded entropy,
so they are real-looking and reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

# Digital X-Ray Image Storage - For Presentation
DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
BITS_STORED = 12

_GIVEN = (
    "Anna",
    "Bruno",
    "Chiara",
    "Dmitri",
    "Elif",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kavya",
    "Lars",
    "Maya",
    "Nikolai",
    "Olga",
    "Pedro",
)
_FAMILY = (
    "Albers",
    "Baptiste",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Gallo",
    "Haddad",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
)
_INSTITUTIONS = (
    "Springfield General Hospital",
    "St. Brigid Medical Centre",
    "Lakeside University Clinic",
    "Northgate Community Hospital",
)


@dataclass(frozen=True)
class PatientIdentity:
    """A fake patient and study identity written into the demo DICOM tags."""

    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    accession_number: str
    institution: str
    referring_physician: str
    study_date: str


def fake_identity(rng: np.random.Generator, seed: int, index: int) -> PatientIdentity:
    """Draw a reproducible fake identity for image ``index`` of a demo set."""
    family, given = _FAMILY[rng.integers(len(_FAMILY))], _GIVEN[rng.integers(len(_GIVEN))]
    doctor = f"{_FAMILY[rng.integers(len(_FAMILY))]}^{_GIVEN[rng.integers(len(_GIVEN))]}^^Dr"
    year = int(rng.integers(1940, 2005))
    return PatientIdentity(
        patient_name=f"{family}^{given}",
        patient_id=f"MRN{seed:02d}{index:03d}{int(rng.integers(10_000, 99_999))}",
        birth_date=f"{year}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
        sex="F" if rng.random() < 0.5 else "M",
        accession_number=f"ACC{int(rng.integers(10**7, 10**8))}",
        institution=_INSTITUTIONS[rng.integers(len(_INSTITUTIONS))],
        referring_physician=doctor,
        study_date=f"2024{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
    )


def _set_identity(ds: Dataset, patient: PatientIdentity) -> None:
    """The patient, study and institution tags: what de-identification must remove or shift."""
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = patient.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
    ds.AccessionNumber = patient.accession_number
    ds.InstitutionName = patient.institution
    ds.ReferringPhysicianName = patient.referring_physician
    ds.StudyDescription = "CHEST 1 VIEW"
    ds.PatientName = patient.patient_name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex


def build_dicom(
    brightness: np.ndarray,
    *,
    patient: PatientIdentity,
    photometric: str = "MONOCHROME2",
    view_position: str = "PA",
    uid_seed: str = "markit-demo",
) -> Dataset:
    """Make a DX For Presentation dataset from a [0, 1] brightness image.

    Parameters
    ----------
    brightness : numpy.ndarray
        float (rows, cols), 1 = white on a standard (MONOCHROME2) display.
    patient : PatientIdentity
        Identity written into the patient/study tags.
    photometric : str
        ``MONOCHROME2`` or ``MONOCHROME1`` (stored values inverted, so both
        display the same; Presentation LUT Shape set to match as DX requires).
    view_position : str
        ``PA`` or ``AP``.
    uid_seed : str
        Entropy for the study/series/instance UIDs (same seed -> same UIDs).

    Returns
    -------
    pydicom.Dataset
        With file meta (Explicit VR Little Endian), ready for ``save_as``.
    """
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2, not {photometric}")
    top = 2**BITS_STORED - 1
    level = np.clip(brightness, 0.0, 1.0)
    if photometric == "MONOCHROME1":
        level = 1.0 - level
    stored = (level * top + 0.5).astype(np.uint16)
    rows, cols = stored.shape
    study_uid = generate_uid(entropy_srcs=[uid_seed, "study"])
    series_uid = generate_uid(entropy_srcs=[uid_seed, "series"])
    sop_uid = generate_uid(entropy_srcs=[uid_seed, "instance"])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_FOR_PRESENTATION
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = DX_FOR_PRESENTATION
    ds.SOPInstanceUID = sop_uid
    _set_identity(ds, patient)
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = "MarkIt demo generator"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view_position
    ds.PatientOrientation = ["L", "F"] if view_position == "PA" else ["R", "F"]
    ds.ImagerPixelSpacing = [f"{430.0 / cols:.4f}", f"{430.0 / cols:.4f}"]
    ds.BurnedInAnnotation = "NO"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.PresentationLUTShape = "INVERSE" if photometric == "MONOCHROME1" else "IDENTITY"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, BITS_STORED, BITS_STORED - 1
    ds.PixelRepresentation = 0
    # DX requires slope 1 / intercept 0 with Rescale Type US (PS3.3 C.8.11.3).
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "US"
    lo, hi = np.percentile(stored[:: max(1, rows // 128), :: max(1, cols // 128)], [1, 99])
    ds.WindowCenter = f"{(lo + hi) / 2:.1f}"
    ds.WindowWidth = f"{max(hi - lo, 1.0):.1f}"
    ds.VOILUTFunction = "LINEAR"
    ds.PixelData = stored.tobytes()
    return ds
