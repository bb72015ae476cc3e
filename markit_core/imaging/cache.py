"""A thread-safe LRU of decoded images, bounded by total pixel bytes.

Decoding a compressed 2048x2500 radiograph takes tens of milliseconds; moving the
window slider must not pay that again. Streamlit reruns a page script on every
widget change, in one thread per session, so the cache is process-wide, keyed by
the image's content hash, and guarded by a lock. Concurrent requests for the same
key decode once: later callers wait for the first loader instead of duplicating it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.store import sha256_hex as content_key  # the one content hash

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ImageCache",
    "configure_cache",
    "content_key",
    "default_cache",
    "get_decoded",
]

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: ~50 decoded 2048x2500 float32 radiographs


class ImageCache:
    """Least-recently-used cache of :class:`DecodedImage`, bounded by bytes.

    Parameters
    ----------
    max_bytes : int
        Upper bound on the sum of ``DecodedImage.nbytes`` held. An image larger
        than the bound is returned but not kept.

    Attributes
    ----------
    hits, misses, evictions : int
        Counters (for tests and the stats page).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self._items: OrderedDict[str, DecodedImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    @property
    def current_bytes(self) -> int:
        """Bytes currently held."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: str, loader: Callable[[], DecodedImage]) -> DecodedImage:
        """Return the cached image for ``key``, calling ``loader`` on a miss.

        Parameters
        ----------
        key : str
            Content hash of the source file (see :func:`content_key`).
        loader : Callable[[], DecodedImage]
            Decodes the image; called at most once per key at a time, outside the
            cache-wide lock so other keys are served meanwhile. Its exceptions
            (e.g. ``ImageError``) propagate and nothing is cached.
        """
        with self._lock:
            found = self._lookup(key)
            if found is not None:
                return found
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                found = self._lookup(key)  # another thread may have loaded it
                if found is not None:
                    return found
                self.misses += 1
            try:
                value = loader()
                with self._lock:
                    self._store(key, value)
                return value
            finally:
                with self._lock:
                    if self._loading.get(key) is key_lock:
                        del self._loading[key]

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = self.evictions = 0

    def _lookup(self, key: str) -> DecodedImage | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
            self.hits += 1
        return value

    def _store(self, key: str, value: DecodedImage) -> None:
        size = value.nbytes
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old.nbytes
        while self._items and self._bytes + size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= evicted.nbytes
            self.evictions += 1
        self._items[key] = value
        self._bytes += size


_default = ImageCache()
_default_guard = threading.Lock()


def default_cache() -> ImageCache:
    """The process-wide cache used by :func:`get_decoded`."""
    return _default


def configure_cache(max_bytes: int) -> ImageCache:
    """Replace the process-wide cache with an empty one bounded by ``max_bytes``."""
    global _default
    with _default_guard:
        _default = ImageCache(max_bytes)
        return _default


def get_decoded(key: str, loader: Callable[[], DecodedImage]) -> DecodedImage:
    """Get a decoded image from the process-wide cache, decoding it on a miss.

    Parameters
    ----------
    key : str
        Content hash of the source file.
    loader : Callable[[], DecodedImage]
        Called on a miss, e.g. ``lambda: decode_any(path)``.
    """
    return _default.get(key, loader)
