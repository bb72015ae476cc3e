"""Exports of a project's annotations; every export is permission-checked and ledgered.

Today's one CSV (``export_annotations_csv``, read by the rewards command) and
the full export with its audit bundle (``export_bundle``): readings and
regions CSV, COCO, consensus, DICOM SR (and STOW-RS). Columns: docs/export.md.
"""

from __future__ import annotations

from markit_core.export.bundle_export import FORMATS, ExportResult, export_bundle
from markit_core.export.csv_export import (
    CSV_COLUMNS,
    export_annotations_csv,
)
from markit_core.export.tables import READING_COLUMNS, REGION_COLUMNS

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "READING_COLUMNS",
    "REGION_COLUMNS",
    "ExportResult",
    "export_annotations_csv",
    "export_bundle",
]
