"""From decoded DICOM pixel data and header to a :class:`DecodedImage`.

Greyscale goes to float32 modality values (Modality LUT, or rescale slope and
intercept applied in float32); colour to uint8 RGB (palette expanded, YBR
converted, 16/32-bit RGB scaled down). Window, VOI LUT and display metadata are
read here too; a malformed VOI LUT is logged and ignored rather than refusing an
image that is otherwise fine.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from markit_core.errors import ImageError
from markit_core.imaging.decoded import DecodedImage, VoiLut
from markit_core.imaging.palette import palette_to_rgb, scale_to_uint8

__all__ = ["build_decoded"]

log = logging.getLogger(__name__)


def build_decoded(ds: Dataset, arr: np.ndarray, meta: dict[str, Any], name: str) -> DecodedImage:
    """Turn decoded pixel data into a :class:`DecodedImage`.

    Parameters
    ----------
    ds : pydicom.Dataset
        The dataset the pixels came from (header facts, LUTs, rescale).
    arr : numpy.ndarray
        Output of pydicom's decoder (``as_rgb=True``: YBR already converted where
        the decoder could).
    meta : dict
        The decoder's pixel metadata (rows, columns, frames, photometric after
        conversion, bits stored).
    name : str
        For error messages.
    """
    n_frames = int(meta.get("number_of_frames") or 1)
    samples = int(meta.get("samples_per_pixel") or 1)
    rows, cols = int(meta["rows"]), int(meta["columns"])
    photometric = str(meta.get("photometric_interpretation") or ds.PhotometricInterpretation)
    declared = str(ds.PhotometricInterpretation)
    bits_stored = int(meta.get("bits_stored") or ds.get("BitsStored") or 0) or None
    arr = arr.reshape((n_frames, rows, cols) + ((samples,) if samples > 1 else ()))

    common: dict[str, Any] = {
        "name": name,
        "source_kind": "dicom",
        "source_photometric": declared,
        "bits_stored": bits_stored,
        "modality": _str_or_none(ds.get("Modality")),
        "view_position": _str_or_none(ds.get("ViewPosition")),
        "body_part": _str_or_none(ds.get("BodyPartExamined")),
        "sop_class_uid": _str_or_none(ds.get("SOPClassUID")),
        "pixel_spacing": _spacing(ds),
    }
    if photometric == "PALETTE COLOR":
        little = _little_endian(ds)
        rgb = palette_to_rgb(arr, ds, little_endian=little, name=name)
        return DecodedImage(frames=rgb, photometric="RGB", value_range=(0.0, 255.0), **common)
    if samples == 3:
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            arr = convert_color_space(arr, photometric, "RGB")
        elif photometric != "RGB":
            raise ImageError(f"{name}: unsupported colour photometric {photometric!r}")
        rgb = _to_uint8_rgb(arr, bits_stored)
        return DecodedImage(frames=rgb, photometric="RGB", value_range=(0.0, 255.0), **common)
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageError(f"{name}: unsupported photometric interpretation {photometric!r}")

    values = _modality_values(arr, ds)
    center, width = _first_window(ds)
    vmin, vmax = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    return DecodedImage(
        frames=values,
        photometric=photometric,
        window_center=center,
        window_width=width,
        voi_lut=_voi_lut(ds),
        voi_function=str(ds.get("VOILUTFunction") or "LINEAR").upper(),
        invert_for_display=photometric == "MONOCHROME1",
        value_range=(vmin, vmax),
        **common,
    )


def _modality_values(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """Apply the Modality LUT or rescale in float32 (never float64: 2x the memory)."""
    if ds.get("ModalityLUTSequence"):
        from pydicom.pixels import apply_modality_lut

        return np.ascontiguousarray(apply_modality_lut(arr, ds), dtype=np.float32)
    values = arr.astype(np.float32)  # a fresh, native-endian, contiguous copy
    slope = _float_or(ds.get("RescaleSlope"), 1.0)
    intercept = _float_or(ds.get("RescaleIntercept"), 0.0)
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept != 0.0:
        values += np.float32(intercept)
    return values


def _to_uint8_rgb(arr: np.ndarray, bits_stored: int | None) -> np.ndarray:
    """RGB samples to uint8 by their declared depth (Bits Stored, else the sample type's),
    never by the brightest sample present (see :mod:`.palette`)."""
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    depth = arr.dtype.itemsize * 8
    bits = bits_stored if bits_stored and 1 <= bits_stored <= depth else depth
    return scale_to_uint8(arr, bits)


def _little_endian(ds: Dataset) -> bool:
    """Byte order the dataset's OW values (LUT Data) were stored in."""
    meta = getattr(ds, "file_meta", None)
    tsyntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsyntax:
        from pydicom.uid import UID

        uid = UID(str(tsyntax))
        if uid.is_transfer_syntax:
            return bool(uid.is_little_endian)
    encoding = getattr(ds, "original_encoding", (None, None))
    return encoding[1] is not False


def _first_window(ds: Dataset) -> tuple[float | None, float | None]:
    center = _first_value(ds.get("WindowCenter"))
    width = _first_value(ds.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None, None
    return center, width


def _voi_lut(ds: Dataset) -> VoiLut | None:
    """Read the first VOI LUT item; a malformed LUT is ignored (window/auto still work)."""
    seq = ds.get("VOILUTSequence")
    if not seq:
        return None
    item = seq[0]
    try:
        n_entries, first, bits = (int(v) for v in item.LUTDescriptor)
        n_entries = n_entries or 2**16
        if ds.get("PixelRepresentation") == 1 and first >= 2**15:
            first -= 2**16  # US-encoded descriptor of a signed image
        elem = item["LUTData"]
        if elem.VR == "OW" or isinstance(elem.value, bytes):
            little = ds.file_meta.TransferSyntaxUID.is_little_endian
            data = np.frombuffer(elem.value, dtype="<u2" if little else ">u2")
        else:
            data = np.asarray(elem.value, dtype=np.float64).ravel()
        data = data[:n_entries].astype(np.float32)
        if data.size == 0 or bits <= 0:
            return None
        lo, hi = float(data.min()), float(data.max())
        table = ((data - lo) * (255.0 / max(hi - lo, 1.0)) + 0.5).astype(np.uint8)
        explanation = str(item.get("LUTExplanation", ""))
        return VoiLut(first_mapped=first, table=table, explanation=explanation)
    except (AttributeError, KeyError, ValueError, TypeError) as e:
        log.warning("ignoring malformed VOI LUT: %s", e)  # no file name: it may name a patient
        return None


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(kw)
        try:
            if value is not None and len(value) == 2:
                return float(value[0]), float(value[1])
        except (TypeError, ValueError):
            continue
    return None


def _first_value(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (MultiValue, list, tuple)):
        if len(value) == 0:
            return None
        value = value[0]
    return _float_or(value, None)


def _float_or(value: Any, default: float | None) -> Any:
    try:
        return default if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return default


def _str_or_none(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None
