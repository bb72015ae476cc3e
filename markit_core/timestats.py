"""Labelling-time statistics: n, mean, median and 95% CI of the mean per group.

The paper reports times as "6.16 ± 0.21 s" (mean ± half-width of the 95%
confidence interval) and box plots per label and annotator. Everything is
computed for all groups at once (bincount for sums, one lexsort for medians).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TimeStats", "group_time_stats", "t_quantile"]


def t_quantile(p: float, df: np.ndarray) -> np.ndarray:
    """Quantile ``p`` of Student's t with ``df`` degrees of freedom (NaN where df < 1)."""
    try:
        from scipy.special import stdtrit
    except ImportError as e:  # pragma: no cover - scipy ships with the stack
        raise RuntimeError("scipy is needed for confidence intervals of times") from e
    d = np.asarray(df, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(d >= 1, stdtrit(np.maximum(d, 1.0), p), np.nan)


@dataclass(frozen=True, eq=False)
class TimeStats:
    """Time statistics of groups; every array has the groups' shape.

    ``half_width`` is t(0.975, n-1) * sd / sqrt(n) so the CI is
    ``mean ± half_width``; it is NaN for groups with fewer than two times,
    and every figure is NaN for a group without times (``n`` = 0).
    """

    n: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    half_width: np.ndarray

    def reshape(self, shape: tuple[int, ...]) -> TimeStats:
        """The same statistics with the group axis reshaped (e.g. to labels x annotators)."""
        return TimeStats(**{k: v.reshape(shape) for k, v in self.__dict__.items()})

    def row(self, index: tuple[int, ...] | int) -> dict[str, float | int | None]:
        """JSON-ready figures of one group (NaN -> None)."""
        out: dict[str, float | int | None] = {"n": int(self.n[index])}
        for key in ("mean", "median", "ci_low", "ci_high", "half_width"):
            x = float(getattr(self, key)[index])
            out[key] = x if np.isfinite(x) else None
        return out


def group_time_stats(
    seconds: np.ndarray, group: np.ndarray, n_groups: int, confidence: float = 0.95
) -> TimeStats:
    """Statistics of ``seconds`` per ``group`` code (NaN times are ignored).

    Parameters
    ----------
    seconds : (n,) float
        One time per annotation, NaN where not timed.
    group : (n,) int
        Group code in ``[0, n_groups)`` of each time.
    confidence : float
        Level of the two-sided t interval of the mean.
    """
    x = np.asarray(seconds, dtype=np.float64)
    g = np.asarray(group, dtype=np.intp)
    ok = ~np.isnan(x)
    x, g = x[ok], g[ok]
    n = np.bincount(g, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, x, n_groups) / n
        dev2 = np.bincount(g, (x - mean[g]) ** 2, n_groups)
        sd = np.sqrt(dev2 / (n - 1))
        half = t_quantile(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)

    # Median: sort by (group, value); the middle of each group's run.
    order = np.lexsort((x, g))
    xs = x[order]
    start = np.concatenate(([0], np.cumsum(n)[:-1]))
    lo = start + (n - 1) // 2
    hi = start + n // 2
    has = n > 0
    median = np.full(n_groups, np.nan)
    median[has] = (xs[lo[has]] + xs[hi[has]]) / 2.0
    return TimeStats(
        n=n,
        mean=mean,
        median=median,
        ci_low=mean - half,
        ci_high=mean + half,
        half_width=half,
    )
