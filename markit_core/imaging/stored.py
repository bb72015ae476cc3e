"""Decoded pixels of a case's image, through the process-wide LRU cache.

The annotate viewer, the review pages and AI all load a case's pixels through
here, so an image is decoded once per process however many pages, columns or
window changes ask for it. This is also the one place that tells the two kinds
of case apart: a file in the local image store, or an image left in a
registered archive (``archive/...``, fetched and cached by
:mod:`markit_core.imaging.archive_images`).
"""

from __future__ import annotations

from markit_core.config import Settings
from markit_core.imaging.cache import get_decoded
from markit_core.imaging.decode import decode_any
from markit_core.imaging.decoded import DecodedImage
from markit_core.imaging.store import ImageStore


def decoded_case_image(settings: Settings, stored_path: str) -> DecodedImage:
    """The decoded image of a case (``Case.stored_path``), from the cache.

    Raises
    ------
    ImageError, NotFoundError
        The stored file is unreadable or missing.
    SourceError
        The case's image is left in an archive that cannot be reached now.
    """
    from markit_core.imaging.archive_images import archive_image, is_archive_path

    if is_archive_path(stored_path):
        return get_decoded(stored_path, lambda: archive_image(settings, stored_path))
    store = ImageStore.from_settings(settings)
    return get_decoded(
        stored_path, lambda: decode_any(store.path_of(stored_path), name=stored_path)
    )
