"""Errors of the AI-assist code (all ``MarkitError``, so pages show them with st.error)."""

from __future__ import annotations

from markit_core.errors import MarkitError, NotFoundError


class ModelNotFound(NotFoundError):
    """A model name or version that the registry does not know."""

    default_message = "model not found"


class WeightsError(MarkitError):
    """A weights file that is missing, corrupt, not the listed one, or for another architecture."""

    default_message = "model weights cannot be loaded"


class InferenceInputError(MarkitError):
    """An image the model cannot take (wrong shape, colour, empty)."""

    default_message = "image cannot be used by this model"


class InferenceError(MarkitError):
    """The model server failed to answer: down, too slow, an HTTP error or a malformed reply.

    The message names the server URL and what failed; nothing was stored.
    """

    default_message = "the model server did not answer"
