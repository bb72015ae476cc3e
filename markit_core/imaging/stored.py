"""Decoded pixels of a stored case image, through the process-wide LRU cache.

The annotate viewer and the review pages both show stored cases; loading
through here means an image is decoded once per process however many pages,
columns or window changes ask for it.
"""

from __future__ import annotations

from markit_core.config import Settings
from markit_core.imaging.cache import get_decoded
from markit_core.imaging.decode import decode_any
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.store import ImageStore


def decoded_case_image(settings: Settings, stored_path: str) -> DecodedImage:
    """The decoded image stored at ``stored_path`` (``Case.stored_path``), from the cache."""
    store = ImageStore.from_settings(settings)
    return get_decoded(
        stored_path, lambda: decode_any(store.path_of(stored_path), name=stored_path)
    )
