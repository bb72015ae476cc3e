"""The browser reader's pixel payloads: built once per (image, case, size), and ahead.

The annotate page sends the next case's pixels at the end of each page run, so that
"Submit & next" finds them in the browser. Building them there (decode 10-40 ms,
reduce and encode 15-25 ms) put that work exactly when the browser draws the page,
on the same cores. Here a background worker builds the upcoming cases' payloads while
the reader reads, and a page run sends only what is ready. A payload is never built
twice at once: a page that needs one being built waits for it. A queued build starts
a moment after it was queued (``START_DELAY_S``), once the browser has drawn the page
that asked for it: on a two-core machine the two would otherwise share the cores.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from markit_core.config import Settings
from markit_core.errors import MarkitError
from markit_core.imaging.client_payload import DEFAULT_MAX_SIDE, PixelPayload, pixel_payload
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.stored import decoded_case_image

__all__ = ["PayloadCache", "case_payload", "payload_if_ready", "prepare_payloads"]

log = logging.getLogger(__name__)

Key = tuple[str, int, int]  # (stored path, case id, max side)
START_DELAY_S = 0.3


class PayloadCache:
    """A small thread-safe LRU of payloads, with one background builder."""

    def __init__(self, max_entries: int = 12, start_delay_s: float = START_DELAY_S) -> None:
        self._items: OrderedDict[Key, PixelPayload] = OrderedDict()
        self._max = max_entries
        self._delay = start_delay_s
        self._lock = threading.Lock()
        self._building: dict[Key, threading.Lock] = {}
        self._queued: set[Key] = set()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="markit-pixels")

    def ready(self, key: Key) -> PixelPayload | None:
        """The payload if it is built (nothing is built here)."""
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def get(self, key: Key, build: Callable[[], PixelPayload]) -> PixelPayload:
        """The payload, built now unless it is built or being built (then waited for)."""
        hit = self.ready(key)
        if hit is not None:
            return hit
        with self._lock:
            key_lock = self._building.setdefault(key, threading.Lock())
        try:
            with key_lock:
                hit = self.ready(key)
                if hit is None:
                    hit = build()
                    with self._lock:
                        self._items[key] = hit
                        while len(self._items) > self._max:
                            self._items.popitem(last=False)
                return hit
        finally:
            with self._lock:
                if self._building.get(key) is key_lock:
                    del self._building[key]

    def build_ahead(
        self, key: Key, build: Callable[[], PixelPayload], *, at_once: bool = False
    ) -> None:
        """Queue the payload for the background builder, unless it is built or on its way.

        ``at_once`` skips the start delay: for a case the next page run will show.
        """
        with self._lock:
            if key in self._items or key in self._queued or key in self._building:
                return
            self._queued.add(key)
        start = time.monotonic() + (0.0 if at_once else self._delay)
        self._worker.submit(self._build_queued, key, build, start)

    def _build_queued(self, key: Key, build: Callable[[], PixelPayload], start: float) -> None:
        try:
            time.sleep(max(0.0, start - time.monotonic()))
            self.get(key, build)
        except MarkitError:
            pass  # a broken or unreachable image: the case's own page run says so
        except Exception:  # noqa: BLE001 - a worker thread has nobody else to tell
            log.exception("building the pixels of %s ahead failed", key[0])
        finally:
            with self._lock:
                self._queued.discard(key)

    def clear(self) -> None:
        """Forget every built payload (queued builds still run)."""
        with self._lock:
            self._items.clear()

    def wait_idle(self) -> None:
        """Block until the queued builds are done (for tests and benchmarks)."""
        self._worker.submit(lambda: None).result()


_cache = PayloadCache()


def case_payload(
    stored_path: str, case_id: int, decoded: DecodedImage, *, max_side: int = DEFAULT_MAX_SIDE
) -> PixelPayload:
    """The payload of a case's decoded image: built once, shared by all sessions."""
    key = (stored_path, case_id, max_side)
    return _cache.get(key, lambda: pixel_payload(decoded, case_id, max_side=max_side))


def payload_if_ready(
    stored_path: str, case_id: int, *, max_side: int = DEFAULT_MAX_SIDE
) -> PixelPayload | None:
    """The payload if it has been built already (by a page or the background builder)."""
    return _cache.ready((stored_path, case_id, max_side))


def prepare_payloads(
    settings: Settings,
    cases: Iterable[tuple[int, str]],
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    at_once: bool = False,
) -> None:
    """Decode and build the payloads of ``(case id, stored path)`` in the background."""
    for case_id, stored_path in cases:

        def build(case_id: int = case_id, stored_path: str = stored_path) -> PixelPayload:
            decoded = decoded_case_image(settings, stored_path)
            return pixel_payload(decoded, case_id, max_side=max_side)

        _cache.build_ahead((stored_path, case_id, max_side), build, at_once=at_once)


def default_payload_cache() -> PayloadCache:
    """The process-wide cache behind the module functions (for tests)."""
    return _cache
