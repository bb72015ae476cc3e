"""Inference on a model server vs in process: what the Open Inference Protocol hop costs.

Starts ``mlserver start`` on the repository ``serve-config`` writes (free 127.0.0.1 ports,
CPU, ``--threads`` torch threads on both sides) for the demo pathology CNN (128 px) and
torchxrayvision's DenseNet-121 (224 px, weights this script saves itself: no download),
then times, as medians per call, the same preprocessed tensors through the in-process
task (the baseline, measured in the same run, calls alternating) and through :class:`RemoteTask`:

- ``*_predict_ms``: outputs of one image; ``*_cam_ms``: outputs + Grad-CAM of one label;
- ``*_batch16_ms``: outputs of a batch of 16 (a project run's batch);
- ``max_abs_diff``: the largest difference between remote and in-process values seen.

The last line is one JSON object with those keys (``local_`` / ``remote_`` prefixes).

Run: ``python benchmarks/model_server.py [--repeat N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from markit_core.config import Settings  # noqa: E402
from markit_core.inference import registry  # noqa: E402
from markit_core.inference.catalog import XRV_WEIGHTS  # noqa: E402
from markit_core.inference.errors import InferenceError  # noqa: E402
from markit_core.inference.remote import remote_task  # noqa: E402
from markit_core.inference.xrv import build_densenet  # noqa: E402

MODELS = {"cnn": "demo-pathologies", "densenet": "xrv-densenet121-all"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _median_pair_ms(
    local: Callable[[], object], remote: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Medians of both, calls alternating so that a busy machine slows both alike."""
    local(), remote()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, into in ((local, times[0]), (remote, times[1])):
            t0 = time.perf_counter()
            fn()
            into.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times[0]), statistics.median(times[1])


def _start(repo: Path, weights: Path, threads: int) -> tuple[subprocess.Popen, str]:
    http, grpc = _free_port(), _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MARKIT_WEIGHTS_DIR": str(weights)}
    env["OMP_NUM_THREADS"] = str(threads)
    env["OMP_WAIT_POLICY"] = "PASSIVE"  # idle server threads must not spin on the shared cores
    models = [a for name in MODELS.values() for a in ("--model", name)]
    cmd = [sys.executable, "-m", "markit_core", "serve-config", str(repo), *models]
    subprocess.run(
        [*cmd, "--http-port", str(http), "--grpc-port", str(grpc), "--device", "cpu"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    log = (repo / "mlserver.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlserver.cli.main", "start", str(repo)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{http}"


def _wait(settings: Settings, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    task = remote_task(settings, MODELS["cnn"], "1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mlserver exited with {proc.returncode}")
        try:
            task.check()
            return
        except InferenceError:
            time.sleep(0.5)
    raise SystemExit("mlserver not ready in time")


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


def _measure(kind: str, local, remote, repeat: int, out: dict, diffs: list[float]) -> None:
    spec = local.info().input
    rng = np.random.default_rng(0)
    batch = rng.random((16, spec.channels, *spec.size), dtype=np.float32)
    if kind == "densenet":
        batch = (batch * 2.0 - 1.0) * 1024.0  # torchxrayvision's range
    one = batch[:1]
    calls = {
        "predict": (lambda t: t(one), repeat),
        "cam": (lambda t: t.explain(one[0], [0]), repeat),
        "batch16": (lambda t: t(batch), max(3, repeat // 4)),
    }
    for what, (call, n) in calls.items():
        here, there = _median_pair_ms(lambda c=call: c(local), lambda c=call: c(remote), n)
        out[f"local_{kind}_{what}_ms"], out[f"remote_{kind}_{what}_ms"] = here, there
    diffs.append(float(np.abs(local(batch) - remote(batch)).max()))
    lo, lc = local.explain(one[0], [0, 1])
    ro, rc = remote.explain(one[0], [0, 1])
    diffs += [float(np.abs(lo - ro).max()), float(np.abs(lc - rc).max())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="markit-bench-serve-") as tmp:
        weights = Path(tmp) / "weights"
        weights.mkdir()
        torch.manual_seed(0)
        state = build_densenet().state_dict()
        torch.save(state, weights / (XRV_WEIGHTS["all"] + ".state.pt"))
        proc, url = _start(Path(tmp) / "repo", weights, args.threads)
        try:
            settings = Settings(inference_url=url, inference_timeout_seconds=120)
            started = time.monotonic()
            _wait(settings, proc)
            print(f"mlserver ready at {url} after {time.monotonic() - started:.1f} s")
            out: dict[str, float] = {}
            diffs: list[float] = []
            for kind, name in MODELS.items():
                local = registry.get(name, "1", weights_dir=weights, device="cpu")
                _measure(kind, local, remote_task(settings, name, "1"), args.repeat, out, diffs)
        finally:
            _stop(proc)
    out["max_abs_diff"] = max(diffs)
    for kind in MODELS:
        for what in ("predict", "cam", "batch16"):
            here, there = out[f"local_{kind}_{what}_ms"], out[f"remote_{kind}_{what}_ms"]
            print(f"{kind:8s} {what:8s} in process {here:8.1f} ms   on the server {there:8.1f} ms")
    print(f"largest difference remote vs in process: {out['max_abs_diff']:.3g}")
    print(json.dumps({k: round(v, 6 if k == "max_abs_diff" else 2) for k, v in out.items()}))


if __name__ == "__main__":
    main()
