"""The one small protocol every image source implements, and shared helpers.

Modelled on dicomweb-client's ``DICOMClient``: searches return DICOM JSON
(PS3.18 F.2) dicts, retrievals return ``pydicom.Dataset`` objects, so the
DICOMweb, DIMSE and local-folder sources are interchangeable for the import
code and for the remote-archive search page.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Protocol, runtime_checkable

import pydicom
from pydicom.datadict import dictionary_VR, keyword_dict, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from markit_core.errors import SourceError, ValidationError

__all__ = [
    "ImageSource",
    "StudySummary",
    "check_filters",
    "dataset_bytes",
    "json_value",
    "STUDY_FIELDS",
]

#: Study-level attributes asked for in every study search.
STUDY_FIELDS: tuple[str, ...] = (
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)


@runtime_checkable
class ImageSource(Protocol):
    """A place images can be searched in and retrieved from.

    Searches take DICOM keywords as filters (``PatientID="12*"``,
    ``StudyDate="20240101-20240131"``, ``ModalitiesInStudy="DX"``) and return
    DICOM JSON dicts; every failure is a ``SourceError`` with a clear message.

    Attributes
    ----------
    description : str
        Human-readable origin (``dicomweb https://pacs/dicom-web``), recorded in
        each imported case's origin.
    """

    description: str

    def search_for_studies(
        self, limit: int | None = None, offset: int | None = None, **filters: str
    ) -> list[dict[str, Any]]:
        """Studies matching ``filters`` (DICOM keyword -> value, wildcards allowed)."""
        ...

    def search_for_series(self, study_uid: str) -> list[dict[str, Any]]:
        """Series of one study."""
        ...

    def search_for_instances(
        self, study_uid: str, series_uid: str | None = None
    ) -> list[dict[str, Any]]:
        """Instances of a study, or of one of its series."""
        ...

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
        """One instance, as a dataset with file meta."""
        ...

    def retrieve_study(self, study_uid: str) -> Iterator[Dataset]:
        """Every instance of a study."""
        ...


@dataclass(frozen=True)
class StudySummary:
    """A study search result flattened for a table in the UI.

    Remote search results carry the hospital's identifiers; only users who may
    upload (data owners) get to see them, see ``remote_import.search_studies``.
    """

    study_uid: str
    patient_id: str
    patient_name: str
    study_date: str
    accession: str
    description: str
    modalities: str
    n_series: int | None
    n_instances: int | None

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> StudySummary:
        """Build from one DICOM JSON study result."""

        def num(kw: str) -> int | None:
            v = json_value(item, kw)
            try:
                return int(v) if v not in ("", None) else None
            except (TypeError, ValueError):
                return None

        return cls(
            study_uid=json_value(item, "StudyInstanceUID"),
            patient_id=json_value(item, "PatientID"),
            patient_name=json_value(item, "PatientName"),
            study_date=json_value(item, "StudyDate"),
            accession=json_value(item, "AccessionNumber"),
            description=json_value(item, "StudyDescription"),
            modalities=json_value(item, "ModalitiesInStudy", joined=True),
            n_series=num("NumberOfStudyRelatedSeries"),
            n_instances=num("NumberOfStudyRelatedInstances"),
        )


def json_value(item: Mapping[str, Any], keyword: str, *, joined: bool = False) -> str:
    """The first value (or all, ``\\``-joined) of ``keyword`` in a DICOM JSON dict, as text."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return ""
    elem = item.get(f"{tag:08X}") or {}
    values = elem.get("Value") or []
    texts = []
    for v in values:
        if isinstance(v, dict):  # PN: {"Alphabetic": "..."}
            v = v.get("Alphabetic", "")
        texts.append(str(v))
    if not texts:
        return ""
    return "\\".join(texts) if joined else texts[0]


def check_filters(filters: Mapping[str, Any]) -> dict[str, str]:
    """Validate search filters: DICOM keywords with text values.

    Raises
    ------
    ValidationError
        Unknown keyword (names it), so a typo is not silently ignored by the server.
    """
    clean: dict[str, str] = {}
    for key, value in filters.items():
        if value is None or value == "":
            continue
        if key not in keyword_dict:
            raise ValidationError(
                f"unknown search attribute {key!r}: use a DICOM keyword such "
                "as PatientID, StudyDate, AccessionNumber, ModalitiesInStudy"
            )
        clean[key] = str(value)
    return clean


def dataset_bytes(ds: Dataset) -> bytes:
    """Encode a retrieved dataset as a Part 10 file (file meta filled in if missing)."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or not meta.get("TransferSyntaxUID"):
        new = FileMetaDataset(meta) if meta is not None else FileMetaDataset()
        new.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = new
    meta = ds.file_meta
    if not meta.get("MediaStorageSOPClassUID") and ds.get("SOPClassUID"):
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if not meta.get("MediaStorageSOPInstanceUID") and ds.get("SOPInstanceUID"):
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = BytesIO()
    try:
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    except Exception as e:  # noqa: BLE001 - pydicom raises many types for bad datasets
        raise SourceError(
            f"retrieved instance {ds.get('SOPInstanceUID', '?')} cannot be encoded as DICOM: {e}"
        ) from e
    return buf.getvalue()


def query_dataset(level: str, fields: tuple[str, ...], filters: Mapping[str, str]) -> Dataset:
    """A C-FIND identifier: return keys empty, matching keys set."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for kw in fields:
        tag = tag_for_keyword(kw)
        if tag is None:
            raise ValidationError(f"query field {kw!r} is not a DICOM keyword")
        setattr(ds, kw, "" if dictionary_VR(tag) != "SQ" else [])
    for kw, value in filters.items():
        setattr(ds, kw, value)
    return ds
