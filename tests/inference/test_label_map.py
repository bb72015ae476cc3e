"""Editable label maps: torchxrayvision labels -> a project's labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from markit_core.demo.generator import DEMO_LABELS
from markit_core.errors import InputFileError
from markit_core.inference.catalog import XRV_LABELS
from markit_core.inference.label_map import LABEL_MAPS_DIR, map_outputs, read_label_map


def test_shipped_map_covers_the_demo_labels_with_real_xrv_names() -> None:
    table = read_label_map(LABEL_MAPS_DIR / "xrv-to-demo.json")
    assert set(table) <= set(XRV_LABELS)
    assert set(table.values()) == set(DEMO_LABELS)
    outputs = dict.fromkeys(XRV_LABELS, 0.1) | {"Effusion": 0.8, "Consolidation": 0.7}
    mapped = map_outputs(outputs, table, ["Pleural Effusion", "pneumonia"])
    assert mapped == {"Pleural Effusion": 0.8, "pneumonia": 0.7}  # max of Pneumonia/Consolidation


def test_bad_tables_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        read_label_map(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputFileError, match="not valid JSON"):
        read_label_map(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text('{"map": {"Effusion": 3}}')
    with pytest.raises(InputFileError, match="must map model labels"):
        read_label_map(tmp_path / "list.json")
