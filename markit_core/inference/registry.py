"""The explicit model registry: a dict from name and version to a loader.

Nothing is discovered: every model MarkIt can run is listed here (or added by
:func:`register`, e.g. a version trained from a project's annotations). A
loaded model is kept once per process and device (``functools.lru_cache``); the
Streamlit side wraps :func:`get` with ``st.cache_resource``.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from markit_core.inference.base import InferTask, InputSpec, ModelInfo, Normalisation, TaskType
from markit_core.inference.errors import ModelNotFound

REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"

Loader = Callable[[ModelInfo, Path, str], InferTask]
"""``loader(info, weights_dir, device) -> InferTask``."""


@dataclass(frozen=True)
class ModelEntry:
    """One registered model version.

    Attributes
    ----------
    info : ModelInfo
        Static description (labels, input); available without loading weights.
    loader : Loader
        Builds the task; raises ``WeightsError`` when its weights are unusable.
    external_weights : bool
        True when an administrator must copy the weights into ``MARKIT_WEIGHTS_DIR``
        (torchxrayvision); False for weights shipped in ``models/``.
    weights_file : str
        File name the loader reads (shown by the UI when it is missing).
    weights_path : str
        The whole path, for versions trained here (their file lies in the data folder
        the entry was made for); empty for the others.
    """

    info: ModelInfo
    loader: Loader
    external_weights: bool = False
    weights_file: str = ""
    weights_path: str = ""

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version


_lock = threading.Lock()
_REGISTRY: dict[str, dict[str, ModelEntry]] = {}


def register(entry: ModelEntry, *, replace: bool = False) -> None:
    """Add a model version; ``replace=False`` refuses to overwrite an existing one."""
    _ensure_builtins()
    with _lock:
        versions = _REGISTRY.setdefault(entry.name, {})
        if entry.version in versions and not replace:
            raise ValueError(f"model {entry.info.key} is already registered")
        versions[entry.version] = entry
    _load.cache_clear()


def unregister(name: str, version: str) -> None:
    """Remove one version (a no-op when it is not registered)."""
    _ensure_builtins()
    with _lock:
        _REGISTRY.get(name, {}).pop(version, None)
        if name in _REGISTRY and not _REGISTRY[name]:
            del _REGISTRY[name]
    _load.cache_clear()


def list_models() -> list[ModelEntry]:
    """Every registered model version, sorted by name then version."""
    _ensure_builtins()
    with _lock:
        entries = [e for versions in _REGISTRY.values() for e in versions.values()]
    return sorted(entries, key=lambda e: (e.name, _version_key(e.version)))


def entry(name: str, version: str | None = None) -> ModelEntry:
    """The registry entry of ``name`` (latest version when ``version`` is None).

    Raises
    ------
    ModelNotFound
        Unknown name or version; the message lists what is registered.
    """
    _ensure_builtins()
    with _lock:
        versions = dict(_REGISTRY.get(name, {}))
        known = sorted(_REGISTRY)
    if not versions:
        raise ModelNotFound(f"no model named {name!r}; registered models: {', '.join(known)}")
    if version is None:
        version = max(versions, key=_version_key)
    if version not in versions:
        have = ", ".join(sorted(versions, key=_version_key))
        raise ModelNotFound(f"model {name!r} has no version {version!r}; versions: {have}")
    return versions[version]


def get(
    name: str,
    version: str | None = None,
    *,
    weights_dir: Path | str | None = None,
    device: str | None = None,
) -> InferTask:
    """The loaded model ``name`` (latest version by default), one copy per process.

    Parameters
    ----------
    name, version : str
        Registry key; see :func:`list_models`.
    weights_dir : Path | str | None
        ``Settings.resolved_weights_dir``: where external weights lie. Shipped
        models ignore it.
    device : str | None
        ``"cuda"`` / ``"cpu"``; default CUDA when available, else CPU.

    Raises
    ------
    ModelNotFound
        Unknown name or version.
    WeightsError
        Weights missing, corrupt, not matching the listed SHA-256, or for another
        architecture; the message names the file and the directory.
    """
    found = entry(name, version)
    wdir = str(Path(weights_dir).resolve()) if weights_dir is not None else ""
    return _load(found.name, found.version, wdir, device or default_device())


def clear_cache() -> None:
    """Forget loaded models (tests; after replacing weights files)."""
    _load.cache_clear()


def default_device() -> str:
    """``"cuda"`` when a GPU is usable, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=16)
def _load(name: str, version: str, weights_dir: str, device: str) -> InferTask:
    found = entry(name, version)
    return found.loader(found.info, Path(weights_dir or "."), device)


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-]", version))


# -- the built-in models ---------------------------------------------------------------


def _project_cnn_loader(info: ModelInfo, _weights_dir: Path, device: str) -> InferTask:
    from markit_core.inference import weights
    from markit_core.inference.cnn import load_project_cnn

    path = REPO_MODELS_DIR / f"{info.name}-{info.version}.pt"
    return load_project_cnn(info, path, device, checksums=weights.CHECKSUMS_FILE)


def _xrv_loader(info: ModelInfo, weights_dir: Path, device: str) -> InferTask:
    from markit_core.inference.xrv import load_xrv_densenet

    return load_xrv_densenet(info, weights_dir, device)


def _xrv_baseline_loader(info: ModelInfo, weights_dir: Path, device: str) -> InferTask:
    from markit_core.inference.xrv_baselines import load_xrv_baseline

    return load_xrv_baseline(info, weights_dir, device)


def _xrv_baseline_entries() -> list[ModelEntry]:
    """The view, sex and age baselines (weights from MARKIT_WEIGHTS_DIR, like the DenseNets)."""
    from markit_core.inference.catalog import XRV_BASELINE_FILES

    xrv = Normalisation.XRV
    specs = [
        ("xrv-view-xinario", "view", TaskType.BINARY, ("Lateral",), "", 224,
         "view: P(lateral) vs frontal (not AP/PA)"),
        ("xrv-sex-mira", "sex", TaskType.BINARY, ("female",), "", 224, "sex: P(female)"),
        ("xrv-age-riken", "age", TaskType.REGRESSION, ("age",), "years", 320, "age"),
    ]  # fmt: skip
    entries = []
    for name, task, task_type, labels, units, size, desc in specs:
        filename = XRV_BASELINE_FILES[name]
        info = ModelInfo(
            name,
            "1",
            task_type,
            labels,
            InputSpec(size=(size, size), channels=1, normalisation=xrv),
            f"torchxrayvision baseline ({desc}; copy {filename} into MARKIT_WEIGHTS_DIR)",
            units,
            "models/xrv-baselines.md",
            task=task,
        )
        entries.append(
            ModelEntry(info, _xrv_baseline_loader, external_weights=True, weights_file=filename)
        )
    return entries


def _builtin_entries() -> list[ModelEntry]:
    from markit_core.demo.generator import DEMO_LABELS
    from markit_core.inference.catalog import XRV_LABELS, XRV_WEIGHTS

    demo_input = InputSpec(size=(128, 128), channels=1, normalisation=Normalisation.UNIT)
    demo = [
        ("pathologies", TaskType.MULTILABEL, DEMO_LABELS, "", "7 demo findings"),
        ("view", TaskType.BINARY, ("AP",), "", "view position: P(AP) vs PA"),
        ("sex", TaskType.BINARY, ("female",), "", "patient sex: P(female)"),
        ("age", TaskType.REGRESSION, ("age",), "years", "patient age"),
    ]
    entries = [
        ModelEntry(
            ModelInfo(
                f"demo-{task}",
                "1",
                task_type,
                tuple(labels),
                demo_input,
                f"MarkIt demo CNN ({desc}), trained on synthetic images",
                units,
                f"models/demo-{task}-1.md",
                task=task,
            ),
            _project_cnn_loader,
            weights_file=f"demo-{task}-1.pt",
        )
        for task, task_type, labels, units, desc in demo
    ]
    xrv_input = InputSpec(size=(224, 224), channels=1, normalisation=Normalisation.XRV)
    for weights, filename in XRV_WEIGHTS.items():
        info = ModelInfo(
            f"xrv-densenet121-{weights}",
            "1",
            TaskType.MULTILABEL,
            XRV_LABELS,
            xrv_input,
            f"torchxrayvision DenseNet-121 ({weights} weights; copy {filename} "
            "into MARKIT_WEIGHTS_DIR)",
            card="models/xrv-densenet121.md",
            task="pathologies",
        )
        entries.append(ModelEntry(info, _xrv_loader, external_weights=True, weights_file=filename))
    return entries + _xrv_baseline_entries()


_builtins_done = False
_builtins_lock = threading.Lock()


def _ensure_builtins() -> None:
    """Register the built-in models on first use (keeps importing this module cheap).

    Marked done only once they are in: a model server loads several models in threads at
    once, and none may see the registry half filled.
    """
    global _builtins_done
    if _builtins_done:
        return
    with _builtins_lock:
        if _builtins_done:
            return
        items = _builtin_entries()
        with _lock:
            for item in items:
                _REGISTRY.setdefault(item.name, {})[item.version] = item
            _builtins_done = True
    _load.cache_clear()
