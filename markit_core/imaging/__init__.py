"""Imaging: decode DICOM and ordinary raster images, and render them for display.

Modules (import the one you need; this package imports nothing heavy):

- ``decoded``: the :class:`~markit_core.imaging.decoded.DecodedImage` value type.
- ``decode``: ``decode_dicom``, ``decode_raster`` and ``decode_any`` (bytes or path
  to a ``DecodedImage``; every failure is an ``ImageError`` naming the file).
- ``display``: window/level presets, zoom/pan mapping and the pure ``render``.
- ``cache``: a thread-safe, byte-bounded LRU of decoded images.
- ``limits`` / ``dicom_walk``: hostile-input checks run before anything is decoded.
- ``recovery``: removes what a crashed ingest left in the image store.
- ``dicom_prepare``: the checks, de-identification and decoding every DICOM file takes.
- ``reference`` / ``archive_images`` / ``archive_cache`` / ``archive_prefetch``: cases whose
  images stay in a registered DICOMweb archive, fetched on view into a size-limited cache
  and ahead of the reader; ``stored.decoded_case_image`` resolves both kinds of case.
"""
