"""Labelling-time statistics: n, mean, median and 95% CI of the mean per group.

The paper reports times as "6.16 ± 0.21 s" (mean ± half-width of the 95%
confidence interval) and box plots per label and annotator. Everything is
computed for all groups at once: bincount for sums, and for medians one
counting sort of the times by group and ``np.partition`` per group (linear
time, no sort of 10^7 times).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from markit_core.rewards.table import AnnotationTable

__all__ = [
    "TIME_CI_METHOD",
    "GroupedTimes",
    "TimeStats",
    "group_time_stats",
    "grouped_times",
    "label_time_stats",
    "pair_times",
    "t_quantile",
    "time_table",
]


def t_quantile(p: float, df: np.ndarray) -> np.ndarray:
    """Quantile ``p`` (0.5 < p < 1) of Student's t with ``df`` degrees of freedom.

    Hill's algorithm (ACM 396, 1970), exact for df 1 and 2; relative error
    below 1e-6 for p = 0.975 and below 1e-5 for the usual levels, which is
    far below the precision of any timing. Pure numpy, so the CLI does not
    pay scipy's import time. NaN where df < 1.
    """
    if not 0.5 < p < 1.0:
        raise ValueError("p must be between 0.5 and 1")
    n = np.asarray(df, dtype=np.float64)
    two_tail = 2.0 * (1.0 - p)
    x = NormalDist().inv_cdf(0.5 * two_tail)  # negative normal quantile
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = 1.0 / (n - 0.5)
        b = 48.0 / (a * a)
        c = ((20700 * a / b - 98) * a - 16) * a + 96.36
        d = ((94.5 / (b + c) - 3) / b + 1) * np.sqrt(a * np.pi / 2) * n
        y = (d * two_tail) ** (2.0 / n)
        # Asymptotic expansion about the normal quantile (most df).
        c_asym = c + np.where(n < 5, 0.3 * (n - 4.5) * (x + 0.6), 0.0)
        c_asym = (((0.05 * d * x - 5) * x - 7) * x - 2) * x + b + c_asym
        x2 = x * x
        y_asym = (((((0.4 * x2 + 6.3) * x2 + 36) * x2 + 94.5) / c_asym - x2 - 3) / b + 1) * x
        q_asym = np.sqrt(n * np.expm1(a * y_asym * y_asym))
        # Small-df branch.
        y_small = (
            (1 / (((n + 6) / (n * y) - 0.089 * d - 0.822) * (n + 2) * 3) + 0.5 / (n + 4)) * y - 1
        ) * (n + 1) / (n + 2) + 1 / y
        q_small = np.sqrt(n * y_small)
        q = np.where(y > 0.05 + a, q_asym, q_small)
    q = np.where(n == 2, np.sqrt(2.0 / (two_tail * (2 - two_tail)) - 2), q)
    q = np.where(n == 1, 1.0 / np.tan(two_tail * np.pi / 2), q)
    return np.where(n >= 1, q, np.nan)


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


#: Up to this many groups, medians are found group by group with ``np.partition``
#: (linear time); beyond it, one sort of every time is cheaper than the loop.
PARTITION_GROUPS = 4096


@dataclass(frozen=True, eq=False)
class GroupedTimes:
    """Timed answers (NaN dropped) of groups ``[0, n_groups)``, also laid out group by group.

    ``x`` and ``group`` keep the input order; ``by_group`` holds the same
    times with each group's contiguous (groups ascending, input order within),
    ``n`` the count per group.
    """

    x: np.ndarray
    group: np.ndarray
    by_group: np.ndarray
    n: np.ndarray

    def starts(self) -> np.ndarray:
        """Where each group's times begin in ``by_group``."""
        return np.cumsum(self.n) - self.n


def grouped_times(seconds: np.ndarray, group: np.ndarray, n_groups: int) -> GroupedTimes:
    """The timed answers per group (a counting sort by group: no sort of the times)."""
    x = np.asarray(seconds, dtype=np.float64)
    g = np.asarray(group, dtype=np.intp)
    ok = ~np.isnan(x)
    x, g = x[ok], g[ok]
    n = np.bincount(g, minlength=n_groups)
    # A stable sort of small integer codes is a radix sort in numpy: linear time.
    code_type = np.uint16 if n_groups <= np.iinfo(np.uint16).max + 1 else np.int64
    by_group = x[np.argsort(g.astype(code_type), kind="stable")]
    return GroupedTimes(x, g, by_group, n)


def _medians(by_group: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Median of each group's contiguous run of ``by_group`` (NaN for an empty group)."""
    start = np.cumsum(n) - n
    lo, hi = start + (n - 1) // 2, start + n // 2
    has = n > 0
    median = np.full(n.shape[0], np.nan)
    if n.shape[0] > PARTITION_GROUPS:
        # Sort within groups: stable by group after sorting by value.
        group = np.repeat(np.arange(n.shape[0]), n)
        by_value = np.argsort(by_group)
        xs = by_group[by_value[np.argsort(group[by_value], kind="stable")]]
        median[has] = (xs[lo[has]] + xs[hi[has]]) / 2.0
        return median
    for g in np.flatnonzero(has).tolist():
        k_lo, k_hi = int(lo[g] - start[g]), int(hi[g] - start[g])
        part = np.partition(by_group[start[g] : start[g] + n[g]], (k_lo, k_hi))
        median[g] = (part[k_lo] + part[k_hi]) / 2.0
    return median


def _stats(
    x: np.ndarray, g: np.ndarray, n: np.ndarray, median: np.ndarray, confidence: float
) -> TimeStats:
    n_groups = n.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, x, n_groups) / n
        dev2 = np.bincount(g, (x - mean[g]) ** 2, n_groups)
        sd = np.sqrt(dev2 / (n - 1))
        half = t_quantile(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return TimeStats(
        n=n,
        mean=mean,
        median=median,
        ci_low=mean - half,
        ci_high=mean + half,
        half_width=half,
    )


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
    t = grouped_times(seconds, group, n_groups)
    return _stats(t.x, t.group, t.n, _medians(t.by_group, t.n), confidence)


def label_time_stats(
    pair_times: GroupedTimes, n_labels: int, confidence: float = 0.95
) -> tuple[TimeStats | None, TimeStats | None]:
    """(per label, per (label, annotator) as (K, I)) from times grouped by
    ``label * I + annotator``; (None, None) when no answer is timed.

    A label's groups are contiguous in that order, so both levels come from one
    grouping: the same figures as :func:`group_time_stats` per level.
    """
    if not pair_times.x.size:
        return None, None
    n_pairs = pair_times.n.shape[0]
    n_i = n_pairs // n_labels if n_labels else 0
    n_label = pair_times.n.reshape(n_labels, n_i).sum(axis=1)
    label = pair_times.group // n_i
    by_label = _stats(
        pair_times.x, label, n_label, _medians(pair_times.by_group, n_label), confidence
    )
    pair = _stats(
        pair_times.x,
        pair_times.group,
        pair_times.n,
        _medians(pair_times.by_group, pair_times.n),
        confidence,
    )
    return by_label, pair.reshape((n_labels, n_i))


def pair_times(table: AnnotationTable) -> GroupedTimes | None:
    """The table's timed answers grouped by ``label * I + annotator`` (once per table);
    None without times."""
    seconds = table.seconds
    if seconds is None:
        return None
    n_i, n_k = len(table.annotators), len(table.labels)
    grouped: GroupedTimes = table.derived(
        "pair_times", lambda: grouped_times(seconds, table.label * n_i + table.annotator, n_k * n_i)
    )
    return grouped


TIME_CI_METHOD = (
    "mean ± t(0.975, n-1) · sd / sqrt(n) over the individual answer times "
    "(Student's t interval; answers treated as independent, as in the paper's table)"
)


def time_table(
    seconds: np.ndarray,
    label: np.ndarray,
    labels: tuple[str, ...],
    by_label: TimeStats | None = None,
) -> dict[str, object] | None:
    """The paper's supplementary time table: per label and overall mean with its 95 % CI.

    ``{"method", "overall": row, "by_label": {label: row}}`` with rows as
    :meth:`TimeStats.row`; None when no answer is timed. ``by_label`` (the
    same statistics, e.g. a reward result's ``time_by_label``) saves
    computing them again.
    """
    x = np.asarray(seconds, dtype=np.float64)
    timed = x[~np.isnan(x)]
    if timed.size == 0:
        return None
    if by_label is None:
        by_label = group_time_stats(x, label, len(labels))
    n = timed.size
    mean = float(timed.mean())
    half = (
        float(t_quantile(0.975, np.array([n - 1.0]))[0] * timed.std(ddof=1) / np.sqrt(n))
        if n >= 2
        else float("nan")
    )
    overall = TimeStats(
        n=np.array([n]),
        mean=np.array([mean]),
        median=np.array([float(np.median(timed))]),
        ci_low=np.array([mean - half]),
        ci_high=np.array([mean + half]),
        half_width=np.array([half]),
    )
    return {
        "method": TIME_CI_METHOD,
        "overall": overall.row(0),
        "by_label": {name: by_label.row(k) for k, name in enumerate(labels)},
    }
