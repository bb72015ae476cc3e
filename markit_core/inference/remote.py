"""Inference on a model server: an InferTask whose forward passes run behind a URL.

With ``MARKIT_INFERENCE_URL`` set, the AI services take their model from
:func:`remote_task` instead of loading it: a :class:`RemoteTask` sends the preprocessed
tensor (made here exactly as in process) to a server speaking the Open Inference Protocol
(KServe v2 REST; MLServer with :mod:`markit_core.inference.serving.runtime`) and reads
back the outputs and Grad-CAM maps. Plain ``requests``: a connect timeout, an overall
answer deadline, no retries. Whatever goes wrong becomes an :class:`InferenceError` that
names the server and what failed, so a page shows a message instead of hanging.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
import urllib3

from markit_core.config import Settings
from markit_core.inference import registry
from markit_core.inference.base import ModelInfo
from markit_core.inference.errors import InferenceError, InferenceInputError
from markit_core.inference.serving.protocol import (
    ProtocolError,
    check_metadata,
    decode_response,
    encode_request,
    model_path,
)

__all__ = ["ModelServerClient", "RemoteTask", "remote_task", "clear_remote_cache"]

MAX_ANSWER_BYTES = 256 * 1024 * 1024
_ERROR_TEXT_CHARS = 300


def _display_url(url: str) -> str:
    """The URL without credentials (messages are shown to users and logged)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class ModelServerClient:
    """The few Open Inference Protocol calls MarkIt makes, with bounded waits.

    Parameters
    ----------
    url : str
        ``http(s)://host:port`` (optionally a path prefix) of the server.
    timeout : float
        Longest wait in seconds for a whole answer (``MARKIT_INFERENCE_TIMEOUT_SECONDS``).
    connect_timeout : float
        Longest wait to open the connection (``MARKIT_INFERENCE_CONNECT_TIMEOUT_SECONDS``).
    """

    def __init__(self, url: str, *, timeout: float = 60.0, connect_timeout: float = 5.0) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InferenceError(
                f"MARKIT_INFERENCE_URL must be an http:// or https:// URL with a host, "
                f"got {_display_url(url) if parts.hostname else 'something else'}"
            )
        self.url = url.strip().rstrip("/")
        self.shown = _display_url(self.url)
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self._http = requests.Session()
        self._http.trust_env = False  # a proxy from the environment must not see images

    def ready(self) -> None:
        """Check ``GET /v2/health/ready``; raises :class:`InferenceError` unless ready."""
        status, text, _ = self._request("GET", "/v2/health/ready", "the readiness check")
        if status != 200:
            raise InferenceError(
                f"model server at {self.shown} is not ready (HTTP {status}{_said(text)})"
            )

    def metadata(self, name: str, version: str) -> Any:
        """The model's metadata (``GET /v2/models/{name}/versions/{version}``)."""
        return self._json("GET", model_path(name, version), f"{name}@{version} metadata")

    def infer(self, name: str, version: str, body: Mapping[str, Any]) -> Any:
        """``POST .../infer`` with a request body; the decoded JSON answer."""
        what = f"{name}@{version} inference"
        return self._json("POST", model_path(name, version) + "/infer", what, body)

    def _json(self, method: str, path: str, what: str, body: Any = None) -> Any:
        status, text, raw = self._request(method, path, what, body)
        if status == 404:
            raise InferenceError(
                f"model server at {self.shown} does not serve {what.rsplit(' ', 1)[0]} "
                f"(HTTP 404{_said(text)}): regenerate its config with "
                "`python -m markit_core serve-config` and restart it"
            )
        if status != 200:
            raise InferenceError(
                f"model server at {self.shown} answered HTTP {status} to {what}{_said(text)}"
            )
        try:
            return json.loads(raw)
        except ValueError as e:
            raise InferenceError(
                f"model server at {self.shown} sent a malformed answer to {what}: not JSON"
            ) from e

    def _request(
        self, method: str, path: str, what: str, body: Any = None
    ) -> tuple[int, str, bytes]:
        deadline = time.monotonic() + self.timeout
        reading = False
        try:
            with self._http.request(
                method,
                self.url + path,
                json=body,
                timeout=(self.connect_timeout, self.timeout),
                stream=True,
                allow_redirects=False,
            ) as resp:
                reading = True
                raw = self._read(resp, deadline, what)
                return resp.status_code, _error_text(resp, raw), raw
        except requests.exceptions.ConnectTimeout as e:
            raise InferenceError(
                f"model server at {self.shown} did not accept a connection within "
                f"{self.connect_timeout:g} s ({what})"
            ) from e
        except requests.exceptions.ReadTimeout as e:
            raise self._too_slow(what) from e
        except requests.exceptions.ConnectionError as e:
            if "timed out" in str(e).lower():
                raise self._too_slow(what) from e
            if reading:
                raise InferenceError(
                    f"model server at {self.shown} broke off its answer to {what} ({_reason(e)})"
                ) from e
            raise InferenceError(
                f"model server at {self.shown} is not reachable ({_reason(e)}); is it running?"
            ) from e
        except requests.exceptions.RequestException as e:
            raise InferenceError(
                f"model server at {self.shown}: {what} failed ({_reason(e)})"
            ) from e

    def _read(self, resp: requests.Response, deadline: float, what: str) -> bytes:
        """The body, read as it comes (``read1``), each wait bounded by the time left."""
        chunks: list[bytes] = []
        size = 0
        raw = resp.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._too_slow(what)
            if sock is not None:
                sock.settimeout(left)
            try:
                chunk = raw.read1(1 << 16, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError as e:
                raise self._too_slow(what) from e
            except urllib3.exceptions.HTTPError as e:
                raise InferenceError(
                    f"model server at {self.shown} broke off its answer to {what} "
                    f"({type(e).__name__})"
                ) from e
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise InferenceError(
                    f"model server at {self.shown} sent more than "
                    f"{MAX_ANSWER_BYTES >> 20} MB for {what}"
                )
            chunks.append(chunk)

    def _too_slow(self, what: str) -> InferenceError:
        return InferenceError(
            f"model server at {self.shown} did not answer {what} within {self.timeout:g} s "
            "(MARKIT_INFERENCE_TIMEOUT_SECONDS)"
        )


def _error_text(resp: requests.Response, raw: bytes) -> str:
    if resp.status_code == 200:
        return ""
    text = raw[: 4 * _ERROR_TEXT_CHARS].decode("utf-8", errors="replace")
    try:
        data = json.loads(raw)
        if isinstance(data, Mapping) and data.get("error"):
            text = str(data["error"])
    except ValueError:
        pass
    text = " ".join(text.split())
    return text[:_ERROR_TEXT_CHARS] + ("..." if len(text) > _ERROR_TEXT_CHARS else "")


def _said(text: str) -> str:
    return f": {text}" if text else ""


def _reason(e: Exception) -> str:
    text = str(e)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "host name not found"
    return type(e).__name__


class RemoteTask:
    """An :class:`~markit_core.inference.base.InferTask` whose model runs on the server.

    The first call checks that the server is ready and serves this exact version (same
    input shape and labels); later calls only infer.
    """

    def __init__(self, client: ModelServerClient, info: ModelInfo) -> None:
        self.client = client
        self._info = info
        self._checked = False
        self._lock = threading.Lock()

    def info(self) -> ModelInfo:
        """Name, version, task type, labels and input spec (from this app's registry)."""
        return self._info

    def check(self) -> None:
        """Readiness and metadata check (once; repeated after a failure)."""
        with self._lock:
            if self._checked:
                return
            self.client.ready()
            meta = self.client.metadata(self._info.name, self._info.version)
            try:
                check_metadata(meta, self._info)
            except ProtocolError as e:
                raise InferenceError(f"model server at {self.client.shown}: {e}") from e
            self._checked = True

    def __call__(self, batch: Any) -> np.ndarray:
        """Outputs ``(N, L)`` for a preprocessed batch ``(N, C, H, W)``."""
        x = self._as_batch(batch)
        outputs, _ = self._infer(x, ())
        return outputs

    def explain(self, image: Any, label_indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Outputs ``(L,)`` and Grad-CAM maps ``(K, H, W)``, from one request."""
        x = self._as_batch(image)
        if x.shape[0] != 1:
            raise InferenceInputError(f"explain takes one image, got a batch of {x.shape[0]}")
        n_labels = len(self._info.labels)
        indices = [int(i) for i in label_indices]
        if not indices or any(not 0 <= i < n_labels for i in indices):
            raise InferenceInputError(
                f"{self._info.key}: label indices {indices} out of range 0..{n_labels - 1}"
            )
        outputs, cams = self._infer(x, [self._info.labels[i] for i in indices])
        assert cams is not None  # decode_response checked it is there
        return outputs[0], np.clip(cams, 0.0, 1.0)

    def _infer(self, x: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        self.check()
        body = {"id": uuid.uuid4().hex, **encode_request(x, labels)}
        answer = self.client.infer(self._info.name, self._info.version, body)
        try:
            return decode_response(answer, self._info, x.shape[0], len(labels))
        except ProtocolError as e:
            raise InferenceError(
                f"model server at {self.client.shown} sent a malformed answer to "
                f"{self._info.key} inference: {e}"
            ) from e

    def _as_batch(self, batch: Any) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim == 3:
            x = x[None]
        spec = self._info.input
        want = (spec.channels, *spec.size)
        if x.ndim != 4 or tuple(x.shape[1:]) != want or x.shape[0] < 1:
            raise InferenceInputError(
                f"{self._info.key} takes (N, {want[0]}, {want[1]}, {want[2]}) tensors, "
                f"got {tuple(x.shape)}"
            )
        return x


_cache_lock = threading.Lock()
_cache: dict[tuple[str, float, float, str, str], RemoteTask] = {}


def remote_task(settings: Settings, name: str, version: str) -> RemoteTask:
    """The model version on ``settings.inference_url`` (one client per process and version).

    Raises
    ------
    InferenceError
        No URL configured, or not an http(s) URL.
    ModelNotFound
        The version is not in this app's registry.
    """
    if not settings.inference_url:
        raise InferenceError("no model server configured (MARKIT_INFERENCE_URL is not set)")
    info = registry.entry(name, version).info
    key = (
        settings.inference_url,
        float(settings.inference_timeout_seconds),
        float(settings.inference_connect_timeout_seconds),
        info.name,
        info.version,
    )
    with _cache_lock:
        task = _cache.get(key)
        if task is None or task.info() != info:
            client = ModelServerClient(
                settings.inference_url,
                timeout=settings.inference_timeout_seconds,
                connect_timeout=settings.inference_connect_timeout_seconds,
            )
            task = _cache[key] = RemoteTask(client, info)
    return task


def clear_remote_cache() -> None:
    """Forget the clients (tests; after the server's models changed)."""
    with _cache_lock:
        _cache.clear()
