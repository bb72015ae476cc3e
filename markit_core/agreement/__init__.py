"""Agreement statistics (Cohen, Fleiss, Krippendorff), Dawid–Skene, and the truth
rules that review and rewards share."""

from __future__ import annotations

from markit_core.agreement.measures import (
    MISSING,
    AgreementSummary,
    DawidSkeneResult,
    agreement_from_counts,
    agreement_summary,
    as_ratings,
    cohen_kappa,
    cohen_kappa_vs_reference,
    confidence_weights,
    dawid_skene,
    dawid_skene_long,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    kappa_from_confusion,
    krippendorff_alpha_nominal,
    majority_vote,
    pair_confusion,
    pairwise_cohen_kappa,
)
from markit_core.agreement.truth import (
    TRUTH_RULES,
    dense_truth,
    normalise_truth,
)

__all__ = [
    "MISSING",
    "AgreementSummary",
    "DawidSkeneResult",
    "agreement_from_counts",
    "agreement_summary",
    "as_ratings",
    "cohen_kappa",
    "cohen_kappa_vs_reference",
    "confidence_weights",
    "dawid_skene",
    "dawid_skene_long",
    "fleiss_kappa",
    "fleiss_kappa_from_counts",
    "kappa_from_confusion",
    "krippendorff_alpha_nominal",
    "majority_vote",
    "pair_confusion",
    "pairwise_cohen_kappa",
    "TRUTH_RULES",
    "dense_truth",
    "normalise_truth",
]
