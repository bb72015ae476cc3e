"""Preprocessing: a DICOM and a PNG of the same pixels give the model the same tensor."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from markit_core.demo.dicom import build_dicom, fake_identity
from markit_core.imaging.decode import decode_any
from markit_core.imaging.store import ImageStore
from markit_core.inference.base import InputSpec, Normalisation
from markit_core.inference.preprocess import preprocess, preprocess_array, preprocess_case

SPEC = InputSpec(size=(64, 64), channels=1, normalisation=Normalisation.UNIT)


def _pixels(rows: int = 200, cols: int = 160) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:cols]
    return ((x * 255 // cols + y) % 256).astype(np.uint8)


def _png(pixels: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    image = Image.fromarray(pixels)
    (image.convert("RGB") if mode == "RGB" else image).save(buf, format="PNG")
    return buf.getvalue()


def _dicom8(pixels: np.ndarray, photometric: str = "MONOCHROME2") -> bytes:
    stored = 255 - pixels if photometric == "MONOCHROME1" else pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = uid = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, uid
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = stored.astype(np.uint8).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_dicom_and_png_of_the_same_pixels_give_the_same_tensor(photometric: str) -> None:
    pixels = _pixels()
    from_png = preprocess(decode_any(_png(pixels), name="x.png"), SPEC)
    from_dicom = preprocess(decode_any(_dicom8(pixels, photometric), name="x.dcm"), SPEC)
    assert from_png.shape == (1, 64, 64) and from_png.dtype == np.float32
    np.testing.assert_allclose(from_dicom, from_png, atol=1e-6)
    # and it is the image itself, scaled to [0, 1] and resized (not a constant)
    direct = preprocess_array(pixels.astype(np.float32) / 255.0, SPEC)
    np.testing.assert_allclose(from_png, direct, atol=1e-6)
    assert from_png.std() > 0.1 and from_png.min() >= 0.0 and from_png.max() <= 1.0


def test_monochrome1_is_inverted_so_dense_is_white() -> None:
    pixels = np.zeros((32, 32), np.uint8)
    pixels[:, 16:] = 255  # right half dense (white on display)
    m1 = preprocess(decode_any(_dicom8(pixels, "MONOCHROME1")), SPEC)[0]
    assert m1[:, :28].max() < 0.05 and m1[:, 36:].min() > 0.95


def test_12_bit_dicom_of_a_demo_image_matches_its_8_bit_png() -> None:
    brightness = np.random.default_rng(3).random((96, 96)).astype(np.float32)
    ident = fake_identity(np.random.default_rng(0), 1, 1)
    tensors = []
    for photometric in ("MONOCHROME1", "MONOCHROME2"):
        buf = io.BytesIO()
        build_dicom(brightness, patient=ident, photometric=photometric).save_as(
            buf, enforce_file_format=True
        )
        tensors.append(preprocess(decode_any(buf.getvalue()), SPEC))
    png = preprocess(decode_any(_png((brightness * 255 + 0.5).astype(np.uint8))), SPEC)
    for tensor in tensors:
        np.testing.assert_allclose(tensor, png, atol=2.5 / 255)


def test_rgb_png_is_turned_to_grey_and_xrv_range() -> None:
    pixels = _pixels(80, 80)
    grey = preprocess(decode_any(_png(pixels)), SPEC)
    rgb = preprocess(decode_any(_png(pixels, "RGB")), SPEC)
    np.testing.assert_allclose(rgb, grey, atol=1e-3)
    xrv = InputSpec(size=(32, 48), channels=3, normalisation=Normalisation.XRV)
    out = preprocess(decode_any(_png(pixels)), xrv)
    assert out.shape == (3, 32, 48)
    assert -1024.0 <= out.min() < -900 and 900 < out.max() <= 1024.0
    np.testing.assert_allclose(out[0], out[2])


def test_stored_case_goes_through_the_store_and_cache(settings) -> None:
    pixels = _pixels()
    stored = ImageStore.from_settings(settings).put(_png(pixels), ".png")
    out = preprocess_case(settings, stored.relpath, SPEC)
    np.testing.assert_allclose(out, preprocess(decode_any(_png(pixels)), SPEC), atol=1e-6)
