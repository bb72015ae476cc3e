"""Ordinary images lose their embedded metadata on ingest; their pixels do not change."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageCms, TiffImagePlugin
from PIL.PngImagePlugin import PngInfo

from markit_core.errors import ImageError
from markit_core.imaging.decode import decode_any
from markit_core.imaging.ingest import ingest
from markit_core.imaging.raster_clean import clean_raster
from markit_core.imaging.store import ImageStore
from markit_core.models import Case

SECRET = "John Q Patient 1957-03-04 MRN 8675309"
PIXELS = (np.add.outer(np.arange(96), np.arange(128)) % 256).astype(np.uint8)


def _png() -> bytes:
    info = PngInfo()
    info.add_text("Comment", SECRET)
    info.add_itxt("Author", SECRET)
    buf = BytesIO()
    Image.fromarray(PIXELS).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x013B] = SECRET  # Artist
    exif[0x010E] = SECRET  # ImageDescription
    buf = BytesIO()
    Image.fromarray(np.stack([PIXELS] * 3, axis=-1)).save(
        buf, "JPEG", exif=exif, quality=90, comment=SECRET.encode()
    )
    return buf.getvalue()


def _tiff() -> bytes:
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[270] = SECRET  # ImageDescription
    tags[315] = SECRET  # Artist
    buf = BytesIO()
    Image.fromarray(PIXELS.astype(np.uint16) * 200).save(buf, "TIFF", tiffinfo=tags)
    return buf.getvalue()


@pytest.mark.parametrize("make, suffix", [(_png, ".png"), (_jpeg, ".jpg"), (_tiff, ".tif")])
def test_metadata_is_removed_and_pixels_kept(make, suffix):
    raw = make()
    assert SECRET.encode() in raw
    clean, stored_suffix = clean_raster(raw, suffix, "x" + suffix)
    assert stored_suffix == suffix
    assert SECRET.encode() not in clean
    before, after = decode_any(raw, "raw"), decode_any(clean, "clean")
    np.testing.assert_array_equal(before.frames, after.frames)


def test_ingested_rasters_are_stored_clean(session, settings, imaging):
    report = ingest(
        session,
        settings,
        imaging.owner,
        imaging.project_id,
        [("a.png", _png()), ("b.jpg", _jpeg()), ("c.tif", _tiff())],
    )
    assert len(report.ingested) == 3, [o.line() for o in report.outcomes]
    store = ImageStore.from_settings(settings)
    for case_id in report.case_ids:
        stored = store.read(session.get(Case, case_id).stored_path)
        assert SECRET.encode() not in stored


def test_broken_raster_is_refused_with_a_reason():
    with pytest.raises(ImageError, match="truncated PNG chunk"):
        clean_raster(_png()[:60], ".png", "cut.png")


# -- orientation and colour profile --------------------------------------------

#: An asymmetric picture, so any flip or rotation changes it.
COLOUR = np.stack([PIXELS, PIXELS[::-1], np.full_like(PIXELS, 77)], axis=-1)
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x013B] = SECRET  # Artist
    return exif


def _photo(fmt: str, orientation: int, pixels: np.ndarray = COLOUR, **kw) -> bytes:
    buf = BytesIO()
    Image.fromarray(pixels).save(buf, fmt, exif=_exif(orientation), icc_profile=ICC, **kw)
    return buf.getvalue()


def _app2(payload: bytes) -> bytes:
    return b"\xff\xe2" + (len(payload) + 2).to_bytes(2, "big") + payload


def test_jpeg_keeps_its_icc_profile_and_drops_other_app2_data():
    raw = _photo("JPEG", 1, quality=95)
    raw = raw[:2] + _app2(b"FPXR\0" + SECRET.encode()) + raw[2:]  # FlashPix data in APP2
    clean, suffix = clean_raster(raw, ".jpg", "x.jpg")
    assert suffix == ".jpg" and SECRET.encode() not in clean
    with Image.open(BytesIO(clean)) as im:
        assert im.info.get("icc_profile") == ICC
    np.testing.assert_array_equal(decode_any(raw, "raw").frames, decode_any(clean, "c").frames)


@pytest.mark.parametrize("orientation", [3, 6, 8, 2, 5])
@pytest.mark.parametrize("fmt, suffix", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_turned_photos_are_stored_turned_with_their_profile(fmt, suffix, orientation):
    raw = _photo(fmt, orientation, **({"quality": 95} if fmt == "JPEG" else {}))
    clean, stored_suffix = clean_raster(raw, suffix, "x" + suffix)
    assert stored_suffix == ".png" and clean.startswith(b"\x89PNG")
    assert SECRET.encode() not in clean
    before, after = decode_any(raw, "raw"), decode_any(clean, "clean")
    turned = COLOUR.shape[1::-1] if orientation >= 5 else COLOUR.shape[:2]  # 5-8 swap the sides
    assert before.frames.shape[1:3] == turned
    np.testing.assert_array_equal(before.frames, after.frames)  # the same pixels, same way up
    with Image.open(BytesIO(clean)) as im:
        assert im.info.get("icc_profile") == ICC and not im.getexif()


def test_turned_grey_jpeg_is_stored_as_grey_png():
    raw = _photo("JPEG", 6, pixels=PIXELS, quality=95)
    clean, suffix = clean_raster(raw, ".jpg", "x.jpg")
    assert suffix == ".png"
    before, after = decode_any(raw, "raw"), decode_any(clean, "clean")
    assert before.frames.shape == (1, 128, 96) and not after.is_color
    np.testing.assert_array_equal(before.frames, after.frames)


def test_turned_tiff_decodes_the_same_way_up():
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[274] = 6  # Orientation
    tags[315] = SECRET  # Artist
    buf = BytesIO()
    Image.fromarray(PIXELS.astype(np.uint16) * 200).save(buf, "TIFF", tiffinfo=tags)
    clean, suffix = clean_raster(buf.getvalue(), ".tif", "x.tif")
    assert suffix == ".tif" and SECRET.encode() not in clean
    before, after = decode_any(buf.getvalue(), "raw"), decode_any(clean, "clean")
    assert before.frames.shape == (1, 128, 96)
    np.testing.assert_array_equal(before.frames, after.frames)


def test_ingested_turned_jpeg_shows_as_uploaded(session, settings, imaging):
    raw = _photo("JPEG", 6, quality=95)
    report = ingest(session, settings, imaging.owner, imaging.project_id, [("turned.jpg", raw)])
    case = session.get(Case, report.case_ids[0])
    assert case.stored_path.endswith(".png") and case.original_name.endswith(".png")
    assert (case.rows, case.cols) == (COLOUR.shape[1], COLOUR.shape[0])  # portrait, as shown
    stored = ImageStore.from_settings(settings).read(case.stored_path)
    np.testing.assert_array_equal(
        decode_any(stored, "stored").frames, decode_any(raw, "upload").frames
    )
    # the same photo uploaded again is recognised, whichever way it is stored
    again = ingest(session, settings, imaging.owner, imaging.project_id, [("again.jpg", raw)])
    assert again.outcomes[0].status == "duplicate"


def test_data_after_the_jpeg_image_is_dropped():
    raw = _jpeg() + b"appended " + SECRET.encode()
    clean = clean_raster(raw, ".jpg", "tail.jpg")
    assert SECRET.encode() not in clean.data and clean.suffix == ".jpg"
    assert clean.data.endswith(b"\xff\xd9")
    np.testing.assert_array_equal(
        decode_any(clean.data, "c").frames, decode_any(_jpeg(), "j").frames
    )


def test_multi_picture_jpeg_keeps_every_picture_without_metadata():
    exif = Image.Exif()
    exif[0x013B] = SECRET
    first = Image.fromarray(np.stack([PIXELS] * 3, axis=-1))
    second = Image.fromarray(np.stack([PIXELS[::-1]] * 3, axis=-1))
    buf = BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], exif=exif)
    raw = buf.getvalue()
    assert SECRET.encode() in raw
    clean = clean_raster(raw, ".jpg", "stereo.jpg")
    assert SECRET.encode() not in clean.data and clean.suffix == ".tif"
    np.testing.assert_array_equal(decode_any(clean.data, "c").frames, decode_any(raw, "r").frames)
