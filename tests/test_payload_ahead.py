"""Pixel payloads built once, ahead of need, in the background."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from markit_core.errors import ImageError
from markit_core.imaging.client_payload import PixelPayload, pixel_payload, read_header
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.payload_ahead import (
    PayloadCache,
    case_payload,
    default_payload_cache,
    payload_if_ready,
    prepare_payloads,
)
from markit_core.imaging.store import ImageStore
from tests.imaging_fixtures import dicom_bytes, identified_dicom


def _image(seed: int = 0) -> DecodedImage:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 4096, (1, 64, 80)).astype(np.float32)
    return DecodedImage(
        name="case.dcm", frames=frames, photometric="MONOCHROME2", value_range=(0.0, 4095.0)
    )


def _counting(image: DecodedImage, calls: list[int], pause: float = 0.0):
    def build() -> PixelPayload:
        calls.append(1)
        time.sleep(pause)
        return pixel_payload(image, 5)

    return build


def test_built_once_when_asked_at_the_same_time() -> None:
    cache, calls = PayloadCache(start_delay_s=0), []
    build = _counting(_image(), calls, pause=0.05)
    got: list[PixelPayload] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(("a", 5, 64), build)))]
    threads += [threading.Thread(target=lambda: got.append(cache.get(("a", 5, 64), build)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert got[0] is got[1]


def test_built_ahead_then_ready_without_building_again() -> None:
    cache, calls = PayloadCache(start_delay_s=0), []
    build = _counting(_image(), calls)
    assert cache.ready(("a", 5, 64)) is None
    cache.build_ahead(("a", 5, 64), build)
    cache.build_ahead(("a", 5, 64), build)  # queued already: not twice
    cache.wait_idle()
    ready = cache.ready(("a", 5, 64))
    assert ready is not None and read_header(ready.data)["case"] == 5
    assert cache.get(("a", 5, 64), build) is ready
    cache.build_ahead(("a", 5, 64), build)  # built: nothing queued
    cache.wait_idle()
    assert len(calls) == 1


def test_a_queued_build_waits_for_the_page_to_be_drawn() -> None:
    cache, calls = PayloadCache(start_delay_s=0.2), []
    cache.build_ahead(("a", 5, 64), _counting(_image(), calls))
    time.sleep(0.05)
    assert calls == []  # not started yet
    cache.wait_idle()
    assert calls == [1]


def test_a_failed_build_leaves_nothing_and_can_be_tried_again() -> None:
    cache = PayloadCache(start_delay_s=0)

    def broken() -> PixelPayload:
        raise ImageError("case.dcm: not a DICOM file")

    cache.build_ahead(("bad", 1, 64), broken)
    cache.wait_idle()
    assert cache.ready(("bad", 1, 64)) is None
    with pytest.raises(ImageError, match="not a DICOM"):
        cache.get(("bad", 1, 64), broken)


def test_least_recently_used_goes_first() -> None:
    cache = PayloadCache(max_entries=2, start_delay_s=0)
    for name in ("a", "b"):
        cache.get((name, 1, 64), lambda: pixel_payload(_image(), 1))
    cache.ready(("a", 1, 64))  # used: b is now the oldest
    cache.get(("c", 1, 64), lambda: pixel_payload(_image(), 1))
    assert cache.ready(("b", 1, 64)) is None
    assert cache.ready(("a", 1, 64)) is not None


def test_prepare_payloads_decodes_stored_files(settings) -> None:
    """The module functions on a real stored DICOM file, as the annotate page uses them."""
    stored = ImageStore.from_settings(settings).put(dicom_bytes(identified_dicom()), ".dcm")
    prepare_payloads(settings, [(41, stored.relpath)])
    default_payload_cache().wait_idle()
    ready = payload_if_ready(stored.relpath, 41)
    assert ready is not None and read_header(ready.data)["case"] == 41
    assert (read_header(ready.data)["cols"], read_header(ready.data)["rows"]) == (64, 64)
    assert case_payload(stored.relpath, 41, _image()) is ready  # built: the image is not used again


def test_at_once_skips_the_start_delay() -> None:
    cache, calls = PayloadCache(start_delay_s=5.0), []
    cache.build_ahead(("a", 5, 64), _counting(_image(), calls), at_once=True)
    cache.wait_idle()  # would take 5 s with the delay
    assert calls == [1]
