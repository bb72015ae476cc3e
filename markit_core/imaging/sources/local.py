"""A folder of DICOM files as an image source (a mounted share, a CD export, a test fixture).

The folder is indexed once, on first use, by reading each file's header only
(no pixel data); searches then filter the index with DICOM matching rules:
``*`` and ``?`` wildcards, case-insensitive person names, and ``A-B`` date ranges.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from markit_core.errors import SourceError
from markit_core.imaging.sources.base import check_filters

__all__ = ["LocalFolderSource"]

_STUDY_KEYS = (
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
)
_SERIES_KEYS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription")
_INSTANCE_KEYS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber")


@dataclass(frozen=True)
class _Indexed:
    path: Path
    header: Dataset  # identifying and hierarchy attributes only


class LocalFolderSource:
    """DICOM files under ``root`` (recursively), searchable like a PACS.

    Parameters
    ----------
    root : str | Path
        The folder. Files that are not DICOM are ignored.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.description = f"folder {self.root}"
        self._index: list[_Indexed] | None = None

    # -- index -------------------------------------------------------------------

    def _entries(self) -> list[_Indexed]:
        if self._index is not None:
            return self._index
        if not self.root.is_dir():
            raise SourceError(f"image folder {self.root} does not exist or is not a folder")
        keys = list(dict.fromkeys(_STUDY_KEYS + _SERIES_KEYS + _INSTANCE_KEYS))
        index: list[_Indexed] = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                try:
                    header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=keys)
                except Exception:  # noqa: BLE001 - not DICOM: not part of this source
                    continue
                if header.get("StudyInstanceUID") and header.get("SOPInstanceUID"):
                    index.append(_Indexed(path, header))
        self._index = index
        return index

    # -- searching ---------------------------------------------------------------

    def search_for_studies(
        self, limit: int | None = None, offset: int | None = None, **filters: str
    ) -> list[dict[str, Any]]:
        """Studies whose attributes match ``filters``."""
        clean = check_filters(filters)
        studies: dict[str, list[_Indexed]] = {}
        for entry in self._entries():
            studies.setdefault(str(entry.header.StudyInstanceUID), []).append(entry)
        results = []
        for _uid, entries in sorted(studies.items()):
            summary = _summary(entries, _STUDY_KEYS)
            summary.ModalitiesInStudy = sorted(
                {str(e.header.get("Modality", "")) for e in entries} - {""}
            )
            summary.NumberOfStudyRelatedSeries = len(
                {str(e.header.get("SeriesInstanceUID")) for e in entries}
            )
            summary.NumberOfStudyRelatedInstances = len(entries)
            if all(_matches(summary, kw, pattern) for kw, pattern in clean.items()):
                results.append(summary.to_json_dict())
        start = offset or 0
        return results[start : start + limit] if limit is not None else results[start:]

    def search_for_series(self, study_uid: str) -> list[dict[str, Any]]:
        """Series of one study."""
        series: dict[str, list[_Indexed]] = {}
        for e in self._study(study_uid):
            series.setdefault(str(e.header.get("SeriesInstanceUID", "")), []).append(e)
        out = []
        for _uid, entries in sorted(series.items()):
            ds = _summary(entries, ("StudyInstanceUID",) + _SERIES_KEYS)
            ds.NumberOfSeriesRelatedInstances = len(entries)
            out.append(ds.to_json_dict())
        return out

    def search_for_instances(
        self, study_uid: str, series_uid: str | None = None
    ) -> list[dict[str, Any]]:
        """Instances of a study or of one series."""
        return [
            _summary([e], ("StudyInstanceUID", "SeriesInstanceUID") + _INSTANCE_KEYS).to_json_dict()
            for e in self._study(study_uid)
            if series_uid is None or str(e.header.get("SeriesInstanceUID")) == series_uid
        ]

    # -- retrieving --------------------------------------------------------------

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
        """Read one instance in full."""
        for e in self._study(study_uid):
            if (
                str(e.header.get("SOPInstanceUID")) == sop_uid
                and str(e.header.get("SeriesInstanceUID")) == series_uid
            ):
                return self._read(e.path)
        raise SourceError(f"instance {sop_uid} not found in {self.description}")

    def retrieve_study(self, study_uid: str) -> Iterator[Dataset]:
        """Read every instance of a study in full."""
        entries = self._study(study_uid)
        if not entries:
            raise SourceError(f"study {study_uid} not found in {self.description}")
        for e in entries:
            yield self._read(e.path)

    def _study(self, study_uid: str) -> list[_Indexed]:
        return [e for e in self._entries() if str(e.header.StudyInstanceUID) == study_uid]

    def _read(self, path: Path) -> Dataset:
        try:
            return pydicom.dcmread(path)
        except Exception as e:  # noqa: BLE001 - the file changed or broke since indexing
            raise SourceError(f"cannot read {path}: {e}") from e


def _summary(entries: list[_Indexed], keys: tuple[str, ...]) -> Dataset:
    ds = Dataset()
    first = entries[0].header
    for kw in keys:
        if kw in first:
            setattr(ds, kw, first.get(kw))
    return ds


def _matches(ds: Dataset, keyword: str, pattern: str) -> bool:
    """DICOM-style matching of one attribute against a filter value."""
    value = ds.get(keyword)
    values = (
        [str(v) for v in value]
        if isinstance(value, (list, tuple, MultiValue))
        else [str(value if value is not None else "")]
    )
    tag = tag_for_keyword(keyword)
    vr = dictionary_VR(tag) if tag is not None else ""
    if vr in ("DA", "DT", "TM") and "-" in pattern:
        lo, hi = pattern.split("-", 1)
        return any((not lo or v >= lo) and (not hi or v[: len(hi)] <= hi) for v in values if v)
    fold = vr == "PN"
    pat = pattern.upper() if fold else pattern
    return any(fnmatch.fnmatchcase(v.upper() if fold else v, pat) for v in values)
