"""Serving MarkIt's models on a model server (MLServer, Open Inference Protocol / KServe v2).

``protocol`` is the tensor layout both sides share (no mlserver import); ``config`` writes
the model repository ``mlserver start DIR`` serves; ``runtime`` is the MLServer runtime
(imports mlserver, so only the server host loads it). The app's client is
:mod:`markit_core.inference.remote`.
"""

from __future__ import annotations

from markit_core.inference.serving.config import (
    ServedModel,
    select_models,
    write_serve_config,
)
from markit_core.inference.serving.protocol import (
    ProtocolError,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    model_path,
)

__all__ = [
    "ProtocolError",
    "ServedModel",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "model_path",
    "select_models",
    "write_serve_config",
]
