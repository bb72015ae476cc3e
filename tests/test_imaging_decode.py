"""Decoding: every pydicom test file, compressed syntaxes, colour, LUTs, broken input."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut
from pydicom.uid import (
    JPEG2000,
    MPEG2MPML,
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

from markit_core.errors import ImageError
from markit_core.imaging.decode import decode_any, decode_dicom, decode_raster
from markit_core.imaging.display import ViewState, render

# pydicom warns about the deliberately odd values in its own test files.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# pydicom test files that carry Pixel Data but legitimately cannot be decoded, with
# the fragment the ImageError must contain. Nothing here is skipped: each must fail
# with that clear reason.
EXPECTED_FAILURES: dict[str, str] = {
    # NEMA WG04 NM1_JPLY: a misplaced marker in the JPEG stream; pydicom's README
    # names JPGExtended.dcm as the fixed copy (which must and does decode).
    "JPEG-lossy.dcm": "cannot decode pixel data",
    # JPEG2000.dcm with 4 codestream bytes overwritten by a sequence delimiter
    # (pydicom issue #1140): valid DICOM structure, invalid J2K.
    "JPEG2000-embedded-sequence-delimiter.dcm": "cannot decode pixel data",
    # Pixel Data shorter than Rows x Columns x frames needs.
    "MR_truncated.dcm": "truncated",
    # Number of Frames is '1A', not an integer.
    "badVR.dcm": "'1A'",
    # A 2-byte Pixel Data element with no Image Pixel module (no Rows, Columns, ...).
    "meta_missing_tsyntax.dcm": "lacks Rows",
    "nested_priv_SQ.dcm": "lacks Rows",
}

# Compressed syntaxes the installed plugins must cover (via files in pydicom.data).
REQUIRED_SYNTAXES = {
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
}


def _test_files() -> list[str]:
    return sorted(f for f in get_testdata_files() if os.path.isfile(f))


def _has_pixels(path: str) -> bool:
    """Independent of the code under test: does pydicom see Pixel Data at all?"""
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=False)
        return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
    except Exception:
        return False


def _expected_pixels(ds: Dataset) -> np.ndarray:
    """What pydicom itself says the display values are, for comparison."""
    arr = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds).astype(np.float64)
        return np.round(rgb * 255.0 / 65535.0) if rgb.max() > 255 else rgb
    if arr.ndim >= 3 and arr.shape[-1] == 3 and ds.SamplesPerPixel == 3:
        if arr.dtype != np.uint8:
            bits = int(ds.BitsStored)
            return np.round(arr.astype(np.float64) * 255.0 / (2**bits - 1))
        return arr
    return apply_modality_lut(arr, ds)


def test_every_pydicom_test_file_decodes_renders_or_fails_clearly() -> None:
    decoded_syntaxes: set[str] = set()
    failures_seen: set[str] = set()
    n_images = n_refused = 0
    for path in _test_files():
        name = Path(path).name
        if not _has_pixels(path):
            with pytest.raises(ImageError, match="not an image") as info:
                decode_any(path)
            assert str(info.value).startswith(f"{name}: "), str(info.value)
            n_refused += 1
            continue
        if name in EXPECTED_FAILURES:
            with pytest.raises(ImageError) as info:
                decode_any(path)
            message = str(info.value)
            assert message.startswith(f"{name}: ") and EXPECTED_FAILURES[name] in message, message
            failures_seen.add(name)
            continue
        decoded = decode_any(path)
        ds = pydicom.dcmread(path)
        expected = _expected_pixels(ds).reshape(decoded.frames.shape)
        np.testing.assert_allclose(decoded.frames, expected, rtol=1e-5, atol=1.0, err_msg=name)
        for frame in {0, decoded.n_frames - 1}:
            out = render(decoded, ViewState(frame=frame, viewport=(256, 256)))
            assert out.data[:3] == b"\xff\xd8\xff", name
            assert out.pixels.shape[:2] == out.mapping.size[::-1], name
        decoded_syntaxes.add(str(ds.file_meta.TransferSyntaxUID))
        n_images += 1
    assert failures_seen == set(EXPECTED_FAILURES), "expected-failure list is stale"
    missing = {UID(u).name for u in REQUIRED_SYNTAXES - decoded_syntaxes}
    assert not missing, f"no test file decoded for {missing}"
    assert n_images >= 80 and n_refused >= 50


# -- specific behaviour ----------------------------------------------------------------


def _dataset(pixels: np.ndarray, **attrs: object) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.tobytes()
    return ds


def _to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_rescale_slope_and_intercept_give_float32_modality_values() -> None:
    stored = np.arange(12, dtype=np.uint16).reshape(3, 4) * 100
    ds = _dataset(stored, RescaleSlope="2.5", RescaleIntercept="-100")
    decoded = decode_dicom(_to_bytes(ds), name="r.dcm")
    assert decoded.frames.dtype == np.float32 and decoded.frames.shape == (1, 3, 4)
    np.testing.assert_allclose(decoded.frames[0], stored * 2.5 - 100)
    assert decoded.value_range == (-100.0, 11 * 100 * 2.5 - 100)
    ct = decode_any(get_testdata_file("CT_small.dcm"))  # slope 1, intercept -1024
    raw = pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array
    np.testing.assert_array_equal(ct.frames[0], raw.astype(np.float32) - 1024)


def test_monochrome1_is_inverted_for_display() -> None:
    stored = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    ds = _dataset(
        stored, PhotometricInterpretation="MONOCHROME1", WindowCenter="2000", WindowWidth="4001"
    )
    decoded = decode_dicom(ds)
    assert decoded.invert_for_display and decoded.photometric == "MONOCHROME1"
    shown = render(decoded, ViewState(viewport=(2, 2), zoom=1.0), fmt=None).pixels
    assert shown[0, 0] == 255 and shown[1, 1] == 0  # lowest value white
    flipped = render(decoded, ViewState(viewport=(2, 2), zoom=1.0, invert=True), fmt=None)
    assert flipped.pixels[0, 0] == 0
    cr = next(f for f in get_testdata_files() if f.endswith(os.sep + "6154"))
    assert decode_any(cr).invert_for_display


def test_multiframe_frames_are_browsable() -> None:
    path = get_testdata_file("rtdose.dcm")
    decoded = decode_any(path)
    ds = pydicom.dcmread(path)
    assert decoded.n_frames == 15 == int(ds.NumberOfFrames)
    for index in (0, 7, 14):
        np.testing.assert_array_equal(decoded.frame(index), ds.pixel_array[index])
    first = render(decoded, ViewState(frame=0, viewport=(64, 64))).pixels
    last = render(decoded, ViewState(frame=14, viewport=(64, 64))).pixels
    assert not np.array_equal(first, last)
    with pytest.raises(ImageError, match="frame 15 out of range"):
        decoded.frame(15)
    colour = decode_any(get_testdata_file("examples_ybr_color.dcm"))  # JPEG, 30 frames
    assert colour.frames.shape == (30, 240, 320, 3)


def test_rgb_ybr_and_palette_colour() -> None:
    rgb = decode_any(get_testdata_file("SC_rgb_small_odd.dcm"))
    assert rgb.is_color and rgb.frames.dtype == np.uint8
    np.testing.assert_array_equal(
        rgb.frames[0], pydicom.dcmread(get_testdata_file("SC_rgb_small_odd.dcm")).pixel_array
    )
    ybr = decode_any(get_testdata_file("SC_ybr_full_422_uncompressed.dcm"))
    assert ybr.photometric == "RGB" and ybr.source_photometric == "YBR_FULL_422"
    red = ybr.frames[0, 5, 5].astype(int)  # top band of the test card is red
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    palette = decode_any(get_testdata_file("examples_palette.dcm"))
    assert palette.frames.shape == (1, 350, 800, 3)
    assert palette.source_photometric == "PALETTE COLOR"
    assert len(np.unique(palette.frames[0].reshape(-1, 3), axis=0)) > 10
    out = render(palette, ViewState(viewport=(400, 400)), fmt="png")
    assert out.mime == "image/png" and out.pixels.shape == (175, 400, 3)


def test_header_window_first_value_and_voi_lut() -> None:
    mr = decode_any(get_testdata_file("MR_small.dcm"))
    assert mr.header_window == (600.0, 1600.0)
    assert render(mr, ViewState(viewport=(64, 64))).window == (600.0, 1600.0)
    stored = np.arange(0, 4096, 16, dtype=np.uint16).reshape(16, 16)
    multi = _dataset(stored, WindowCenter=["1024", "40"], WindowWidth=["2048", "400"])
    assert decode_dicom(multi).header_window == (1024.0, 2048.0)

    lut = Dataset()
    # 16-bit entries: pydicom's apply_voi indexes 8-bit LUTs through a uint8 array,
    # which wraps for LUTs longer than 256 entries, so it cannot be the reference there.
    lut.LUTDescriptor = [2048, 1024, 16]
    lut.add_new(0x00283006, "US", [int(v) for v in np.linspace(0, 65535, 2048)])  # LUT Data
    ds = _dataset(stored, VOILUTSequence=[lut], WindowCenter="99", WindowWidth="5")
    decoded = decode_dicom(_to_bytes(ds))
    assert decoded.voi_lut is not None and decoded.voi_lut.first_mapped == 1024
    shown = render(decoded, ViewState(viewport=(16, 16), zoom=1.0), fmt=None)
    assert shown.window is None  # the LUT, not the window, was applied
    expected = apply_voi_lut(stored, pydicom.dcmread(io.BytesIO(_to_bytes(ds))))
    np.testing.assert_allclose(shown.pixels, expected * (255 / 65535), atol=1)
    # an explicit window from the user overrides the LUT
    user = render(
        decoded,
        ViewState(viewport=(16, 16), zoom=1.0, window_center=2048.0, window_width=4096.0),
        fmt=None,
    )
    assert user.window == (2048.0, 4096.0) and user.pixels[0, 0] == 0


def test_compressed_and_uncompressed_copies_decode_identically() -> None:
    plain = decode_any(get_testdata_file("MR_small.dcm")).frames
    for name in (
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_bigendian.dcm",
    ):
        np.testing.assert_array_equal(decode_any(get_testdata_file(name)).frames, plain)


def test_bytes_path_and_dataset_inputs_agree_and_dataset_is_untouched(tmp_path: Path) -> None:
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    del ds.file_meta.TransferSyntaxUID  # inferred from the encoding, not written back
    from_ds = decode_dicom(ds, name="ct")
    assert "TransferSyntaxUID" not in ds.file_meta
    np.testing.assert_array_equal(from_ds.frames, decode_dicom(Path(path)).frames)
    np.testing.assert_array_equal(from_ds.frames, decode_any(Path(path).read_bytes()).frames)


# -- broken and non-image input -------------------------------------------------------


def _mr_bytes() -> bytes:
    return Path(get_testdata_file("MR_small.dcm")).read_bytes()


@pytest.mark.parametrize(
    ("label", "mangle", "fragment"),
    [
        ("truncated-pixels", lambda b: b[: len(b) // 2], "truncated"),
        ("truncated-meta", lambda b: b[:200], "truncated"),
        (
            "bad-vr",
            lambda b: b.replace(b"\x28\x00\x10\x00US", b"\x28\x00\x10\x00ZZ", 1),
            "Unknown Value Representation 'ZZ'",
        ),
        (
            "garbage",
            lambda b: bytes(np.random.default_rng(1).integers(0, 256, 4000, np.uint8)),
            "not an image",
        ),
        ("garbage-after-preamble", lambda b: b"\0" * 128 + b"DICM" + b"\x07" * 500, "not an image"),
        ("empty", lambda b: b"", "not an image"),
        ("text", lambda b: b"patient,finding\n1,none\n" * 20, "not an image"),
    ],
)
def test_broken_inputs_raise_image_error_naming_the_file(label, mangle, fragment) -> None:
    with pytest.raises(ImageError) as info:
        decode_any(mangle(_mr_bytes()), name=f"{label}.dcm")
    assert str(info.value).startswith(f"{label}.dcm: ") and fragment in str(info.value)


def test_missing_meta_is_inferred_for_native_but_refused_for_compressed() -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    del ds.file_meta
    ds.preamble = None
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert buf.getvalue()[128:132] != b"DICM"  # no preamble, no meta
    decoded = decode_any(buf.getvalue(), name="nometa")
    np.testing.assert_array_equal(decoded.frames, decode_any(_mr_bytes()).frames)
    j2k = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    del j2k.file_meta.TransferSyntaxUID
    with pytest.raises(ImageError, match="j2k: broken image: no Transfer Syntax UID"):
        decode_dicom(j2k, name="j2k")


def test_unsupported_syntax_and_non_image_dataset() -> None:
    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    with pytest.raises(ImageError, match="cannot decode transfer syntax MPEG2"):
        decode_dicom(ds, name="video.dcm")
    sr = Dataset()
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    with pytest.raises(ImageError, match=r"sr: not an image \(SOP class Basic Text SR Storage\)"):
        decode_dicom(sr, name="sr")
    with pytest.raises(ImageError, match="missing.dcm: cannot open file"):
        decode_any("/nonexistent/missing.dcm")


# -- rasters ---------------------------------------------------------------------------


def _png(array: np.ndarray, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_raster_greyscale_8_and_16_bit_and_rgb() -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    d8 = decode_any(_png(grey), name="g.png")
    assert d8.source_kind == "raster" and d8.bits_stored == 8
    np.testing.assert_array_equal(d8.frames[0], grey)
    # 8-bit rasters show unchanged with the default (header) window
    shown = render(d8, ViewState(viewport=(16, 16), zoom=1.0), fmt=None).pixels
    np.testing.assert_array_equal(shown, grey)

    deep = (np.arange(256, dtype=np.uint16) * 250).reshape(16, 16)
    d16 = decode_raster(_png(deep), name="d.png")
    assert d16.bits_stored == 16 and d16.value_range == (0.0, 255 * 250.0)
    np.testing.assert_array_equal(d16.frames[0], deep)
    tiff = decode_any(_png(deep, "TIFF"), name="d.tif")
    np.testing.assert_array_equal(tiff.frames[0], deep)

    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 200
    rgb = decode_any(_png(colour), name="c.png")
    assert rgb.is_color and rgb.frames[0, 0, 0].tolist() == [200, 0, 0]
    grey_rgb = decode_any(_png(np.repeat(grey[..., None], 3, axis=2)), name="gr.png")
    assert not grey_rgb.is_color  # equal channels -> greyscale, so windowing works
    jpeg = decode_any(_png(grey, "JPEG", quality=95), name="g.jpg")
    assert np.abs(jpeg.frames[0] - grey).max() < 12


def test_raster_errors() -> None:
    truncated = _png(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8))[:300]
    with pytest.raises(ImageError, match=r"^cut.png: cannot decode PNG image"):
        decode_any(truncated, name="cut.png")
    gif = _png(np.zeros((4, 4), np.uint8), "GIF")
    with pytest.raises(ImageError, match="unsupported image format GIF"):
        decode_raster(gif, name="a.gif")
