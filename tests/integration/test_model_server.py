"""Inference on a real MLServer: the same outputs and Grad-CAM maps as in process.

``python -m markit_core serve-config`` writes the model repository of the shipped demo
models, ``mlserver start`` serves it on free 127.0.0.1 ports, and the AI services run with
``MARKIT_INFERENCE_URL`` pointing at it. Demo images are ingested twice, into one project
read in process and one read through the server (predictions are cached per case and
model version, so each path computes its own), and the results must agree. A closed port
and a server that accepts but never answers must give a clear ``InferenceError`` (bounded
by the timeout, nothing stored), and the permission check comes before any remote call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from markit_core.config import Settings
from markit_core.demo.generator import generate_demo_set
from markit_core.errors import PermissionDenied
from markit_core.imaging.ingest import ingest
from markit_core.inference import registry
from markit_core.inference.errors import InferenceError
from markit_core.inference.remote import ModelServerClient, clear_remote_cache
from markit_core.inference.service import explain_case, predict_case
from markit_core.inference.store import stored_prediction
from markit_core.models import Role
from tests.servers import free_port

# the module's server start (imports torch, loads four models) counts toward the first test
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
ROOT = Path(__file__).parent.parent.parent
DEMO_MODELS = ("demo-pathologies", "demo-view", "demo-sex", "demo-age")
STARTUP_S = 240.0  # importing torch and loading four models on a busy 2-core machine


def _mlserver_or_skip() -> None:
    if importlib.util.find_spec("mlserver") is None:
        message = "mlserver is not installed (pip install -r requirements-serving.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass  # killed below
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlserver start`` on the repository ``serve-config`` wrote; yields its URL."""
    _mlserver_or_skip()
    repo = tmp_path_factory.mktemp("model-repo")
    http_port, grpc_port = free_port(), free_port()
    while grpc_port == http_port:
        grpc_port = free_port()
    args = [str(repo), "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    for name in DEMO_MODELS:
        args += ["--model", name]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MARKIT_DATA_DIR": str(repo / "data")}
    made = subprocess.run(
        [sys.executable, "-m", "markit_core", "serve-config", *args, "--device", "cpu"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert "127.0.0.1" in (repo / "settings.json").read_text()
    log = (repo / "mlserver.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlserver.cli.main", "start", str(repo)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        _wait_ready(proc, url, repo / "mlserver.log")
        yield url
    finally:
        _stop(proc)
        log.close()


def _wait_ready(proc: subprocess.Popen, url: str, log: Path) -> None:
    client = ModelServerClient(url, timeout=5, connect_timeout=1)
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlserver exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            client.ready()
            return
        except InferenceError:
            time.sleep(0.5)
    pytest.fail(f"mlserver not ready after {STARTUP_S:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def two_projects(session, settings, make_user, make_project, tmp_path):
    """The same demo images in two projects: ``(owner, data owner, local ids, remote ids)``."""
    owner = make_user("owner")
    data_owner = make_user("dataowner")  # a member whose role may not use AI
    images = tmp_path / "demo-images"
    files = [(i.path.name, i.path) for i in generate_demo_set(images, n=4, seed=321, size=256)]
    ids = []
    for name in ("in process", "on the server"):
        project = make_project(f"Chest {name}", owner, {"dataowner": [Role.DATA_OWNER]})
        report = ingest(session, settings, owner, project.id, files)
        assert len(report.case_ids) == 4 and not report.refused, report
        ids.append((project.id, sorted(report.case_ids)))
    return owner, data_owner, ids[0], ids[1]


def _remote(settings: Settings, url: str, timeout: float = 120.0) -> Settings:
    clear_remote_cache()
    return settings.model_copy(update={"inference_url": url, "inference_timeout_seconds": timeout})


def test_server_results_equal_in_process(model_server, session, settings, two_projects):
    owner, _data_owner, (local_pid, local_ids), (remote_pid, remote_ids) = two_projects
    remote = _remote(settings, model_server)
    for name in DEMO_MODELS:
        info = registry.entry(name).info
        for local_case, remote_case in zip(local_ids, remote_ids, strict=True):
            here = predict_case(session, owner, settings, local_pid, local_case, name)
            there = predict_case(session, owner, remote, remote_pid, remote_case, name)
            assert not there.cached and list(there.outputs) == list(info.labels)
            np.testing.assert_allclose(
                list(there.outputs.values()), list(here.outputs.values()), rtol=1e-5, atol=1e-6
            )
            again = predict_case(session, owner, remote, remote_pid, remote_case, name)
            assert again.cached and again.outputs == there.outputs


def test_server_gradcam_equals_in_process(model_server, session, settings, two_projects):
    owner, _data_owner, (local_pid, local_ids), (remote_pid, remote_ids) = two_projects
    remote = _remote(settings, model_server)
    labels = list(registry.entry("demo-pathologies").info.labels[:3])
    for local_case, remote_case in zip(local_ids, remote_ids, strict=True):
        here = explain_case(
            session, owner, settings, local_pid, local_case, "demo-pathologies", labels
        )
        there = explain_case(
            session, owner, remote, remote_pid, remote_case, "demo-pathologies", labels
        )
        assert list(there.cams) == labels
        for label in labels:
            assert there.cams[label].shape == (128, 128)
            assert there.cams[label].max() > 0.0  # a real map, not zeros
            np.testing.assert_allclose(there.cams[label], here.cams[label], atol=1e-5)
        np.testing.assert_allclose(
            list(there.outputs.values()), list(here.outputs.values()), rtol=1e-5, atol=1e-6
        )


def test_server_errors_carry_the_servers_text(model_server):
    client = ModelServerClient(model_server, timeout=60)
    with pytest.raises(InferenceError, match=r"HTTP 400.*has no label 'no-such-label'"):
        client.infer(
            "demo-view",
            "1",
            {
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1, 1, 128, 128],
                        "datatype": "FP32",
                        "data": [0.0] * (128 * 128),
                    },
                    {
                        "name": "cam_labels",
                        "shape": [1],
                        "datatype": "BYTES",
                        "data": ["no-such-label"],
                    },
                ]
            },
        )
    with pytest.raises(InferenceError, match=r"does not serve demo-view@7 .*HTTP 404"):
        client.metadata("demo-view", "7")


def test_model_missing_on_the_server(model_server, session, settings, two_projects, tmp_path):
    """A version this app knows but the server does not serve: a 404 that says so."""
    from markit_core.inference.cnn import load_project_cnn
    from markit_core.inference.weights import CHECKSUMS_FILE

    owner, _data_owner, _local, (remote_pid, remote_ids) = two_projects
    base = registry.entry("demo-view", "1")
    only_here = registry.ModelEntry(
        dataclasses.replace(base.info, version="99"),
        lambda i, _wd, dev: load_project_cnn(
            i, CHECKSUMS_FILE.parent / "demo-view-1.pt", dev, checksums=CHECKSUMS_FILE
        ),
    )
    registry.register(only_here, replace=True)
    try:
        remote = _remote(settings, model_server)
        with pytest.raises(InferenceError, match=r"does not serve demo-view@99"):
            predict_case(session, owner, remote, remote_pid, remote_ids[0], "demo-view", "99")
        assert stored_prediction(session, remote_ids[0], "demo-view", "99") is None
    finally:
        registry.unregister("demo-view", "99")


def test_absent_server_gives_a_clear_error(session, settings, two_projects):
    owner, data_owner, _local, (remote_pid, remote_ids) = two_projects
    port = free_port()  # bound and released: nothing listens there
    remote = _remote(settings, f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(PermissionDenied):  # the core's check runs before any remote call
        predict_case(session, data_owner, remote, remote_pid, remote_ids[0], "demo-age")
    with pytest.raises(InferenceError) as caught:
        predict_case(session, owner, remote, remote_pid, remote_ids[0], "demo-age")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "not reachable" in message, message
    assert stored_prediction(session, remote_ids[0], "demo-age", "1") is None


def _silent_server() -> tuple[socket.socket, threading.Event]:
    """A loopback socket that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                break
        for conn in held:
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener, stop


def test_slow_server_times_out_with_a_clear_error(session, settings, two_projects):
    owner, _data_owner, _local, (remote_pid, remote_ids) = two_projects
    listener, stop = _silent_server()
    port = listener.getsockname()[1]
    try:
        remote = _remote(settings, f"http://127.0.0.1:{port}", timeout=1.0)
        started = time.monotonic()
        with pytest.raises(InferenceError) as caught:
            explain_case(
                session,
                owner,
                remote,
                remote_pid,
                remote_ids[0],
                "demo-pathologies",
                ["pneumonia"],
            )
        waited = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "within 1 s" in message, message
    assert waited < 30.0, f"not bounded by the timeout: waited {waited:.1f} s"  # not hung
    assert stored_prediction(session, remote_ids[0], "demo-pathologies", "1") is None
