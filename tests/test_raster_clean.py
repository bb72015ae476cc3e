"""Ordinary images lose their embedded metadata on ingest; their pixels do not change."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin
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
    Image.fromarray(np.stack([PIXELS] * 3, axis=-1)).save(buf, "JPEG", exif=exif, quality=90,
                                                          comment=SECRET.encode())
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
    clean = clean_raster(raw, suffix, "x" + suffix)
    assert SECRET.encode() not in clean
    before, after = decode_any(raw, "raw"), decode_any(clean, "clean")
    np.testing.assert_array_equal(before.frames, after.frames)


def test_ingested_rasters_are_stored_clean(session, settings, imaging):
    report = ingest(session, settings, imaging.owner, imaging.project_id,
                    [("a.png", _png()), ("b.jpg", _jpeg()), ("c.tif", _tiff())])
    assert len(report.ingested) == 3, [o.line() for o in report.outcomes]
    store = ImageStore.from_settings(settings)
    for case_id in report.case_ids:
        stored = store.read(session.get(Case, case_id).stored_path)
        assert SECRET.encode() not in stored


def test_broken_raster_is_refused_with_a_reason():
    with pytest.raises(ImageError, match="truncated PNG chunk"):
        clean_raster(_png()[:60], ".png", "cut.png")
