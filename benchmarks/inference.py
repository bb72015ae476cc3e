"""AI-assist benchmark: prediction and prediction + Grad-CAM per image, cold and cached.

Times, as medians per image on this machine (torch threads = ``--threads``, default 2):

- ``densenet_predict_ms``: torchxrayvision's DenseNet-121 at 224 px, filled through the
  real loader (``load_xrv_densenet``, checksum-verified pickle) with weights this script
  saves itself (no download): preprocessing of a decoded 512-px demo DICOM + forward;
- ``densenet_cam_ms``: the same + Grad-CAM for one label, outputs and map from ONE forward
  pass (``explain``);
- ``densenet_cam3_ms``: Grad-CAM for three labels in the same single pass;
- ``cnn_predict_ms`` / ``cnn_cam_ms``: the shipped demo pathology CNN (128 px);
- ``cached_ms``: a repeated ``explain_case`` of the AI service for a case whose outputs
  and map are stored (database row + cached map file, per case and model version), on a
  seeded temporary demo database;
- ``batch_images_per_s`` (DenseNet) and ``cnn_batch_images_per_s``: whole-project batch
  inference, batches of 16 preprocessed images;
- ``baseline_densenet_cam_ms``: the naive way, a plain forward for the outputs and a
  second GradCAM call (new CAM object, full backward through the network) for the map.

The last line is one JSON object with those keys. Goals on 2 CPU cores: DenseNet-121
prediction + Grad-CAM <= 300 ms, cached <= 10 ms. On a GPU (``--device cuda``) the same.

Run: ``python benchmarks/inference.py [--repeat N] [--threads T] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import json
import os
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

from markit_core.demo.generator import generate_demo_set  # noqa: E402
from markit_core.imaging.decode import decode_any  # noqa: E402
from markit_core.inference import registry  # noqa: E402
from markit_core.inference.catalog import XRV_WEIGHTS  # noqa: E402
from markit_core.inference.preprocess import preprocess  # noqa: E402
from markit_core.inference.weights import sha256_of  # noqa: E402
from markit_core.inference.xrv import build_densenet, load_xrv_densenet  # noqa: E402

GOALS = {"densenet_cam_ms": 300.0, "cached_ms": 10.0}


def _median_ms(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _images_per_s(task, images: np.ndarray, batch: int = 16) -> float:
    task(images[:batch])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        task(images[i : i + batch])
    return len(images) / (time.perf_counter() - start)


def _densenet(tmp: Path, device: str):
    info = registry.entry("xrv-densenet121-nih").info
    torch.manual_seed(0)
    torch.save(build_densenet(), tmp / XRV_WEIGHTS["nih"])  # pickled, like the release files
    sums = tmp / "weights.sha256"
    sums.write_text(f"{sha256_of(tmp / XRV_WEIGHTS['nih'])}  {XRV_WEIGHTS['nih']}\n")
    return load_xrv_densenet(info, tmp, device, checksums=sums)


def _baseline_cam(task, image: np.ndarray, label: int) -> None:
    """Two passes and a fresh CAM object with a full backward (what MarkIt avoids)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = torch.nn.Sequential(task.net.features, task.net.head)
    for p in model.parameters():
        p.requires_grad_(True)
    x = torch.as_tensor(image[None], device=task.device)
    with torch.no_grad():
        model(x)
    with GradCAM(model=model, target_layers=[task.net.features[-1]]) as cam:
        cam(x, targets=[ClassifierOutputTarget(label)])
    for p in model.parameters():
        p.requires_grad_(False)


def _cached_ms(repeat: int) -> tuple[float, str]:
    """``explain_case`` of the AI service on a seeded demo database, second call onwards."""
    try:
        from sqlmodel import select

        from benchmarks.isolated import temp_settings
        from markit_core.db import make_engine, session
        from markit_core.demo.seed import DEMO_ADMIN, DEMO_PROJECT
        from markit_core.inference import service
        from markit_core.models import Case, Project, User
    except ImportError as e:  # the service is another part of issue 10
        return float("nan"), f"AI service not available ({e})"
    with tempfile.TemporaryDirectory(prefix="markit-bench-inference-") as tmp:
        env = {**os.environ, "MARKIT_DATA_DIR": tmp}
        env.pop("MARKIT_DATABASE_URL", None)
        subprocess.run(
            [sys.executable, "-m", "markit_core", "demo"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        settings = temp_settings(Path(tmp))
        engine = make_engine(settings.resolved_database_url)
        with session(engine) as s:
            admin = s.exec(select(User).where(User.username == DEMO_ADMIN)).one()
            project = s.exec(select(Project).where(Project.name == DEMO_PROJECT)).one()
            case = s.exec(select(Case).where(Case.project_id == project.id)).first()
            args = (s, admin, settings, project.id, case.id, "demo-pathologies", ["pneumonia"])
            service.explain_case(*args)  # cold: computes, stores outputs and the map
            ms = _median_ms(lambda: service.explain_case(*args), repeat)
            hit = service.explain_case(*args).cached
        engine.dispose()
    return ms, f"stored outputs + cached map file (cache hit: {hit})"


def run(repeat: int, threads: int, device: str) -> dict[str, float | str]:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="markit-bench-inference-") as tmp:
        tmp_path = Path(tmp)
        demo = generate_demo_set(tmp_path / "demo", n=24, seed=7, size=512)
        decoded = [decode_any(d.path) for d in demo]
        dense = _densenet(tmp_path, device)
        cnn = registry.get("demo-pathologies", device=device)
        spec_d, spec_c = dense.info().input, cnn.info().input
        d0, c0 = decoded[0], decoded[0]
        r: dict[str, float | str] = {"device": device, "threads": threads}
        r["densenet_predict_ms"] = _median_ms(lambda: dense(preprocess(d0, spec_d)[None]), repeat)
        r["densenet_cam_ms"] = _median_ms(
            lambda: dense.explain(preprocess(d0, spec_d), [7]), repeat
        )
        r["densenet_cam3_ms"] = _median_ms(
            lambda: dense.explain(preprocess(d0, spec_d), [0, 7, 10]), repeat
        )
        image_d = preprocess(d0, spec_d)
        r["baseline_densenet_cam_ms"] = _median_ms(lambda: _baseline_cam(dense, image_d, 7), repeat)
        r["cnn_predict_ms"] = _median_ms(lambda: cnn(preprocess(c0, spec_c)[None]), repeat * 3)
        r["cnn_cam_ms"] = _median_ms(lambda: cnn.explain(preprocess(c0, spec_c), [1]), repeat * 3)
        batch_d = np.stack([preprocess(d, spec_d) for d in decoded] * 2)
        batch_c = np.stack([preprocess(d, spec_c) for d in decoded] * 4)
        r["batch_images_per_s"] = _images_per_s(dense, batch_d)
        r["cnn_batch_images_per_s"] = _images_per_s(cnn, batch_c)
    r["cached_ms"], r["cached_path"] = _cached_ms(repeat * 3)
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per figure")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    r = run(max(1, args.repeat), args.threads, args.device)
    for key, value in r.items():
        goal = f"   goal <= {GOALS[key]:.0f}" if key in GOALS else ""
        shown = f"{value:9.1f}" if isinstance(value, float) else f"{value}"
        print(f"{key:28s} {shown}{goal}")
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
