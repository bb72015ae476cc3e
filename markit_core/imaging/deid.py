"""DICOM de-identification: PS3.15 Basic Application Level Confidentiality Profile.

The heavy lifting is done by dicognito, a maintained implementation that
replaces names, IDs, addresses and institution with realistic dummies and shifts
every date by one offset so intervals between studies survive. dicognito's
pseudonyms are a function of a seed and the original value; MarkIt seeds it
with a secret per-project salt, so the same original always gets the same
pseudonym inside a project (across re-ingests and remote imports) and
different pseudonyms in different projects.

On top of dicognito this module

* replaces UIDs itself (through dicognito's handler hook) with standard
  ``2.25.<UUID>`` UIDs derived by HMAC-SHA256 from the salt, keeps well-known
  UIDs (SOP classes, transfer syntaxes, coding schemes) and reports every
  original -> pseudonym pair, so the project's ``UidMap`` can record them for
  trace-back;
* removes private tags, overlays, curves and the free-text / identifying
  attributes of the profile's action table that dicognito keeps (descriptions,
  comments, operators, device serial numbers, ...);
* empties the birth date, declares what was done (Patient Identity Removed,
  De-identification Method and its code sequence, Longitudinal Temporal
  Information Modified), and writes fresh file meta so no original UID or AE
  title survives there either;
* respects Burned In Annotation: the image is kept (pixel cleaning is out of
  scope) but flagged, and Patient Identity Removed is then ``NO``.

Retained on purpose (Retain Patient Characteristics Option, 113108): patient
sex, age, size and weight, which the annotation and AI work needs.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

import pydicom
from dicognito import __version__ as _DICOGNITO_VERSION
from dicognito.anonymizer import Anonymizer
from dicognito.datetimeanonymizer import DateTimeAnonymizer
from dicognito.element_anonymizer import ElementAnonymizer
from pydicom.datadict import keyword_dict, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    UID_dictionary,
)

from markit_core.errors import ImageError
from markit_core.imaging.deid_profile import EMPTIED, METHOD, METHOD_CODES, PROFILE_REMOVED

__all__ = ["DeidResult", "Identity", "ProjectDeidentifier", "PROFILE_REMOVED", "uid_pseudonym"]

_REMOVED_TAGS = frozenset(keyword_dict[k] for k in PROFILE_REMOVED)


def uid_pseudonym(salt: str, original: str) -> str:
    """The project pseudonym of a UID: ``2.25.<UUIDv8 from HMAC-SHA256(salt, uid)>``.

    Deterministic, so the same original UID maps to the same replacement in a
    project forever, and one-way, so the pseudonym reveals nothing without the
    project's secret salt. The 128-bit value is marked as an RFC 9562 version 8
    (custom) UUID so the result is a conformant UUID-derived UID (PS3.5 B.2).
    """
    digest = bytearray(
        hmac.new(salt.encode(), b"uid\0" + original.encode(), hashlib.sha256).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    return "2.25." + str(int.from_bytes(bytes(digest), "big"))


def _is_well_known(uid: str) -> bool:
    return str(uid).strip() in UID_dictionary


@dataclass(frozen=True)
class Identity:
    """Identity of an instance before de-identification (for ``CaseOrigin``)."""

    patient_id: str = ""
    patient_name: str = ""
    accession: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_uid: str = ""

    @classmethod
    def of(cls, ds: Dataset) -> Identity:
        """Read the identifying top-level values of ``ds`` (empty when absent)."""

        def text(kw: str) -> str:
            try:
                value = ds.get(kw)
            except Exception:  # a malformed value must not stop the read
                return ""
            return "" if value is None else str(value).strip()

        return cls(
            text("PatientID"),
            text("PatientName"),
            text("AccessionNumber"),
            text("StudyInstanceUID"),
            text("SeriesInstanceUID"),
            text("SOPInstanceUID"),
        )


@dataclass
class DeidResult:
    """A de-identified instance and what was replaced.

    Attributes
    ----------
    data : bytes
        The de-identified DICOM Part 10 file.
    dataset : Dataset
        The de-identified dataset (what ``data`` holds).
    original : Identity
        Identity before de-identification.
    pseudonym : Identity
        The same attributes after de-identification.
    pairs : list[tuple[str, str, str]]
        ``(kind, original, pseudonym)`` for every UID replaced (kind ``uid``)
        and for the patient ID, name and accession number.
    burned_in : bool
        Burned In Annotation was ``YES``: identity may remain in the pixels.
    warnings : list[str]
        Human-readable notes (burned-in text, dropped invalid dates).
    """

    data: bytes
    dataset: Dataset
    original: Identity
    pseudonym: Identity
    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    burned_in: bool = False
    warnings: list[str] = field(default_factory=list)


class _UidHandler(ElementAnonymizer):
    """Replaces instance UIDs with project pseudonyms and records the pairs."""

    def __init__(self, salt: str, known: Mapping[str, str]) -> None:
        self._salt = salt
        self._known = known
        self.pairs: dict[str, str] = {}

    def __call__(self, dataset: Dataset, data_element: DataElement) -> bool:
        if data_element.VR != "UI":
            return False
        keyword = keyword_for_tag(data_element.tag)
        if not data_element.value or keyword.endswith("ClassUID") or keyword == "TransferSyntaxUID":
            return True
        if isinstance(data_element.value, MultiValue):
            data_element.value = [self._new(str(v)) for v in data_element.value]
        else:
            data_element.value = self._new(str(data_element.value))
        return True

    def _new(self, original: str) -> str:
        original = original.strip().rstrip("\0")
        if not original or _is_well_known(original):
            return original
        new = self._known.get(original) or uid_pseudonym(self._salt, original)
        self.pairs[original] = new
        return new

    def describe_actions(self) -> Any:
        yield "Replace instance UIDs with salted 2.25 UUID-derived UIDs; keep well-known UIDs"


class _SafeDates(ElementAnonymizer):
    """Wraps dicognito's date shifter: an unparseable DA/DT is emptied, not fatal.

    Real archives hold dates like ``2001.1.1`` or times like ``1`` that make
    ``strptime`` fail; one such value must not cost the whole image.
    """

    def __init__(self, inner: ElementAnonymizer) -> None:
        self._inner = inner
        self.dropped: list[str] = []

    def __call__(self, dataset: Dataset, data_element: DataElement) -> bool:
        try:
            return self._inner(dataset, data_element)
        except (ValueError, TypeError, IndexError, OverflowError):
            keyword = keyword_for_tag(data_element.tag) or str(data_element.tag)
            self.dropped.append(keyword)
            data_element.value = ""
            time_kw = keyword.replace("Date", "Time")
            if time_kw != keyword and time_kw in dataset:
                dataset[time_kw].value = ""
            return True

    def describe_actions(self) -> Any:
        yield from self._inner.describe_actions()
        yield "Empty DA/DT values that cannot be parsed"


def _guard_dates(anonymizer: Anonymizer) -> _SafeDates | None:
    """Swap dicognito's date handler for :class:`_SafeDates` (None if not found)."""
    handlers = getattr(anonymizer, "_element_handlers", None)
    if not isinstance(handlers, list):
        return None
    for i, handler in enumerate(handlers):
        if isinstance(handler, DateTimeAnonymizer):
            handlers[i] = _SafeDates(handler)
            return handlers[i]
    return None


def _strip_profile(ds: Dataset) -> None:
    """Remove overlays, curves and the profile's X attributes (recursively)."""

    def callback(dataset: Dataset, elem: DataElement) -> None:
        group = elem.tag.group
        if elem.tag in _REMOVED_TAGS or (0x5000 <= group <= 0x501E) or (0x6000 <= group <= 0x601E):
            del dataset[elem.tag]

    ds.walk(callback)


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax:
        return UID(str(tsyntax))
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRBigEndian if little is False else ExplicitVRLittleEndian


def _declare(ds: Dataset, burned_in: bool) -> None:
    ds.PatientIdentityRemoved = "NO" if burned_in else "YES"
    ds.DeidentificationMethod = [METHOD, f"DICOGNITO {_DICOGNITO_VERSION}"[:64]]
    items = []
    for code, meaning in METHOD_CODES:
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    ds.LongitudinalTemporalInformationModified = "MODIFIED"


class ProjectDeidentifier:
    """De-identifies datasets for one project.

    Parameters
    ----------
    salt : str
        The project's secret salt (see :func:`markit_core.imaging.trace.project_salt`);
        every pseudonym is a function of it and the original value.
    known_uids : Mapping[str, str] | None
        Pairs already recorded in the project's ``UidMap``; they take precedence
        over freshly derived pseudonyms, so a recorded mapping is never broken.
    """

    def __init__(self, salt: str, known_uids: Mapping[str, str] | None = None) -> None:
        if not salt:
            raise ValueError("a project salt is required")
        self._salt = salt
        self._known = dict(known_uids or {})
        self._seed = hmac.new(salt.encode(), b"dicognito", hashlib.sha256).hexdigest()

    def deidentify(
        self, ds: Dataset, name: str = "dataset", *, in_place: bool = False
    ) -> DeidResult:
        """Return a de-identified copy of ``ds`` as a dataset and as file bytes.

        Parameters
        ----------
        ds : Dataset
            The original instance.
        name : str
            Name used in messages.
        in_place : bool
            Modify ``ds`` itself instead of a deep copy (saves memory when the
            caller parsed ``ds`` only for this).

        Raises
        ------
        ImageError
            The dataset holds values the profile cannot process (names the file).
        """
        if not in_place:
            ds = copy.deepcopy(ds)
        original = Identity.of(ds)
        burned_in = str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
        uid_handler = _UidHandler(self._salt, self._known)
        anonymizer = Anonymizer(seed=self._seed)
        dates = _guard_dates(anonymizer)
        anonymizer.add_element_handler(uid_handler)
        tsyntax = _transfer_syntax(ds)
        sop_class = (
            ds.get("SOPClassUID")
            or getattr(ds, "file_meta", Dataset()).get("MediaStorageSOPClassUID")
            or SecondaryCaptureImageStorage
        )
        try:
            ds.remove_private_tags()
            _strip_profile(ds)
            ds.file_meta = FileMetaDataset()
            anonymizer.anonymize(ds)
            for kw in EMPTIED:
                if kw in ds:
                    ds[kw].value = ""
            _declare(ds, burned_in)
            if not ds.get("SOPInstanceUID"):
                ds.SOPInstanceUID = uid_pseudonym(self._salt, "markit-missing-sop:" + name)
            data = _write(ds, UID(str(sop_class)), tsyntax)
        except ImageError:
            raise
        except Exception as e:  # pydicom/dicognito raise many types on malformed values
            raise ImageError(
                f"{name}: cannot de-identify: {type(e).__name__}: "
                f"{str(e).splitlines()[0][:200] if str(e) else ''}"
            ) from e
        pseudonym = Identity.of(ds)
        pairs = [("uid", o, p) for o, p in sorted(uid_handler.pairs.items())]
        for kind, before, after in (
            ("patient_id", original.patient_id, pseudonym.patient_id),
            ("patient_name", original.patient_name, pseudonym.patient_name),
            ("accession", original.accession, pseudonym.accession),
        ):
            if before and after and before != after:
                pairs.append((kind, before, after))
        warnings = []
        if burned_in:
            warnings.append(
                f"{name}: Burned In Annotation is YES: identifying text may remain "
                "in the pixels; check the image before sharing it"
            )
        if dates is not None and dates.dropped:
            dropped = ", ".join(sorted(set(dates.dropped)))
            warnings.append(f"{name}: emptied unreadable dates ({dropped})")
        return DeidResult(
            data=data,
            dataset=ds,
            original=original,
            pseudonym=pseudonym,
            pairs=pairs,
            burned_in=burned_in,
            warnings=warnings,
        )


def _write(ds: Dataset, sop_class: UID, tsyntax: UID) -> bytes:
    """Encode ``ds`` as a Part 10 file with fresh, non-identifying file meta."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = UID(str(ds.SOPInstanceUID))
    meta.TransferSyntaxUID = tsyntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    buf = BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()
