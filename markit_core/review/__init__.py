"""What reviewers see: where readers disagree (heatmaps, disagreement list),
calibration of confidence, and adjudication of disputed answers."""

from __future__ import annotations

from markit_core.review.answers import (
    AiReference,
    ProjectAnswers,
    case_name,
    load_ai_reference,
    load_answers,
)
from markit_core.review.views import (
    AdjudicationView,
    Calibration,
    Disagreement,
    LabelMatrix,
    PairAgreement,
    RegionView,
    Reliability,
    adjudicate,
    annotator_agreement,
    calibration,
    case_picture,
    disagreements,
    label_matrix,
    next_disagreement,
    reliability,
    reviewable,
)

__all__ = [
    "AiReference",
    "ProjectAnswers",
    "case_name",
    "load_ai_reference",
    "load_answers",
    "AdjudicationView",
    "Calibration",
    "Disagreement",
    "LabelMatrix",
    "PairAgreement",
    "RegionView",
    "Reliability",
    "adjudicate",
    "annotator_agreement",
    "calibration",
    "case_picture",
    "disagreements",
    "label_matrix",
    "next_disagreement",
    "reliability",
    "reviewable",
]
