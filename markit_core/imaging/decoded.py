"""The decoded-image value type shared by the decoders and the display pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markit_core.errors import ImageError


@dataclass(frozen=True, eq=False)
class VoiLut:
    """A VOI LUT from the header, pre-scaled to 8-bit display values.

    Attributes
    ----------
    first_mapped : int
        The modality value that maps to the first table entry (LUT Descriptor[1]).
        Values below it take the first entry, values past the end the last one,
        exactly as :func:`pydicom.pixels.apply_voi` does.
    table : numpy.ndarray
        ``uint8`` display values, one per LUT entry, stretched from the LUT data's
        own min..max so LUTs that under-use their nominal bit depth still show.
    explanation : str
        LUT Explanation (0028,3003), empty if absent.
    """

    first_mapped: int
    table: np.ndarray
    explanation: str = ""

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Map modality values (any real dtype) to ``uint8`` display values."""
        idx = np.subtract(values, self.first_mapped, dtype=np.float32)
        np.clip(idx, 0, self.table.shape[0] - 1, out=idx)
        return self.table[idx.astype(np.intp)]

    def approx_window(self) -> tuple[float, float]:
        """A (center, width) spanning the LUT's input range, for window sliders."""
        n = float(self.table.shape[0])
        return self.first_mapped + n / 2.0, max(n, 1.0)


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """Pixels ready for display plus the header facts the viewer needs.

    Greyscale images hold ``float32`` frames in modality units (rescale slope and
    intercept, or the Modality LUT, already applied) so windows from the header,
    from presets and from the user all act on the same numbers. Colour images
    (RGB, YBR converted to RGB, palette colour expanded) hold ``uint8`` RGB.
    Arrays are made read-only so a cached image cannot be altered by a caller.

    Attributes
    ----------
    name : str
        File name (or caller-supplied label) used in error messages.
    frames : numpy.ndarray
        ``(n_frames, rows, cols)`` float32, or ``(n_frames, rows, cols, 3)`` uint8.
    photometric : str
        Photometric interpretation of ``frames`` (``MONOCHROME1``, ``MONOCHROME2``
        or ``RGB``); ``source_photometric`` keeps what the file declared.
    source_kind : str
        ``"dicom"`` or ``"raster"``.
    window_center, window_width : float | None
        First Window Center/Width from the header (modality units), if any.
    voi_lut : VoiLut | None
        First VOI LUT Sequence item, if any (preferred over the window, as pydicom's
        ``apply_voi_lut(prefer_lut=True)`` does).
    voi_function : str
        VOI LUT Function: ``LINEAR`` (default), ``LINEAR_EXACT`` or ``SIGMOID``.
    invert_for_display : bool
        True for MONOCHROME1: low values are shown white.
    bits_stored : int | None
        Bits Stored (raster: bits per sample).
    value_range : tuple[float, float]
        Min and max over all frames (0..255 for colour); bounds for window sliders.
    modality, view_position, body_part, sop_class_uid : str | None
        Display metadata from the header (None for rasters or when absent).
    pixel_spacing : tuple[float, float] | None
        (row, column) spacing in mm from Pixel Spacing or Imager Pixel Spacing.
    """

    name: str
    frames: np.ndarray
    photometric: str
    source_kind: str = "dicom"
    source_photometric: str = ""
    window_center: float | None = None
    window_width: float | None = None
    voi_lut: VoiLut | None = None
    voi_function: str = "LINEAR"
    invert_for_display: bool = False
    bits_stored: int | None = None
    value_range: tuple[float, float] = (0.0, 0.0)
    modality: str | None = None
    view_position: str | None = None
    body_part: str | None = None
    sop_class_uid: str | None = None
    pixel_spacing: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        self.frames.flags.writeable = False

    @property
    def n_frames(self) -> int:
        """Number of frames (1 for single-frame images)."""
        return int(self.frames.shape[0])

    @property
    def rows(self) -> int:
        """Image height in pixels."""
        return int(self.frames.shape[1])

    @property
    def cols(self) -> int:
        """Image width in pixels."""
        return int(self.frames.shape[2])

    @property
    def is_color(self) -> bool:
        """True for RGB frames (window/level does not apply)."""
        return self.frames.ndim == 4

    @property
    def nbytes(self) -> int:
        """Bytes held by the pixel array (what the LRU cache counts)."""
        return int(self.frames.nbytes)

    @property
    def header_window(self) -> tuple[float, float] | None:
        """(center, width) from the header, or None when the header has none."""
        if self.window_center is None or self.window_width is None:
            return None
        return self.window_center, self.window_width

    def frame(self, index: int = 0) -> np.ndarray:
        """Return one frame, raising ``ImageError`` when ``index`` is out of range.

        Parameters
        ----------
        index : int
            Zero-based frame number.
        """
        if not 0 <= index < self.n_frames:
            raise ImageError(
                f"{self.name}: frame {index} out of range (the image has {self.n_frames})"
            )
        return self.frames[index]
