"""Dawid–Skene estimate of true binary labels and of each rater's accuracy.

An alternative to the majority rule: a careful minority can outvote a
careless majority because each rater's vote is weighed by its estimated
sensitivity and specificity (Dawid & Skene, 1979, two-class case), fitted
by expectation–maximisation. Pure numpy, vectorised over ratings with
``np.bincount``; the work per iteration is O(number of ratings).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from markit_core.agreement.ds_patterns import Units, rating_patterns
from markit_core.errors import ValidationError

__all__ = ["DawidSkeneResult", "dawid_skene", "dawid_skene_long"]


@dataclass(frozen=True, eq=False)
class DawidSkeneResult:
    """Fitted Dawid–Skene model.

    Attributes
    ----------
    posterior : (n_items,) float
        P(true label is True) per item; an item nobody rated gets its group's
        prior.
    sensitivity, specificity : (n_raters,) float
        P(rater says True | True) and P(rater says False | False); NaN for a
        rater with no rating.
    prior : (n_groups,) float
        Estimated prevalence of True per item group.
    n_iter : int
        EM iterations run.
    converged : bool
        Whether the largest posterior change fell below ``tol``.
    """

    posterior: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    prior: np.ndarray
    n_iter: int
    converged: bool

    @property
    def truth(self) -> np.ndarray:
        """Estimated label per item: True when the posterior is >= 0.5."""
        return self.posterior >= 0.5


def _long_inputs(
    rater: np.ndarray,
    item: np.ndarray,
    value: np.ndarray,
    n_items: int,
    weights: np.ndarray | None,
    item_group: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked arrays: rater and item codes, values as 0.0/1.0, weights, item groups."""
    rater = np.asarray(rater, dtype=np.intp)
    item = np.asarray(item, dtype=np.intp)
    v = np.asarray(value, dtype=bool).astype(np.float64)
    if not (rater.shape == item.shape == v.shape):
        raise ValidationError("rater, item and value must have the same length")
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != v.shape or (w < 0).any() or not np.isfinite(w).all():
        raise ValidationError("weights must be finite, non-negative, one per rating")
    group = (
        np.zeros(n_items, dtype=np.intp)
        if item_group is None
        else np.asarray(item_group, dtype=np.intp)
    )
    return rater, item, v, w, group


def _weighted_vote(
    item: np.ndarray, v: np.ndarray, w: np.ndarray, rated: np.ndarray, n_items: int
) -> np.ndarray:
    """Weighted share of True votes per item (0.5 where nobody rated)."""
    pos_votes = np.bincount(item, weights=w * v, minlength=n_items)
    all_votes = np.bincount(item, weights=w, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rated, pos_votes / all_votes, 0.5)


def dawid_skene_long(
    rater: np.ndarray,
    item: np.ndarray,
    value: np.ndarray,
    n_raters: int,
    n_items: int,
    *,
    weights: np.ndarray | None = None,
    item_group: np.ndarray | None = None,
    max_iter: int = 10_000,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkeneResult:
    """Fit Dawid–Skene on ratings in long form (one entry per rating).

    Parameters
    ----------
    rater, item : (n,) int
        Codes in ``[0, n_raters)`` and ``[0, n_items)``. To fit one confusion
        matrix per annotator *and label*, pass ``annotator * n_labels + label``
        as the rater code.
    value : (n,) bool
        The ratings.
    weights : (n,) float, optional
        Rating weights (e.g. confidence grades / 100): a rating of weight 0.4
        counts as 0.4 of an observation in both EM steps.
    item_group : (n_items,) int, optional
        Group of each item (e.g. its label) so each group has its own
        prevalence; default one group.
    max_iter, tol : int, float
        EM runs until the largest posterior change is below ``tol``; ``max_iter``
        is a generous cap for pathological data, and ``converged`` says which
        happened (callers record it: a reward run stores it).
    smoothing : float
        Pseudo-count added to every confusion cell and to the prior, which
        keeps the estimates away from 0 and 1 (where the log-likelihood is
        infinite).

    Returns
    -------
    DawidSkeneResult
    """
    rater, item, v, w, group = _long_inputs(rater, item, value, n_items, weights, item_group)
    if max_iter < 1:
        raise ValidationError("max_iter must be at least 1")
    n_groups = int(group.max()) + 1 if group.size else 1
    units = None if weights is not None else rating_patterns(rater, item, v, n_raters, group)
    if units is None:  # every item its own unit
        rated = np.bincount(item, weights=w, minlength=n_items) > 0
        units = Units(item, rater, v, w, w, None, group, rated, n_items)
    fit = _em(units, n_raters, n_groups, max_iter, tol, float(smoothing))
    post = fit.posterior if units.of_item is None else fit.posterior[units.of_item]
    has = np.bincount(rater, w, n_raters) > 0
    return replace(
        fit,
        posterior=post,
        sensitivity=np.where(has, fit.sensitivity, np.nan),
        specificity=np.where(has, fit.specificity, np.nan),
    )


def _em(
    u: Units, n_raters: int, n_groups: int, max_iter: int, tol: float, a: float
) -> DawidSkeneResult:
    """Expectation-maximisation over the units' ratings (see :class:`Units`); the
    posterior is per unit, and raters without ratings are not yet NaN."""
    post = _weighted_vote(u.unit, u.value, u.w_e, u.rated, u.n_units)  # starting soft labels
    mult = np.ones(u.n_units) if u.mult is None else u.mult
    items_per_group = np.bincount(u.group[u.rated], mult[u.rated], n_groups)
    # One code per (rater, answer) so each EM step is one gather and one bincount.
    cell = u.rater * 2 + u.value.astype(np.intp)
    w_cell = np.bincount(cell, u.w_m, 2 * n_raters).reshape(n_raters, 2)
    rated_group = u.group[u.rated]
    rated_mult = mult[u.rated]
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        # M-step: rater confusion and group prevalence from the soft labels.
        wt = np.bincount(cell, u.w_m * post[u.unit], 2 * n_raters).reshape(n_raters, 2)
        sens = (wt[:, 1] + a) / (wt.sum(axis=1) + 2 * a)
        not_t = w_cell - wt  # weight of ratings on items that are False
        spec = (not_t[:, 0] + a) / (not_t.sum(axis=1) + 2 * a)
        mass = np.bincount(rated_group, rated_mult * post[u.rated], n_groups)
        prior = (mass + a) / (items_per_group + 2 * a)
        # E-step: log-odds of True per unit; a rating adds log P(answer|T)/P(answer|F).
        log_lr = np.empty((n_raters, 2))
        log_lr[:, 1] = np.log(sens) - np.log1p(-spec)
        log_lr[:, 0] = np.log1p(-sens) - np.log(spec)
        log_odds = np.log(prior[u.group]) - np.log1p(-prior[u.group])
        log_odds = log_odds + np.bincount(u.unit, u.w_e * log_lr.ravel()[cell], u.n_units)
        new_post = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -500, 500)))
        change = float(np.max(np.abs(new_post - post))) if u.n_units else 0.0
        post = new_post
        if change < tol:
            converged = True
            break
    return DawidSkeneResult(post, sens, spec, prior, n_iter, converged)


def dawid_skene(
    values: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    max_iter: int = 10_000,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkeneResult:
    """Fit Dawid–Skene on a dense ``values[rater, item]`` array of one label.

    Coding as in :mod:`markit_core.agreement.measures` (1 / 0 / -1 missing); see
    :func:`dawid_skene_long` for the parameters.
    """
    from markit_core.agreement.measures import MISSING, as_ratings

    v = as_ratings(values)
    r_idx, i_idx = np.nonzero(v != MISSING)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[r_idx, i_idx]
    return dawid_skene_long(
        r_idx,
        i_idx,
        v[r_idx, i_idx] == 1,
        v.shape[0],
        v.shape[1],
        weights=w,
        max_iter=max_iter,
        tol=tol,
        smoothing=smoothing,
    )
