"""Reading model weight files safely: checksum list, plain state dicts, clear errors.

Two kinds of file are read:

- plain state dicts (MarkIt's own models, and converted external weights), read
  with ``torch.load(weights_only=True)``, which cannot run code;
- torchxrayvision's published files, which are pickled model objects: those are
  only unpickled after their SHA-256 matched an entry of a checksum list kept in
  the repository (``models/weights.sha256``, ``sha256sum`` format).

Every failure is a :class:`~markit_core.inference.errors.WeightsError` naming the
file and its directory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markit_core.inference.errors import WeightsError

CHECKSUMS_FILE = Path(__file__).resolve().parents[2] / "models" / "weights.sha256"
_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(list_path: Path = CHECKSUMS_FILE) -> dict[str, str]:
    """File name -> expected SHA-256 from a ``sha256sum``-style list (``#`` comments allowed).

    Raises
    ------
    WeightsError
        The list is missing or a line is malformed (its number is named).
    """
    if not list_path.is_file():
        raise WeightsError(f"checksum list {list_path.name} not found in {list_path.parent}")
    sums: dict[str, str] = {}
    for number, raw in enumerate(list_path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise WeightsError(
                f"{list_path}: line {number} is not '<sha256>  <file name>': {raw.strip()!r}"
            )
        sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def verify_checksum(path: Path, list_path: Path = CHECKSUMS_FILE) -> str:
    """Check ``path`` against the list; return its SHA-256.

    Raises
    ------
    WeightsError
        The file is missing, not listed, or its SHA-256 differs from the listed one.
    """
    require_file(path)
    expected = read_checksums(list_path).get(path.name)
    if expected is None:
        raise WeightsError(
            f"weights file {path.name} in {path.parent} is not listed in {list_path}; "
            "add its SHA-256 there after checking where the file came from"
        )
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(
            f"weights file {path.name} in {path.parent} does not match {list_path.name}: "
            f"SHA-256 is {actual}, expected {expected} (corrupt or a different file)"
        )
    return actual


def require_file(path: Path) -> None:
    """Raise a WeightsError naming the file and directory when ``path`` is not a file."""
    if not path.is_file():
        raise WeightsError(
            f"weights file {path.name} not found in {path.parent}: copy it there "
            "(MARKIT_WEIGHTS_DIR for external models)"
        )


def load_state_dict_file(path: Path) -> dict[str, Any]:
    """A plain state dict, read with ``weights_only=True`` (no code runs).

    Raises
    ------
    WeightsError
        Missing, truncated or not a state dict.
    """
    import torch

    require_file(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for bad archives
        raise WeightsError(
            f"weights file {path.name} in {path.parent} cannot be read (corrupt or not a "
            f"state dict saved with torch.save): {type(e).__name__}: {_first_line(e)}"
        ) from e
    if isinstance(data, Mapping) and "state_dict" in data:
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(hasattr(v, "shape") for v in data.values()):
        raise WeightsError(f"weights file {path.name} in {path.parent} holds no state dict")
    return dict(data)


def load_pickled_model_state(path: Path, list_path: Path = CHECKSUMS_FILE) -> dict[str, Any]:
    """State dict of a pickled model object, unpickled only after its checksum matched.

    Raises
    ------
    WeightsError
        Not listed, checksum mismatch, or the unpickled object is not a model.
    """
    import torch

    verify_checksum(path, list_path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise WeightsError(
            f"weights file {path.name} in {path.parent} cannot be unpickled: "
            f"{type(e).__name__}: {_first_line(e)}"
        ) from e
    if isinstance(obj, torch.nn.Module):
        return dict(obj.state_dict())
    if isinstance(obj, Mapping):
        return dict(obj.get("state_dict", obj))
    raise WeightsError(
        f"weights file {path.name} in {path.parent} holds a {type(obj).__name__}, not a model"
    )


def read_weights_state(path: Path, checksums: Path) -> tuple[dict[str, Any], Path]:
    """State dict and the file it came from: ``<file>.state.pt`` if converted, else the
    release file itself, read as a plain state dict or else as a pickle only when listed.

    Raises
    ------
    WeightsError
        Missing, corrupt, not listed or not matching its checksum.
    """
    converted = path.with_name(path.name + ".state.pt")
    if converted.is_file():
        return load_state_dict_file(converted), converted
    try:
        return load_state_dict_file(path), path
    except WeightsError:  # not a plain state dict: a pickle, read only when listed
        return load_pickled_model_state(path, checksums), path


def apply_state_dict(model: Any, state: Mapping[str, Any], path: Path, arch: str) -> None:
    """Load ``state`` into ``model`` strictly; a mismatch names the file and architecture.

    Raises
    ------
    WeightsError
        Missing or unexpected keys, or tensors of another shape.
    """
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(
            f"weights file {path.name} in {path.parent} is not for {arch}: {_first_line(e, 300)}"
        ) from e


def _first_line(e: BaseException, limit: int = 200) -> str:
    text = " ".join(str(e).split())
    return text[:limit] + ("..." if len(text) > limit else "")
