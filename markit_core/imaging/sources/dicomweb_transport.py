"""What the DICOMweb client does when the network or the archive misbehaves.

Two pieces under :class:`~markit_core.imaging.sources.dicomweb.DicomWebSource`:

- :class:`BoundedRetry`, urllib3's retry policy with the rules that make a
  retry safe: answers 429 / 503 are retried (the server says it did nothing),
  honouring ``Retry-After`` as long as the waits of one request stay within a
  budget, else the client gives up at once instead of hanging a page; a
  connection dropped before any answer is retried for idempotent requests
  (GET, HEAD) only, never for a STOW-RS POST; a refused connection, a timeout
  and every other status (401, 404, 500) are reported at once.
- :class:`StrictDICOMwebClient`, dicomweb-client's client with a strict
  multipart reader: an answer that ends before its closing boundary is an
  error (:class:`TruncatedAnswer`), not a shorter study. dicomweb-client's own
  reader returns whatever parts arrived, so a study cut off after its first
  instance looked complete, and a part cut in the middle was parsed as an
  instance.

And the messages for what went wrong on the way: :func:`connection_error`
(down, dropped without an answer, stalled mid-answer) and :func:`cut_off_error`.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

import requests
from dicomweb_client.api import DICOMwebClient
from urllib3.exceptions import InvalidHeader, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from markit_core.errors import SourceError

__all__ = [
    "IDEMPOTENT",
    "BoundedRetry",
    "StrictDICOMwebClient",
    "TruncatedAnswer",
    "connection_error",
    "cut_off_error",
]

#: Methods that may be sent again after a connection dropped without an answer.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


class BoundedRetry(Retry):
    """urllib3 retry with a budget for the waits of one request, and safe read retries.

    Parameters
    ----------
    max_wait : float
        Seconds one request may spend waiting between its attempts (the sum of
        the ``Retry-After`` values and back-offs). A retry whose wait would go
        past it is not made: the last answer (e.g. 429) is reported instead.
    waited : float
        Seconds already waited (urllib3 makes a new object per attempt).
    *args, **kwargs
        As for ``urllib3.util.retry.Retry``.
    """

    def __init__(self, *args: Any, max_wait: float = 60.0, waited: float = 0.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.max_wait = float(max_wait)
        self.waited = float(waited)

    def new(self, **kw: Any) -> BoundedRetry:
        kw.setdefault("max_wait", self.max_wait)
        kw.setdefault("waited", self.waited)
        return super().new(**kw)

    def get_retry_after(self, response: Any) -> float | None:
        """The server's ``Retry-After`` in seconds; None when absent or unreadable."""
        try:
            return super().get_retry_after(response)
        except InvalidHeader:
            return None

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> BoundedRetry:
        # too slow: trying again would multiply the wait; not idempotent: the
        # server may have acted on the request before the connection dropped
        if error is not None and self._unsafe_to_repeat(method, error):
            raise error.with_traceback(_stacktrace)
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = self._planned_wait(new, response)
        if self.waited + wait > self.max_wait:
            raise MaxRetryError(
                _pool,
                url or "",
                ResponseError(
                    f"the next attempt would wait {wait:.0f} s, past the "
                    f"{self.max_wait:.0f} s this client waits for one request"
                ),
            )
        return new.new(waited=self.waited + wait)

    def _unsafe_to_repeat(self, method: str | None, error: Exception) -> bool:
        if not self._is_read_error(error):
            return False
        return isinstance(error, ReadTimeoutError) or (method or "").upper() not in IDEMPOTENT

    def _planned_wait(self, new: Retry, response: Any) -> float:
        """What urllib3's ``sleep`` will wait before the next attempt (no jitter is set)."""
        if self.respect_retry_after_header and response is not None:
            after = self.get_retry_after(response)
            if after:
                return after
        return new.get_backoff_time()


class TruncatedAnswer(ValueError):
    """A multipart answer ended before its closing boundary: parts are missing."""

    def __init__(self, parts: int) -> None:
        super().__init__(
            f"truncated: the multipart answer ended before its closing boundary, after {parts} "
            "complete part(s)"
        )
        self.parts = parts


def _boundary(content_type: str) -> bytes | None:
    for item in content_type.split(";")[1:]:
        attr, _, value = item.strip().partition("=")
        if attr.lower() == "boundary":
            return value.strip().strip('"').encode("utf-8")
    return None


def _content(segment: bytes) -> bytes:
    """The body of one part: what follows its header block."""
    end = segment.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError("a multipart part has no end of its headers (CRLF CRLF)")
    return segment[end + 4 :]


class StrictDICOMwebClient(DICOMwebClient):
    """dicomweb-client's ``DICOMwebClient`` whose multipart reader refuses truncated answers."""

    def _decode_multipart_message(
        self, response: requests.Response, stream: bool
    ) -> Iterator[bytes]:
        """Yield each part's body; raise :class:`TruncatedAnswer` if the close never came.

        Parts are yielded as they complete (streaming), so the caller must not
        treat what it got as the whole answer until this generator ends.
        """
        content_type = response.headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower()
        if media_type != "multipart/related":
            raise ValueError(f'unexpected media type "{media_type}", not "multipart/related"')
        boundary = _boundary(content_type)
        if boundary is None:  # some servers send one part without encapsulation
            yield response.content
            return
        delimiter = b"\r\n--" + boundary
        buffer = bytearray(b"\r\n")  # the first delimiter has no CRLF of its own
        parts, started, search = 0, False, 0
        with response:
            chunks = response.iter_content(self._chunk_size) if stream else [response.content]
            for chunk in chunks:
                buffer += chunk
                while (at := buffer.find(delimiter, search)) >= 0:
                    segment = bytes(buffer[:at])
                    del buffer[: at + len(delimiter)]
                    search = 0
                    if started:
                        if segment.startswith(b"--"):  # closed; the rest is epilogue
                            return
                        parts += 1
                        yield _content(segment)
                    started = True  # what came before the first delimiter is preamble
                search = max(0, len(buffer) - len(delimiter) + 1)
        if not (started and buffer.startswith(b"--")):
            raise TruncatedAnswer(parts)


def connection_error(
    e: requests.exceptions.ConnectionError, what: str, url: str, attempts: int
) -> SourceError:
    """A requests ``ConnectionError`` as a ``SourceError``: down, dropped, or stalled mid-answer."""
    text = str(e)
    if any(isinstance(a, ReadTimeoutError) for a in e.args) or "Read timed out" in text:
        return SourceError(
            f"cannot {what}: {url} is too slow: it stopped sending within the timeout"
        )
    if any(needle in text for needle in ("Connection aborted", "Connection reset")):
        tried = f" ({attempts} attempts)" if "Max retries exceeded" in text else ""
        return SourceError(
            f"cannot {what}: {url} closed the connection without answering{tried}: the "
            "server, or a proxy or load balancer in front of it, dropped the request"
        )
    return SourceError(
        f"cannot {what}: cannot connect to {url} ({_connection_reason(e)}); is the server running?"
    )


def cut_off_error(e: Exception, what: str, url: str) -> SourceError:
    """An answer that stopped early: Content-Length not reached, chunks or parts missing."""
    return SourceError(
        f"cannot {what}: the answer from {url} was cut off before its end ({_innermost_message(e)})"
    )


def _innermost_message(e: BaseException) -> str:
    """The message of the innermost wrapped error: requests wraps urllib3 wraps http.client."""
    while e.args and isinstance(e.args[0], BaseException):
        e = e.args[0]
    text = str(e.args[0]) if e.args else type(e).__name__
    return text.splitlines()[0][:200] if text else type(e).__name__


def _connection_reason(e: Exception) -> str:
    text = str(e)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("No route to host", "no route to host"),
        ("Connection reset", "connection reset by the server"),
    ):
        if needle in text:
            return reason
    return text.splitlines()[0][:200] if text else type(e).__name__
