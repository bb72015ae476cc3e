"""Stored case pixels -> the tensor a model takes.

The same rule for every source, so a DICOM and a PNG of the same pixels give the
same tensor:

1. greyscale frame in modality units (colour images: ITU-R 601 luma);
2. scaled to [0, 1] by the nominal range of Bits Stored (``value / (2**bits - 1)``),
   or by the image's own min..max when values fall outside that range (signed or
   rescaled data); MONOCHROME1 inverted so 1 is always dense/white;
3. resized (stretched, bilinear with antialiasing) to the model's input size, so a
   Grad-CAM map at input size maps back onto the whole image by a plain scale;
4. the model's intensity range: [0, 1], or torchxrayvision's [-1024, 1024].
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from markit_core.config import Settings
from markit_core.imaging.decoded import DecodedImage
from markit_core.inference.base import InputSpec, Normalisation
from markit_core.inference.errors import InferenceInputError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def unit_image(decoded: DecodedImage, frame: int = 0) -> np.ndarray:
    """Steps 1-2: the frame as float32 (rows, cols) in [0, 1], 1 = white on display.

    Raises
    ------
    InferenceInputError
        An empty image.
    """
    pixels = decoded.frame(frame)
    if pixels.size == 0:
        raise InferenceInputError(f"{decoded.name}: empty image")
    if decoded.is_color:
        return (pixels.astype(np.float32) @ _LUMA) / 255.0
    values = pixels.astype(np.float32, copy=False)
    lo, hi = float(values.min()), float(values.max())
    top = float(2 ** (decoded.bits_stored or 16) - 1)
    in_range = lo >= 0.0 and hi <= top
    unit = values / top if in_range else (values - lo) / max(hi - lo, 1e-6)
    if decoded.invert_for_display:
        unit = 1.0 - unit
    return np.clip(unit, 0.0, 1.0).astype(np.float32, copy=False)


def resize_unit(unit: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Step 3: stretch a [0, 1] float image to ``size`` = (rows, cols)."""
    rows, cols = size
    if unit.shape == (rows, cols):
        return unit.astype(np.float32, copy=True)
    resized = Image.fromarray(unit.astype(np.float32, copy=False), mode="F").resize(
        (cols, rows), Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.float32)


def to_model_range(unit: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Step 4 plus channels: ``(C, H, W)`` float32 in the model's intensity range."""
    out = unit if spec.normalisation is Normalisation.UNIT else (unit * 2.0 - 1.0) * 1024.0
    out = out.astype(np.float32, copy=False)[None]
    return np.repeat(out, spec.channels, axis=0) if spec.channels > 1 else out


def preprocess(decoded: DecodedImage, spec: InputSpec, frame: int = 0) -> np.ndarray:
    """A decoded image as the ``(C, H, W)`` float32 array a model with ``spec`` takes.

    Parameters
    ----------
    decoded : DecodedImage
        From :func:`markit_core.imaging.stored.decoded_case_image` or ``decode_any``.
    spec : InputSpec
        The model's input size, channels and intensity range.
    frame : int
        Frame of a multi-frame image.
    """
    return to_model_range(resize_unit(unit_image(decoded, frame), spec.size), spec)


def preprocess_array(brightness: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Same as :func:`preprocess` for a [0, 1] brightness array (training on drawn images)."""
    return to_model_range(resize_unit(np.clip(brightness, 0.0, 1.0), spec.size), spec)


def preprocess_case(
    settings: Settings, stored_path: str, spec: InputSpec, frame: int = 0
) -> np.ndarray:
    """A stored case (``Case.stored_path``) through the decoded-image cache, preprocessed."""
    from markit_core.imaging.stored import decoded_case_image

    return preprocess(decoded_case_image(settings, stored_path), spec, frame)
