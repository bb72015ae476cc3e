"""The MLServer model repository for MarkIt's registered model versions.

:func:`write_serve_config` writes ``settings.json`` (the server: host, ports, metrics off,
inference in the server process) and one ``<name>-<version>/model-settings.json`` per
model version, each pointing at :class:`~markit_core.inference.serving.runtime.MarkitRuntime`.
Then ``mlserver start DIR`` (run where ``markit_core`` imports: the repository root or an
installed package) serves them on the Open Inference Protocol. No mlserver import here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markit_core.config import Settings
from markit_core.errors import ValidationError
from markit_core.inference import registry
from markit_core.inference.serving.protocol import metadata_tensors

RUNTIME = "markit_core.inference.serving.runtime.MarkitRuntime"
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServedModel:
    """One model version in the repository (``trained``: its ``model_version`` fields)."""

    entry: registry.ModelEntry
    trained: Mapping[str, Any] | None = None


def weights_present(entry: registry.ModelEntry, weights_dir: Path) -> bool:
    """Whether this host has the version's weights (external ones: in ``weights_dir``)."""
    if not entry.external_weights:
        return True
    path = Path(weights_dir) / entry.weights_file
    return path.is_file() or path.with_name(path.name + ".state.pt").is_file()


def trained_fields(row: Any, settings: Settings) -> dict[str, Any]:
    """What the runtime needs of a ``model_version`` row (weights path made absolute)."""
    from markit_core.inference.training_run import trained_weights_path

    path = trained_weights_path(row, settings)
    return {
        "project_id": row.project_id,
        "model_name": row.model_name,
        "version": row.version,
        "task": row.task,
        "labels": list(row.labels),
        "weights_path": str(path.resolve()),
        "weights_sha256": row.weights_sha256,
    }


def _folder(name: str, version: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{name}-{version}")


def model_settings(
    served: ServedModel, weights_dir: Path | None, device: str = ""
) -> dict[str, Any]:
    """The ``model-settings.json`` of one version."""
    info = served.entry.info
    extra: dict[str, Any] = {
        "model": info.name,
        "version": info.version,
        "weights_dir": str(Path(weights_dir).resolve()) if weights_dir else "",
        "device": device,
    }
    if served.trained is not None:
        extra["trained"] = dict(served.trained)
    return {
        "name": info.name,
        "implementation": RUNTIME,
        "parameters": {"version": info.version, "extra": extra},
        **metadata_tensors(info),
    }


def server_settings(host: str, http_port: int, grpc_port: int) -> dict[str, Any]:
    """``settings.json``: MarkIt's server on ``host`` (loopback by default), metrics off.

    ``parallel_workers: 0`` keeps inference in the server process (one model copy, one
    GPU context); ``debug: false`` keeps tracebacks out of the answers.
    """
    for label, port in (("HTTP", http_port), ("gRPC", grpc_port)):
        if not 0 < int(port) < 65536:
            raise ValidationError(f"{label} port must be 1..65535, got {port}")
    if int(http_port) == int(grpc_port):
        raise ValidationError(f"the HTTP and gRPC ports must differ, both are {http_port}")
    return {
        "server_name": "markit-mlserver",
        "host": host,
        "http_port": int(http_port),
        "grpc_port": int(grpc_port),
        "metrics_endpoint": None,
        "parallel_workers": 0,
        "debug": False,
        "load_models_at_startup": True,
    }


def select_models(
    wanted: Sequence[str], weights_dir: Path, trained: Iterable[ServedModel] = ()
) -> tuple[list[ServedModel], list[str]]:
    """The versions to serve and the reasons others were left out.

    ``wanted`` holds ``name`` or ``name@version`` items (empty: every registered version
    whose weights this host has); ``trained`` are registered versions MarkIt trained, with
    the fields their runtime needs.
    """
    by_key = {(s.entry.name, s.entry.version): s for s in trained}
    every = [by_key.get((e.name, e.version), ServedModel(e)) for e in registry.list_models()]
    if wanted:
        chosen = []
        for item in wanted:
            name, _, version = item.partition("@")
            found = registry.entry(name, version or None)  # ModelNotFound names what exists
            chosen.append(by_key.get((found.name, found.version), ServedModel(found)))
    else:
        chosen = every
    served, skipped = [], []
    for s in chosen:
        if weights_present(s.entry, weights_dir):
            served.append(s)
        else:
            skipped.append(
                f"{s.entry.info.key}: no {s.entry.weights_file} in {Path(weights_dir).resolve()}"
            )
    if wanted and skipped:
        raise ValidationError("cannot serve " + "; ".join(skipped))
    return served, skipped


def write_serve_config(
    out_dir: Path,
    served: Sequence[ServedModel],
    *,
    weights_dir: Path | None = None,
    host: str = DEFAULT_HOST,
    http_port: int = 8080,
    grpc_port: int = 8081,
    device: str = "",
) -> list[Path]:
    """Write the repository for ``served`` into ``out_dir``; returns the files written.

    Raises
    ------
    ValidationError
        No model to serve, bad ports, or ``out_dir`` holds another repository's models.
    """
    if not served:
        raise ValidationError("no model version to serve (are the weights on this host?)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = [
        p.parent.name
        for p in out_dir.glob("*/model-settings.json")
        if p.parent.name not in {_folder(s.entry.name, s.entry.version) for s in served}
    ]
    if stale:
        raise ValidationError(
            f"{out_dir} already serves other models ({', '.join(sorted(stale))}): "
            "use an empty folder"
        )
    written = [_write_json(out_dir / "settings.json", server_settings(host, http_port, grpc_port))]
    for s in served:
        folder = out_dir / _folder(s.entry.name, s.entry.version)
        folder.mkdir(exist_ok=True)
        written.append(
            _write_json(folder / "model-settings.json", model_settings(s, weights_dir, device))
        )
    return written


def _write_json(path: Path, data: Mapping[str, Any]) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
