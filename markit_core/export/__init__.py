"""Exports of a project's annotations; every export is permission-checked and ledgered."""

from __future__ import annotations

from markit_core.export.csv_export import (
    CSV_COLUMNS,
    export_annotations_csv,
)

__all__ = [
    "CSV_COLUMNS",
    "export_annotations_csv",
]
