"""A loopback HTTP proxy that puts scripted faults between a client and a real server.

Tests place it in front of Orthanc (issue 13, point 5) and tell it, per
request, what goes wrong: ``proxy.inject(answer(503, retry_after=1), "GET
/dicom-web/studies/", times=2)`` makes the first two matching requests fail
and lets the rest through to the real server. Faults are what archives and the
networks in front of them really do: answer late, close the connection without
an answer or half-way through the body, answer 500 / 503 / 429 (with
Retry-After) / 401, send less than the ``Content-Length`` they announced, or a
well-framed HTTP answer whose multipart body stops before its closing
boundary. ``down()`` stops listening (connection refused) until ``up()``.

It listens on 127.0.0.1 only, on a free port, forwards to 127.0.0.1, and
records every request it saw (``seen``) so tests can count attempts.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = [
    "Fault",
    "FaultProxy",
    "Seen",
    "answer",
    "cut_chunked",
    "cut_multipart",
    "delay",
    "drop",
    "short_body",
    "stall",
]

#: Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
}


@dataclass(frozen=True)
class Fault:
    """One way of failing a request; build them with the functions below."""

    kind: str  # "delay" | "stall" | "drop" | "answer" | "short" | "chunked" | "multipart"
    seconds: float = 0.0
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    keep: float = 0.5  # share of the body sent ("short", "chunked", mid-part "multipart")
    parts: int | None = None  # "multipart": whole parts sent before the cut


def delay(seconds: float) -> Fault:
    """Wait ``seconds`` before forwarding (a slow archive)."""
    return Fault("delay", seconds=seconds)


def stall(seconds: float, keep: float = 0.5) -> Fault:
    """Forward, send ``keep`` of the body, wait ``seconds``, then send the rest."""
    return Fault("stall", seconds=seconds, keep=keep)


def drop() -> Fault:
    """Read the request, then close the connection without any answer."""
    return Fault("drop")


def answer(status: int, *, retry_after: float | str | None = None) -> Fault:
    """Answer ``status`` without asking the server (optionally with ``Retry-After``)."""
    headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
    return Fault("answer", status=status, headers=headers)


def short_body(keep: float = 0.5) -> Fault:
    """Forward, announce the full ``Content-Length``, send only ``keep`` of it, close."""
    return Fault("short", keep=keep)


def cut_chunked(keep: float = 0.5) -> Fault:
    """Forward in chunked encoding and close after ``keep`` of the body, with no last chunk."""
    return Fault("chunked", keep=keep)


def cut_multipart(parts: int | None = None, keep: float = 0.5) -> Fault:
    """Forward a well-framed answer whose multipart body stops before its closing boundary.

    With ``parts`` the body ends exactly after that many whole parts (it looks
    like a complete, shorter answer); without, it ends ``keep`` of the way into
    the part after them.
    """
    return Fault("multipart", parts=parts, keep=keep)


@dataclass(frozen=True)
class Seen:
    """A request as the proxy saw it, and what it did with it."""

    at: float  # time.monotonic() on arrival
    method: str
    path: str
    fault: str  # the fault's kind, or "pass"
    status: int  # the status injected, 0 when the request went on to the server


@dataclass
class _Rule:
    fault: Fault
    pattern: re.Pattern[str]
    left: int | None  # None: every matching request


@dataclass
class _State:
    upstream: tuple[str, int]
    rules: list[_Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    connections: set[socket.socket] = field(default_factory=set)

    def take(self, request_line: str) -> Fault | None:
        """The first rule matching ``request_line`` with uses left, used up by one."""
        with self.lock:
            for rule in self.rules:
                if rule.left != 0 and rule.pattern.search(request_line):
                    if rule.left is not None:
                        rule.left -= 1
                    return rule.fault
        return None

    def record(self, seen: Seen) -> None:
        with self.lock:
            self.seen.append(seen)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: _State  # set on the subclass made for each proxy

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.state.lock:
            self.state.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client or a fault already closed it
            super().finish()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Quiet: the test reads ``seen`` instead."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib hook names
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.state.take(f"{self.command} {self.path}")
        kind = fault.kind if fault is not None else "pass"
        injected = fault.status if fault is not None else 0
        # recorded before answering, so a client that has its answer sees it counted
        self.state.record(Seen(time.monotonic(), self.command, self.path, kind, injected))
        if fault is not None and fault.kind == "drop":
            self._close()
            return
        if fault is not None and fault.kind == "answer":
            self._send(fault.status, list(fault.headers), f"injected HTTP {injected}\n".encode())
            return
        if fault is not None and fault.kind == "delay" and self.state.stopping.wait(fault.seconds):
            self._close()  # the proxy is closing
            return
        status, headers, content = self._forward(body)
        self._reply(fault, status, headers, content)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """The real server's answer, read whole (test answers are small)."""
        host, port = self.state.upstream
        upstream = http.client.HTTPConnection(host, port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = f"{host}:{port}"
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            content = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, kept, content
        finally:
            upstream.close()

    def _reply(
        self, fault: Fault | None, status: int, headers: list[tuple[str, str]], content: bytes
    ) -> None:
        if fault is None or fault.kind == "delay":
            self._send(status, headers, content)
        elif fault.kind == "stall":  # half the body, a pause, the rest
            sent = int(len(content) * fault.keep)
            self._send(status, headers, content[:sent], len(content))
            if self.state.stopping.wait(fault.seconds):
                self._close()
                return
            with contextlib.suppress(OSError):  # the client may have given up
                self.wfile.write(content[sent:])
                self.wfile.flush()
        elif fault.kind == "short":  # announce everything, send a part, hang up
            self._send(status, headers, content[: int(len(content) * fault.keep)], len(content))
            self._close()
        elif fault.kind == "chunked":  # chunks, but never the last (empty) one
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            part = content[: int(len(content) * fault.keep)]
            self.wfile.write(f"{len(part):X}\r\n".encode() + part + b"\r\n")
            self.wfile.flush()
            self._close()
        elif fault.kind == "multipart":
            cut = _multipart_cut(content, dict((k.lower(), v) for k, v in headers), fault)
            self._send(status, headers, content[:cut])
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        content: bytes,
        announced: int | None = None,
    ) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(content) if announced is None else announced))
        self.end_headers()
        self.wfile.write(content)
        self.wfile.flush()

    def _close(self) -> None:
        """Hang up now: the client sees the connection end, with no more bytes."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _multipart_cut(content: bytes, headers: dict[str, str], fault: Fault) -> int:
    """Where to end a multipart body so that its closing boundary never arrives."""
    found = re.search(r'boundary="?([^";]+)"?', headers.get("content-type", ""))
    if found is None:
        raise ValueError("cut_multipart needs a multipart answer with a boundary")
    marker = b"--" + found.group(1).encode()
    starts = [m.start() for m in re.finditer(re.escape(marker), content)]
    whole = len(starts) - 1  # the last marker is the closing one
    parts = whole - 1 if fault.parts is None else fault.parts
    if not 0 <= parts < whole:
        raise ValueError(f"the answer has {whole} part(s); cannot keep {parts} and cut")
    if fault.parts is not None:
        return max(0, starts[parts] - 2)  # just before "\r\n--boundary"
    begin, end = starts[parts], starts[parts + 1]
    return begin + int((end - begin) * fault.keep)


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``, with injected faults.

    Use as a context manager; ``url(path)`` is the address to give the client.
    """

    def __init__(self, upstream_port: int) -> None:
        self._state = _State(("127.0.0.1", upstream_port))
        self._handler = type("Handler", (_Handler,), {"state": self._state})
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def inject(self, fault: Fault, pattern: str = "", times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests whose ``"METHOD /path?query"``
        matches the regular expression ``pattern`` (``times`` None: to all of them).
        Rules are tried in the order injected."""
        with self._state.lock:
            self._state.rules.append(_Rule(replace(fault), re.compile(pattern), times))

    def clear(self) -> None:
        """No more faults: everything passes through; the record of requests is kept."""
        with self._state.lock:
            self._state.rules.clear()

    def seen(self, pattern: str = "") -> list[Seen]:
        """Requests seen so far whose ``"METHOD /path?query"`` matches ``pattern``."""
        regex = re.compile(pattern)
        with self._state.lock:
            return [s for s in self._state.seen if regex.search(f"{s.method} {s.path}")]

    def up(self) -> None:
        """Listen (again, on the same port once it had one)."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        server.daemon_threads = True
        server.block_on_close = False
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening and hang up every open connection: clients get "connection refused"."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._state.lock:
            connections = list(self._state.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FaultProxy:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state.stopping.set()  # ends injected delays at once
        self.down()
