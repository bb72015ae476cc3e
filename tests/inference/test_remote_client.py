"""The model-server client against a real loopback HTTP server that misbehaves on purpose.

The server here is the standard library's ``ThreadingHTTPServer``: it answers readiness and
metadata correctly and then, per test, a broken infer answer (not JSON, wrong shapes, an
HTTP 500 with an error text, a body that trickles past the deadline). Every case must be an
``InferenceError`` naming the server and what failed. The happy path against a real
MLServer is in ``tests/integration/test_model_server.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from markit_core.config import Settings
from markit_core.inference import registry
from markit_core.inference.errors import InferenceError, InferenceInputError
from markit_core.inference.remote import ModelServerClient, clear_remote_cache, remote_task
from markit_core.inference.serving.protocol import encode_response, metadata_tensors

Answer = Callable[[BaseHTTPRequestHandler, dict], None]
INFO = registry.entry("demo-view", "1").info


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    answer: Answer
    seen: list[dict]

    def log_message(self, *_args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/v2/health/ready":
            _send(self, 200, b"")
        elif self.path == "/v2/models/demo-view/versions/1":
            meta = {"name": "demo-view", "platform": "x", **metadata_tensors(INFO)}
            _send(self, 200, json.dumps(meta).encode())
        else:
            _send(self, 404, json.dumps({"error": f"no {self.path}"}).encode())

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(body)
        type(self).answer(self, body)


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], tuple[str, list[dict]]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> tuple[str, list[dict]]:
        seen: list[dict] = []
        handler = type("Handler", (_Handler,), {"answer": staticmethod(answer), "seen": seen})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
    clear_remote_cache()


def _task(url: str, timeout: float = 10.0):
    clear_remote_cache()
    return remote_task(
        Settings(inference_url=url, inference_timeout_seconds=timeout), *INFO.key.split("@")
    )


def _image() -> np.ndarray:
    return np.zeros((1, 1, 128, 128), np.float32)


def test_a_good_answer_is_read_and_the_request_is_what_was_asked(serve) -> None:
    outputs, cams = np.array([[0.25]], np.float32), np.full((1, 128, 128), 0.5, np.float32)
    url, seen = serve(
        lambda h, _b: _send(h, 200, json.dumps(encode_response(INFO, outputs, cams)).encode())
    )
    got, got_cams = _task(url).explain(_image()[0], [0])
    assert got.tolist() == [0.25] and got_cams.shape == (1, 128, 128) and got_cams.max() == 0.5
    request = seen[0]
    assert [t["name"] for t in request["inputs"]] == ["image", "cam_labels"]
    assert request["inputs"][1]["data"] == ["AP"] and request["inputs"][0]["shape"] == [
        1,
        1,
        128,
        128,
    ]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, b"<html>not json", r"malformed answer to demo-view@1 inference: not JSON"),
        (200, json.dumps({"outputs": []}).encode(), r"malformed answer.*no 'outputs' tensor"),
        (
            200,
            json.dumps(encode_response(INFO, np.zeros((2, 1), np.float32))).encode(),
            r"malformed answer.*expected \[1, 1\]",
        ),
        (
            500,
            json.dumps({"error": "CUDA out of memory"}).encode(),
            r"HTTP 500 to demo-view@1 inference: CUDA out of memory",
        ),
        (503, b"overloaded\n\n  try later", r"HTTP 503 .*: overloaded try later"),
    ],
)
def test_broken_answers_give_clear_errors(serve, status, body, message) -> None:
    url, _seen = serve(lambda h, _b: _send(h, status, body))
    with pytest.raises(InferenceError, match=message) as caught:
        _task(url)(_image())
    assert url in str(caught.value)


def test_a_trickling_answer_is_cut_at_the_deadline(serve) -> None:
    def trickle(handler: BaseHTTPRequestHandler, _body: dict) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(40):  # one byte every 0.1 s: each read is quick, the whole is not
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.1)

    url, _seen = serve(trickle)
    with pytest.raises(InferenceError, match=r"did not answer demo-view@1 inference within 1 s"):
        _task(url, timeout=1.0)(_image())


def test_wrong_model_on_the_server_and_bad_input(serve) -> None:
    url, seen = serve(lambda h, _b: _send(h, 200, b"{}"))
    with pytest.raises(InferenceInputError, match=r"takes \(N, 1, 128, 128\)"):
        _task(url)(np.zeros((1, 1, 64, 64), np.float32))
    with pytest.raises(InferenceInputError, match="out of range"):
        _task(url).explain(_image()[0], [3])
    assert seen == []  # refused before anything was sent
    client = ModelServerClient(url)
    with pytest.raises(InferenceError, match=r"does not serve demo-age@1 .*HTTP 404: no /v2"):
        client.metadata("demo-age", "1")


def test_settings_and_urls() -> None:
    with pytest.raises(InferenceError, match="MARKIT_INFERENCE_URL is not set"):
        remote_task(Settings(), "demo-view", "1")
    with pytest.raises(InferenceError, match="must be an http:// or https:// URL"):
        ModelServerClient("ftp://127.0.0.1/")
    client = ModelServerClient("http://reader:secret@127.0.0.1:9/prefix/")
    assert client.shown == "http://127.0.0.1:9/prefix" and "secret" not in client.shown
    settings = Settings(inference_url="http://127.0.0.1:9", inference_timeout_seconds=2)
    assert remote_task(settings, "demo-view", "1") is remote_task(settings, "demo-view", "1")
