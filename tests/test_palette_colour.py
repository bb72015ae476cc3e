"""Palette colour and deep RGB are scaled by their declared bit depth (issue 9, point 16).

Compared with pydicom's own ``apply_color_lut`` on its palette test file and
on hand-built datasets whose right answer is known: a 16-bit LUT used only at
dark entries stays dark; 16-bit RGB with every sample <= 255 is nearly black;
a big-endian file's LUT decodes to the same colours as the little-endian one.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_color_lut
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, generate_uid

from markit_core.imaging.decode import decode_dicom
from markit_core.imaging.palette import scale_to_uint8

ENTRIES = 256


def _base(syntax) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    return ds


def _save(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    little = ds.file_meta.TransferSyntaxUID != ExplicitVRBigEndian
    ds.save_as(buf, enforce_file_format=True, implicit_vr=False, little_endian=little)
    return buf.getvalue()


def palette_file(syntax=ExplicitVRLittleEndian, indices: np.ndarray | None = None) -> bytes:
    """8-bit indices into a 16-bit LUT: red and green ramp up, blue is a quarter of the ramp."""
    little = syntax != ExplicitVRBigEndian
    ds = _base(syntax)
    idx = np.arange(64, dtype=np.uint8).reshape(8, 8) % 11 if indices is None else indices
    ds.Rows, ds.Columns = idx.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "PALETTE COLOR"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ramp = (np.arange(ENTRIES) * 257).astype(np.uint16)
    order = "<" if little else ">"
    for channel, lut in (("Red", ramp), ("Green", ramp), ("Blue", ramp // 4)):
        setattr(ds, f"{channel}PaletteColorLookupTableDescriptor", [ENTRIES, 0, 16])
        elem = f"{channel}PaletteColorLookupTableData"
        setattr(ds, elem, lut.astype(order + "u2").tobytes())
        ds[elem].VR = "OW"
    ds.PixelData = idx.tobytes()
    return _save(ds)


def test_16_bit_lut_used_only_at_dark_entries_stays_dark() -> None:
    img = decode_dicom(palette_file(), name="dark.dcm")
    red = img.frames[0, ..., 0]
    idx = np.arange(64).reshape(8, 8) % 11
    assert red.max() == 10  # index 10 -> 10 * 257 / 65535 * 255 = 10, not full brightness
    np.testing.assert_array_equal(red, idx)
    np.testing.assert_array_equal(img.frames[0, ..., 1], idx)
    blue = np.floor((idx * 257 // 4) * 255 / 65535 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(img.frames[0, ..., 2], blue)
    assert img.frames.max() == 10  # the whole image is dark


def test_matches_pydicom_apply_color_lut_scaled_by_the_descriptor() -> None:
    data = palette_file()
    ds = pydicom.dcmread(io.BytesIO(data))
    expected = scale_to_uint8(apply_color_lut(ds.pixel_array, ds), 16)
    np.testing.assert_array_equal(decode_dicom(data, name="x").frames[0], expected)


def test_pydicom_palette_test_file() -> None:
    path = get_testdata_file("examples_palette.dcm")
    ds = pydicom.dcmread(path)
    bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    expected = scale_to_uint8(apply_color_lut(ds.pixel_array, ds), bits)
    got = decode_dicom(path).frames
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)


def test_big_endian_palette_decodes_like_little_endian() -> None:
    le = decode_dicom(palette_file(ExplicitVRLittleEndian), name="le.dcm").frames
    be = decode_dicom(palette_file(ExplicitVRBigEndian), name="be.dcm").frames
    np.testing.assert_array_equal(be, le)


@pytest.mark.parametrize("bits_stored", [16, 12])
def test_16_bit_rgb_is_scaled_by_its_bit_depth_even_when_samples_are_small(bits_stored) -> None:
    ds = _base(ExplicitVRLittleEndian)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 4, 4, 3
    ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    rgb = np.arange(48, dtype=np.uint16).reshape(4, 4, 3) * 5  # every sample <= 235
    ds.PixelData = rgb.tobytes()
    got = decode_dicom(_save(ds), name="rgb16.dcm").frames[0]
    top = 2**bits_stored - 1
    np.testing.assert_array_equal(got, np.floor(rgb * (255 / top) + 0.5).astype(np.uint8))
    assert got.max() <= (235 * 255) // top + 1  # dark, as stored: not stretched to 255
