"""Reading a case: the queue, drafts saved as the reader works, timing, regions,
and submitted readings (versioned, never updated in place) with their current answers."""

from __future__ import annotations

from markit_core.annotation.current import (
    CurrentAnswer,
    current_annotation_ids,
    current_answers,
)
from markit_core.annotation.drafts import (
    DEFAULT_GRADE,
    Draft,
    DraftAnswer,
    discard_draft,
    load_draft,
    new_token,
    save_draft,
)
from markit_core.annotation.editing import (
    KEY_ACTIONS,
    apply_key,
    display_order,
    replace_frame_regions,
)
from markit_core.annotation.navigation import (
    STATUSES,
    WINDOW,
    CaseEntry,
    CaseWindow,
    case_list,
    case_window,
    neighbours,
    queue_neighbours,
    upcoming,
)
from markit_core.annotation.progress import (
    AnnotatorProgress,
    project_progress,
)
from markit_core.annotation.queue import (
    Queue,
    assign_cases,
    build_queue,
    case_in_project,
    parse_case_ids,
)
from markit_core.annotation.regions import (
    LABEL_PALETTE,
    CanvasRegions,
    draw_regions,
    drawing_to_regions,
    label_colors,
    object_canvas_points,
    region_canvas_points,
    regions_to_drawing,
    same_regions,
)
from markit_core.annotation.submit import (
    CONFIDENCE_GRADES,
    ROI_SHAPES,
    Answer,
    Reading,
    RegionInput,
    SubmitResult,
    delete_reading,
    history,
    my_reading,
    others_readings,
    submit,
)
from markit_core.annotation.summary import (
    ProjectSummary,
    project_summary,
)
from markit_core.annotation.timing import (
    Interaction,
    Timing,
    compute_timing,
)

__all__ = [
    "KEY_ACTIONS",
    "apply_key",
    "display_order",
    "replace_frame_regions",
    "CONFIDENCE_GRADES",
    "ROI_SHAPES",
    "Answer",
    "RegionInput",
    "SubmitResult",
    "Reading",
    "submit",
    "delete_reading",
    "my_reading",
    "others_readings",
    "history",
    "CurrentAnswer",
    "current_annotation_ids",
    "current_answers",
    "Queue",
    "STATUSES",
    "WINDOW",
    "CaseEntry",
    "CaseWindow",
    "case_list",
    "case_window",
    "neighbours",
    "queue_neighbours",
    "upcoming",
    "build_queue",
    "case_in_project",
    "assign_cases",
    "parse_case_ids",
    "DEFAULT_GRADE",
    "new_token",
    "Draft",
    "DraftAnswer",
    "save_draft",
    "load_draft",
    "discard_draft",
    "Interaction",
    "Timing",
    "compute_timing",
    "LABEL_PALETTE",
    "CanvasRegions",
    "draw_regions",
    "drawing_to_regions",
    "label_colors",
    "object_canvas_points",
    "region_canvas_points",
    "regions_to_drawing",
    "same_regions",
    "AnnotatorProgress",
    "project_progress",
    "ProjectSummary",
    "project_summary",
]
