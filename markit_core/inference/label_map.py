"""Editable tables that map a model's label names to a project's labels.

A table is a JSON file ``{"map": {"Effusion": "pleural effusion", ...}}`` (see
``models/label_maps/``). A project label fed by several model labels takes the
highest probability; model labels not in the table are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from markit_core.errors import InputFileError

LABEL_MAPS_DIR = Path(__file__).resolve().parents[2] / "models" / "label_maps"


def read_label_map(path: Path) -> dict[str, str]:
    """Model label -> project label from a JSON table.

    Raises
    ------
    InputFileError
        Missing file, bad JSON, or a ``map`` that is not strings to strings.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InputFileError(f"label map {path} not found") from e
    except json.JSONDecodeError as e:
        raise InputFileError(f"label map {path}: not valid JSON (line {e.lineno})") from e
    table = data.get("map") if isinstance(data, dict) else None
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in table.items()
    ):
        raise InputFileError(f"label map {path}: 'map' must map model labels to project labels")
    return {k: v.strip() for k, v in table.items()}


def map_outputs(
    outputs: Mapping[str, float],
    table: Mapping[str, str],
    project_labels: Iterable[str] | None = None,
) -> dict[str, float]:
    """Project label -> probability from model outputs ``{model label: probability}``.

    Parameters
    ----------
    outputs : Mapping[str, float]
        A model's outputs by its own label names.
    table : Mapping[str, str]
        Model label -> project label (:func:`read_label_map`).
    project_labels : Iterable[str] | None
        When given, only these project labels are kept (case-insensitive match; the
        project's spelling is returned).
    """
    wanted = None
    if project_labels is not None:
        wanted = {name.casefold(): name for name in project_labels}
    mapped: dict[str, float] = {}
    for model_label, value in outputs.items():
        target = table.get(model_label)
        if target is None:
            continue
        if wanted is not None:
            if target.casefold() not in wanted:
                continue
            target = wanted[target.casefold()]
        mapped[target] = max(float(value), mapped.get(target, float("-inf")))
    return mapped
