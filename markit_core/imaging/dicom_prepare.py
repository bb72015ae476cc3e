"""One DICOM file -> checked, de-identified and decoded: the steps an upload, an
import and an image fetched from an archive for a referenced case all take.

Sharing this is what makes a referenced case show exactly what an import of the
same instance would have stored: the same hostile-input limits before any
parse, the same project salt and recorded pseudonym pairs for the UIDs, and the
same decoder on the de-identified bytes.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from sqlmodel import Session

from markit_core.errors import ImageError
from markit_core.imaging.decode import PIXEL_KEYWORDS, decode_any, is_dicom
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.deid import DeidResult, ProjectDeidentifier
from markit_core.imaging.dicom_walk import check_structure
from markit_core.imaging.limits import check_dicom_size, file_limit, looks_like_dataset
from markit_core.imaging.trace import known_pairs

__all__ = ["dataset_uids", "prepare_dicom"]


def prepare_dicom(
    session: Session, project_id: int, salt: str, budget: int, name: str, data: bytes
) -> tuple[DeidResult, DecodedImage]:
    """Check, de-identify and decode one DICOM file for a project.

    Parameters
    ----------
    session : Session
        Reads the project's recorded pseudonym pairs (nothing is written).
    project_id : int
        The project whose pseudonyms apply.
    salt : str
        The project's salt (``markit_core.imaging.trace.project_salt``).
    budget : int
        Decoded-size budget in bytes (``limits.decoded_budget``).
    name : str
        Names the file in every error (never a patient identifier).
    data : bytes
        The file as received.

    Returns
    -------
    tuple[DeidResult, DecodedImage]
        The de-identified instance and its decoded pixels.

    Raises
    ------
    ImageError
        The file is empty, too large, not DICOM, malformed, has no pixels, or
        cannot be de-identified or decoded (the message names ``name``).
    """
    if not data:
        raise ImageError(f"{name}: empty file")
    limit = file_limit(budget)
    if len(data) > limit:
        raise ImageError(
            f"{name}: file is {len(data) >> 20} MB, over the {limit >> 20} MB a file may "
            "have under MARKIT_MAX_DECODED_MB"
        )
    if not is_dicom(data[:132]) and not looks_like_dataset(data[:256], len(data)):
        raise ImageError(f"{name}: not an image: not a DICOM or PNG/JPEG/TIFF file")
    check_structure(data, name)  # before any pydicom parse (zeros parse very slowly)
    deid = _deidentify(session, project_id, salt, budget, name, data)
    image = decode_any(deid.data, name, max_decoded_bytes=budget)  # what is shown
    return deid, image


def _deidentify(
    session: Session, project_id: int, salt: str, budget: int, name: str, data: bytes
) -> DeidResult:
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True)
        has_pixels = any(kw in ds for kw in PIXEL_KEYWORDS)
    except Exception as e:  # noqa: BLE001 - let the decoder name the problem
        decode_any(data, name, max_decoded_bytes=budget)  # the decoder's reason
        raise ImageError(f"{name}: not a readable DICOM file ({e})") from e
    if not has_pixels:
        decode_any(data, name, max_decoded_bytes=budget)  # "not an image (SOP ...)"
        raise ImageError(f"{name}: not an image: no pixel data")
    check_dicom_size(ds, name, budget)  # before de-identifying or decoding
    try:
        uids = dataset_uids(ds)
    except Exception as e:  # noqa: BLE001 - malformed values surface lazily in pydicom
        raise ImageError(f"{name}: cannot de-identify: {e}") from e
    known = known_pairs(session, project_id, "uid", uids)
    return ProjectDeidentifier(salt, known).deidentify(ds, name, in_place=True)


def dataset_uids(ds: Dataset) -> list[str]:
    """Every UID value in ``ds``, nested sequences included (to look up recorded pairs)."""
    found: list[str] = []

    def callback(_ds: Dataset, elem: Any) -> None:
        if elem.VR == "UI" and elem.value:
            values = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
            found.extend(str(v).strip().rstrip("\0") for v in values)

    ds.walk(callback)
    return found
