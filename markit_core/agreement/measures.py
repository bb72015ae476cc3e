"""Inter-rater agreement for binary labels: counts, Fleiss, Cohen, Krippendorff.

Pure numpy; no Streamlit, no database. The Dawid–Skene truth estimate lives in
:mod:`markit_core.agreement.dawid_skene` and is re-exported here.

Representation
--------------
Ratings of one label are a dense ``int8`` array ``values[rater, item]`` with
``1`` = True, ``0`` = False and :data:`MISSING` (``-1``) = not rated. A missing
rating is never False. :func:`as_ratings` also accepts a boolean array (no
missing values) or a float array with NaN for missing. Items are columns, so a
reference vector (AI, consensus) is an ``int8`` array ``reference[item]`` with
the same coding.

Confidence weighting
--------------------
Where a rating's weight has a clear meaning the functions take ``weights``, an
array of the same shape as ``values`` (use :func:`confidence_weights` to turn
0..100 grades into 0..1 weights): a rating with weight 0.4 counts as 0.4 of a
vote in :func:`majority_vote` and in Dawid–Skene, and as an item weight
(``sample_weight`` in scikit-learn's terms) in Cohen's kappa, where a pair of
ratings weighs the product of the two raters' weights. Fleiss' kappa,
Krippendorff's alpha and the agreement counts are defined on unweighted votes
and take no weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markit_core.agreement.dawid_skene import DawidSkeneResult, dawid_skene, dawid_skene_long
from markit_core.errors import ValidationError

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
]

MISSING: int = -1


@dataclass(frozen=True)
class AgreementSummary:
    """Agreement figures of the paper for a set of items.

    ``items`` counts the items taken into account (rated by at least two
    raters; by every rater in :func:`agreement_summary`).
    """

    items: int
    all_positive: int
    all_negative: int
    disagreements: int
    full_agreement_rate: float
    fleiss_kappa: float

    def to_dict(self) -> dict[str, int | float | None]:
        """JSON-ready dict; an undefined figure (no items) is ``None``."""
        out: dict[str, int | float | None] = dict(self.__dict__)
        for key in ("full_agreement_rate", "fleiss_kappa"):
            value = out[key]
            out[key] = None if value is None or not np.isfinite(value) else float(value)
        return out


def as_ratings(values: np.ndarray) -> np.ndarray:
    """Return ``values`` as a 2-D ``int8`` array coded 1/0/``MISSING``.

    Accepts bool (complete), float with NaN for missing, or integers in
    {-1, 0, 1}; anything else raises :class:`ValidationError`, so every public
    function works on one well-defined coding.
    """
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValidationError(f"ratings must be a 2-D array [rater, item], got {arr.ndim}-D")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if np.issubdtype(arr.dtype, np.floating):
        missing = np.isnan(arr)
        filled = np.where(missing, 0.0, arr)
        if not np.isin(filled, (0.0, 1.0)).all():
            raise ValidationError("float ratings must be 0, 1 or NaN")
        out = filled.astype(np.int8)
        out[missing] = MISSING
        return out
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < MISSING or arr.max() > 1):
            raise ValidationError("integer ratings must be 1, 0 or -1 (missing)")
        return arr.astype(np.int8)
    raise ValidationError(f"unsupported ratings dtype {arr.dtype}")


def confidence_weights(grades: np.ndarray) -> np.ndarray:
    """Turn confidence grades 0..100 into weights 0..1 (NaN grade -> weight 1).

    A rating without a grade keeps full weight, so adding grades to some
    annotations never silently discounts the ungraded ones.
    """
    g = np.asarray(grades, dtype=np.float64)
    finite = ~np.isnan(g)
    if ((g[finite] < 0) | (g[finite] > 100)).any():
        raise ValidationError("confidence grades must be between 0 and 100")
    return np.where(finite, g / 100.0, 1.0)


def _weights(values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Weights array matching ``values``, zero where the rating is missing."""
    present = values != MISSING
    if weights is None:
        return present.astype(np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != values.shape:
        raise ValidationError(f"weights shape {w.shape} does not match ratings {values.shape}")
    if (w[present] < 0).any() or not np.isfinite(w[present]).all():
        raise ValidationError("weights must be finite and non-negative")
    return np.where(present, w, 0.0)


def majority_vote(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Consensus per item: True when (weighted) True votes exceed False votes.

    A tie counts as False, as in the paper's Algorithm 1; an item nobody rated
    is ``MISSING``.
    """
    v = as_ratings(values)
    w = _weights(v, weights)
    pos = (w * (v == 1)).sum(axis=0)
    neg = (w * (v == 0)).sum(axis=0)
    out = (pos > neg).astype(np.int8)
    out[(v != MISSING).sum(axis=0) == 0] = MISSING
    return out


def fleiss_kappa_from_counts(n_true: np.ndarray, n_total: np.ndarray) -> float:
    """Fleiss' kappa (two categories) from per-item True counts and rater counts.

    Items with fewer than two ratings carry no agreement information and are
    ignored. With a varying number of raters per item, each item's agreement
    uses its own count and the marginals pool all ratings (Fleiss' formula
    when the count is constant). Returns 0 when chance agreement is 1 and NaN
    when no item has two ratings.
    """
    nt = np.asarray(n_true, dtype=np.float64)
    n = np.asarray(n_total, dtype=np.float64)
    keep = n >= 2
    nt, n = nt[keep], n[keep]
    if n.size == 0:
        return float("nan")
    nf = n - nt
    p_item = (nt * (nt - 1) + nf * (nf - 1)) / (n * (n - 1))
    p_bar = p_item.mean()
    p_pos = nt.sum() / n.sum()
    p_e = p_pos**2 + (1 - p_pos) ** 2
    if p_e >= 1.0:
        return 0.0
    return float((p_bar - p_e) / (1 - p_e))


def fleiss_kappa(values: np.ndarray) -> float:
    """Fleiss' kappa over the items rated by every rater (see :func:`agreement_summary`)."""
    v = as_ratings(values)
    complete = (v != MISSING).all(axis=0)
    vc = v[:, complete]
    return fleiss_kappa_from_counts((vc == 1).sum(axis=0), np.full(vc.shape[1], vc.shape[0]))


def agreement_from_counts(n_true: np.ndarray, n_total: np.ndarray) -> AgreementSummary:
    """Agreement figures from per-item True counts and rater counts.

    Only items with at least two ratings count: one rating cannot agree or
    disagree with anything.
    """
    nt = np.asarray(n_true, dtype=np.int64)
    n = np.asarray(n_total, dtype=np.int64)
    keep = n >= 2
    nt, n = nt[keep], n[keep]
    items = int(n.size)
    all_pos = int((nt == n).sum())
    all_neg = int((nt == 0).sum())
    rate = (all_pos + all_neg) / items if items else float("nan")
    return AgreementSummary(
        items=items,
        all_positive=all_pos,
        all_negative=all_neg,
        disagreements=items - all_pos - all_neg,
        full_agreement_rate=float(rate),
        fleiss_kappa=fleiss_kappa_from_counts(nt, n),
    )


def agreement_summary(values: np.ndarray) -> AgreementSummary:
    """Paper-style agreement figures over the items rated by every rater.

    The paper's figures (all positive / all negative / disagreements, full
    agreement rate, Fleiss' kappa) assume each item has the same raters, so
    items with any missing rating are left out.
    """
    v = as_ratings(values)
    complete = (v != MISSING).all(axis=0)
    vc = v[:, complete]
    return agreement_from_counts((vc == 1).sum(axis=0), np.full(vc.shape[1], vc.shape[0]))


def kappa_from_confusion(
    n11: np.ndarray, n10: np.ndarray, n01: np.ndarray, n00: np.ndarray
) -> np.ndarray:
    """Cohen's kappa from (possibly weighted) 2x2 counts, elementwise.

    ``n10`` counts items where the first rater said True and the second False.
    Kappa is 0 when chance agreement is 1 (both raters constant and equal)
    and NaN when there is no item.
    """
    n11, n10, n01, n00 = (np.asarray(x, dtype=np.float64) for x in (n11, n10, n01, n00))
    n = n11 + n10 + n01 + n00
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = (n11 + n00) / n
        p_e = ((n11 + n10) * (n11 + n01) + (n00 + n01) * (n00 + n10)) / (n * n)
        kappa = (p_o - p_e) / (1.0 - p_e)
    # p_e can exceed 1 by rounding only; treat "chance agreement is 1" robustly.
    degenerate = np.isclose(p_e, 1.0, rtol=0.0, atol=1e-12)
    kappa = np.where(degenerate, 0.0, kappa)
    return np.where(n > 0, kappa, np.nan)


def cohen_kappa(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Cohen's kappa of two raters on the items both rated.

    ``weights`` is one weight per item (scikit-learn's ``sample_weight``).
    """
    r = as_ratings(np.vstack([np.asarray(a), np.asarray(b)]))
    w = np.ones(r.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    both = (r != MISSING).all(axis=0)
    x, y, w = r[0, both], r[1, both], w[both]
    return float(
        kappa_from_confusion(
            (w * ((x == 1) & (y == 1))).sum(),
            (w * ((x == 1) & (y == 0))).sum(),
            (w * ((x == 0) & (y == 1))).sum(),
            (w * ((x == 0) & (y == 0))).sum(),
        )
    )


def _indicator_pair(
    values: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    v = as_ratings(values)
    w = _weights(v, weights)
    return w * (v == 1), w * (v == 0)


#: Up to this many raters, a rater's unweighted counts against a reference are one
#: bincount of pair codes (no float copies of the ratings); beyond it the matrix products.
_BINCOUNT_RATERS = 16


def _code_counts(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    """(n11, n10, n01, n00) of two 1/0/-1 rows, from one bincount of ``3 (a+1) + (b+1)``."""
    c = np.bincount((3 * (a + 1) + (b + 1)).astype(np.intp), minlength=9)
    return int(c[8]), int(c[7]), int(c[5]), int(c[4])


def pair_confusion(
    values: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rater x rater 2x2 counts ``(n11, n10, n01, n00)``, each pair on the items both rated.

    With weights, a pair of ratings weighs the product of the two ratings' weights.
    """
    v = as_ratings(values)
    if weights is None and 0 < v.shape[0] <= _PATTERN_RATERS:
        return _pattern_confusion(v)
    pos, neg = _indicator_pair(v, weights)
    return pos @ pos.T, pos @ neg.T, neg @ pos.T, neg @ neg.T


#: Up to this many raters, pair counts come from one histogram of the items' rating
#: patterns (3^raters bins): one pass over the items for every pair at once.
_PATTERN_RATERS = 8


def _pattern_confusion(
    v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pair_confusion` (unweighted) from the histogram of rating patterns."""
    n_raters = v.shape[0]
    code = np.zeros(v.shape[1], dtype=np.int32)
    for r in range(n_raters):  # pattern = sum of (rating + 1) * 3^r
        code += (v[r].astype(np.int32) + 1) * 3**r
    hist = np.bincount(code, minlength=3**n_raters).astype(np.float64)
    digits = (np.arange(3**n_raters)[:, None] // 3 ** np.arange(n_raters)) % 3  # (P, raters)
    yes, no = (digits == 2).astype(np.float64), (digits == 1).astype(np.float64)
    weighted_yes, weighted_no = yes * hist[:, None], no * hist[:, None]
    return (
        yes.T @ weighted_yes,
        yes.T @ weighted_no,
        no.T @ weighted_yes,
        no.T @ weighted_no,
    )


def pairwise_cohen_kappa(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Rater x rater matrix of Cohen's kappa, each pair on the items both rated.

    Computed for all pairs at once from :func:`pair_confusion`. The diagonal is
    each rater against itself (1, or 0 for a constant rater).
    """
    return kappa_from_confusion(*pair_confusion(values, weights))


def cohen_kappa_vs_reference(
    values: np.ndarray, reference: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Cohen's kappa of every rater against a reference vector (AI, consensus).

    ``reference[item]`` uses the same 1/0/``MISSING`` coding; each rater is
    compared on the items it rated and the reference has. Weights are the
    raters' rating weights (the reference weighs 1).
    """
    v = as_ratings(values)
    ref = as_ratings(np.asarray(reference)[None, :])[0]
    if ref.shape[0] != v.shape[1]:
        raise ValidationError("reference length does not match the number of items")
    if weights is None and v.shape[0] <= _BINCOUNT_RATERS:
        counts = np.array([_code_counts(row, ref) for row in v], dtype=np.float64).reshape(-1, 4)
        return kappa_from_confusion(counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3])
    pos, neg = _indicator_pair(v, weights)
    rp, rn = (ref == 1).astype(np.float64), (ref == 0).astype(np.float64)
    return kappa_from_confusion(pos @ rp, pos @ rn, neg @ rp, neg @ rn)


def krippendorff_alpha_nominal(values: np.ndarray) -> float:
    """Krippendorff's alpha for nominal data, missing ratings allowed.

    ``values[rater, unit]`` holds non-negative integer categories, with
    ``MISSING`` (-1) or NaN for no rating. Units with fewer than two ratings
    are not pairable and are dropped, as in Krippendorff (2011). Returns NaN
    (undefined) when fewer than two pairable values exist, and also when all
    pairable values fall in one category: with no variation there is no expected
    disagreement, alpha is 0/0, and reporting 1.0 would claim a reliability the
    data cannot show (Krippendorff 2011, section on the absence of variation).
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValidationError("ratings must be a 2-D array [rater, unit]")
    present = ~np.isnan(arr) & (arr != MISSING)
    cats = arr[present]
    if cats.size and ((cats < 0).any() or (cats != np.round(cats)).any()):
        raise ValidationError("nominal categories must be non-negative integers")
    codes = np.full(arr.shape, -1, dtype=np.int64)
    _, codes[present] = np.unique(cats, return_inverse=True)
    n_cat = int(codes.max()) + 1 if cats.size else 0
    # counts[unit, category]: how many raters put the unit in the category.
    unit_idx = np.broadcast_to(np.arange(arr.shape[1]), arr.shape)[present]
    counts = np.zeros((arr.shape[1], max(n_cat, 1)))
    np.add.at(counts, (unit_idx, codes[present]), 1.0)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if m.size == 0:
        return float("nan")
    # Coincidence matrix o[c, k] = sum_u n_uc n_uk / (m_u - 1), minus self-pairs.
    scaled = counts / (m - 1)[:, None]
    o = counts.T @ scaled - np.diag(scaled.sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d_o = o.sum() - np.trace(o)
    d_e = (n_c.sum() ** 2 - (n_c**2).sum()) / (n - 1)
    if d_e == 0:
        return float("nan")
    return float(1.0 - d_o / d_e)
