"""The COCO writer's direct formatting equals the JSON of the annotation dict it stands for."""

from __future__ import annotations

import json
import random

import pytest

from markit_core.export.coco import _annotation, _annotation_json
from markit_core.export.rows import RegionRow

_rng = random.Random(7)
SHAPES = [
    ("rect", [[10, 20.5], [3.25, 40]]),  # corners in any order, ints and floats
    ("polygon", [[0, 0], [10, 0], [5, 7.5]]),
    ("freehand", [[_rng.uniform(0, 4096), _rng.uniform(0, 4096)] for _ in range(200)]),
    ("polygon", [[1e-7, 3.0], [12345.678901234, 0.1], [0.3, 1e5]]),
]


@pytest.mark.parametrize(("shape", "points"), SHAPES)
def test_direct_json_equals_the_dict(shape, points):
    row = RegionRow(
        11, 2, 3, "nodule", shape, 1, json.dumps(points), 'r"e\\a\u00e9', 9, 4, "human", None
    )
    direct = json.loads(_annotation_json(row, 5))
    assert direct == _annotation(row, 5)
    assert direct["segmentation"][0][:2] == [float(v) for v in direct["segmentation"][0][:2]]


@pytest.mark.parametrize(
    "stored",
    ["2026-12-02 04:47:36.256566", "2026-12-02 04:47:36.000000", "2026-01-31 23:59:59.000001"],
)
def test_sqlite_timestamp_text_reads_as_the_aware_datetime_would(stored):
    """The readings CSV writes SQLite's stored text as the isoformat() of the aware UTC value."""
    from datetime import UTC, datetime

    from markit_core.export.rows import iso_time

    aware = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    assert iso_time(stored) == aware.isoformat()
    assert iso_time(aware) == aware.isoformat() and iso_time(None) == ""
