"""Decode DICOM (and, via :mod:`.raster`, PNG/JPEG/TIFF) into a :class:`DecodedImage`.

DICOM pixel data goes through pydicom's own decoders, which use the pylibjpeg
plugins for JPEG baseline/extended/lossless, JPEG-LS and JPEG 2000, and pydicom
or pylibjpeg-rle for RLE. Every failure becomes an :class:`ImageError` whose
message starts with the file's name and says why, so a batch import can report
one line per refused file and carry on.
"""

from __future__ import annotations

import copy
import logging
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from markit_core.errors import ImageError
from markit_core.imaging.decoded import DecodedImage, VoiLut
from markit_core.imaging.dicom_build import build_decoded
from markit_core.imaging.dicom_walk import check_structure
from markit_core.imaging.limits import (
    SNIFF_BYTES,
    check_dicom_size,
    check_raster_size,
    decoded_budget,
    looks_like_dataset,
)
from markit_core.imaging.raster import RASTER_MAGIC, decode_raster

__all__ = ["DecodedImage", "VoiLut", "decode_any", "decode_dicom", "decode_raster", "is_dicom"]

log = logging.getLogger(__name__)

#: Elements that hold an image's pixels (one of them makes a DICOM object an image).
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_REQUIRED = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation")
# Elements a forced read of a real (meta-less) dataset almost always yields; a forced
# read of random bytes yields none of them.
_PLAUSIBLE = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "Modality",
    "PatientID",
    "Rows",
    "PixelData",
    "DirectoryRecordSequence",
)
# Library errors that mean "this file is broken", as opposed to bugs in our code.
_DECODE_ERRORS = (
    ValueError,
    RuntimeError,
    NotImplementedError,
    AttributeError,
    KeyError,
    TypeError,
    IndexError,
    EOFError,
    OSError,
    OverflowError,
    MemoryError,
)


def is_dicom(head: bytes) -> bool:
    """Return True when ``head`` (the first 132+ bytes) has the DICM preamble."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def decode_any(
    source: str | Path | bytes | Dataset,
    name: str | None = None,
    *,
    max_decoded_bytes: int | None = None,
) -> DecodedImage:
    """Decode DICOM or a raster image, sniffing which one ``source`` is.

    DICOM is recognised by its ``DICM`` preamble, rasters by their magic number;
    anything else is tried as a meta-less DICOM dataset and refused when pydicom
    finds nothing that looks like one.

    Parameters
    ----------
    source : str | Path | bytes | pydicom.Dataset
        A file path, the file's bytes, or an already-read dataset.
    name : str | None
        Name for messages; defaults to the file name.
    max_decoded_bytes : int | None
        Decoded-size budget (default ``MARKIT_MAX_DECODED_MB``'s default), checked
        from the headers before anything is decoded (see :mod:`.limits`).

    Raises
    ------
    ImageError
        "<name>: not an image ..." for non-image input, "image too large to
        decode safely" over the budget, otherwise a decoding reason.
    """
    budget = decoded_budget() if max_decoded_bytes is None else max_decoded_bytes
    if isinstance(source, Dataset):
        return decode_dicom(source, name=name, max_decoded_bytes=budget)
    name = name or _name_of(source)
    head = _head(source, name)
    if is_dicom(head):
        return decode_dicom(source, name=name, max_decoded_bytes=budget)
    if head.startswith(RASTER_MAGIC):
        check_raster_size(source, name, budget)
        return decode_raster(source, name=name)
    return decode_dicom(source, name=name, max_decoded_bytes=budget)


def decode_dicom(
    source: str | Path | bytes | Dataset,
    *,
    name: str | None = None,
    max_decoded_bytes: int | None = None,
) -> DecodedImage:
    """Decode a DICOM image into display-ready frames plus header display facts.

    Parameters
    ----------
    source : str | Path | bytes | pydicom.Dataset
        A path, the file's bytes, or a dataset (not modified).
    name : str | None
        Name used in error messages; defaults to the file name.
    max_decoded_bytes : int | None
        Decoded-size budget, checked from the header before the pixels are decoded.

    Returns
    -------
    DecodedImage
        Greyscale frames as float32 modality values (rescale applied), colour as
        uint8 RGB (YBR converted, palette expanded).

    Raises
    ------
    ImageError
        Not DICOM, not an image (no Pixel Data: SR, RT plan, ...), a broken or
        truncated file, or a transfer syntax no installed plugin decodes.
    """
    name = name or _name_of(source)
    budget = decoded_budget() if max_decoded_bytes is None else max_decoded_bytes
    ds = source if isinstance(source, Dataset) else _read(source, name)
    try:
        return _decode_dataset(ds, name, budget)
    except ImageError:
        raise
    except _DECODE_ERRORS as e:  # pydicom parses values lazily: a bad VR surfaces here
        raise ImageError(f"{name}: broken DICOM header: {_first_line(e)}") from e


def _decode_dataset(ds: Dataset, name: str, budget: int) -> DecodedImage:
    if not any(kw in ds for kw in PIXEL_KEYWORDS):
        sop = _sop_class_name(ds)
        note = _truncation_note(ds)
        if not note and "Image Storage" in sop:
            note = " although its SOP class is an image class (truncated or stripped file?)"
        raise ImageError(f"{name}: not an image (SOP class {sop}): it holds no Pixel Data{note}")
    missing = [kw for kw in _REQUIRED if ds.get(kw) in (None, "")]
    if missing:
        raise ImageError(
            f"{name}: broken image: Pixel Data present but the Image Pixel module "
            f"lacks {', '.join(missing)}"
        )
    check_dicom_size(ds, name, budget)  # from the header: nothing decoded yet
    ds, tsyntax = _with_transfer_syntax(ds, name)
    arr, meta = _decode_pixels(ds, tsyntax, name)
    return build_decoded(ds, arr, meta, name)


# -- reading ------------------------------------------------------------------------


def _name_of(source: object) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    if isinstance(source, Dataset):
        filename = getattr(source, "filename", None)
        return Path(filename).name if isinstance(filename, str) and filename else "dataset"
    return "<bytes>"


def _head(source: str | Path | bytes, name: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:SNIFF_BYTES])
    try:
        with open(source, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as e:
        raise ImageError(f"{name}: cannot open file: {e.strerror or e}") from e


def _read(source: str | Path | bytes, name: str) -> Dataset:
    """Read a dataset; a missing preamble is tolerated only if the content is plausible.

    Bytes that cannot start a dataset, or whose elements break DICOM's structure
    (a run of zeros), are refused before pydicom parses them (a forced parse of
    zeros takes about half a second per megabyte).
    """
    head = _head(source, name)
    if not is_dicom(head) and not looks_like_dataset(head, _size(source)):
        raise ImageError(f"{name}: not an image: not a DICOM or PNG/JPEG/TIFF file")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)

        def fp() -> Any:
            return BytesIO(data)
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise ImageError(f"{name}: cannot open file: {e.strerror or e}") from e

        def fp() -> Any:
            return str(source)

    check_structure(data, name)
    try:
        if is_dicom(head):
            return pydicom.dcmread(fp())
        ds = pydicom.dcmread(fp(), force=True)
    except InvalidDicomError as e:
        raise ImageError(f"{name}: not an image: not a DICOM file ({_first_line(e)})") from e
    except Exception as e:  # pydicom raises struct.error, EOFError, ... on garbage
        if is_dicom(head):
            raise ImageError(f"{name}: broken DICOM file: {_first_line(e)}") from e
        raise ImageError(f"{name}: not an image: not a DICOM or PNG/JPEG/TIFF file") from e
    if not _plausible(ds):
        raise ImageError(f"{name}: not an image: not a DICOM or PNG/JPEG/TIFF file")
    return ds


def _size(source: str | Path | bytes) -> int:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    try:
        return Path(source).stat().st_size
    except OSError:
        return 0


def _plausible(ds: Dataset) -> bool:
    return any(kw in ds for kw in _PLAUSIBLE)  # tag lookups only: nothing is parsed


def _truncation_note(ds: Dataset) -> str:
    """Describe a cut-off last element (pydicom reads short values without error)."""
    for part in (ds, getattr(ds, "file_meta", None)):
        if part is None or len(part) == 0:
            continue
        tag = max(part.keys())
        elem = part.get_item(tag)  # the raw element: its value is not parsed
        value, length = getattr(elem, "value", None), getattr(elem, "length", None)
        if (
            isinstance(value, bytes)
            and isinstance(length, int)
            and length != 0xFFFFFFFF
            and len(value) < length
        ):
            return f"; the file is truncated ({tag} declares {length} bytes, {len(value)} present)"
    return ""


def _sop_class_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID") or ds.get("file_meta", Dataset()).get("MediaStorageSOPClassUID")
    if not uid:
        if "DirectoryRecordSequence" in ds:
            return "Media Storage Directory Storage (DICOMDIR)"
        return "unknown"
    uid = UID(str(uid))
    return f"{uid.name}" if uid.name != str(uid) else f"{uid} (unrecognised)"


def _with_transfer_syntax(ds: Dataset, name: str) -> tuple[Dataset, UID]:
    """Return ``ds`` with a usable Transfer Syntax UID (inferred if it is missing)."""
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax:
        return ds, UID(str(tsyntax))
    elem = ds.data_element("PixelData")  # the element (not its value), or None
    if elem is not None and elem.is_undefined_length:
        raise ImageError(
            f"{name}: broken image: no Transfer Syntax UID in the file meta and the "
            "pixel data is compressed, so its codec is unknown"
        )
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None or little is None:
        raise ImageError(
            f"{name}: broken image: no Transfer Syntax UID in the file meta and the "
            "encoding cannot be inferred"
        )
    if implicit:
        inferred = ImplicitVRLittleEndian
    else:
        inferred = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    ds = copy.copy(ds)  # never mutate the caller's dataset
    new_meta = FileMetaDataset()
    for elem in meta or ():
        new_meta.add(copy.deepcopy(elem))
    new_meta.TransferSyntaxUID = inferred
    ds.file_meta = new_meta
    # no file name in the log: an upload's name may carry a patient's name
    log.info("DICOM file without a Transfer Syntax UID; inferred %s", inferred.name)
    return ds, inferred


def _decode_pixels(ds: Dataset, tsyntax: UID, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    from pydicom.pixels import get_decoder

    label = tsyntax.name if tsyntax.is_transfer_syntax else str(tsyntax)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError as e:
        raise ImageError(
            f"{name}: cannot decode transfer syntax {label}: not supported by pydicom"
        ) from e
    if not decoder.is_available:
        raise ImageError(
            f"{name}: cannot decode transfer syntax {label}: no installed plugin supports "
            "it (install the matching pylibjpeg plugin)"
        )
    try:
        # pydicom 3.0 annotates **kwargs as DecodeOptions (the TypedDict itself, not Unpack)
        arr, meta = decoder.as_array(ds, as_rgb=True)  # type: ignore[arg-type]
    except _DECODE_ERRORS as e:
        reason = _first_line(e)
        note = _truncation_note(ds)
        if note or "less than expected" in reason:
            reason = f"truncated or corrupt pixel data ({reason}){note}"
        raise ImageError(f"{name}: cannot decode pixel data ({label}): {reason}") from e
    return arr, dict(meta)


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = " ".join(lines[:2]) if lines else type(e).__name__
    return text[:300]
