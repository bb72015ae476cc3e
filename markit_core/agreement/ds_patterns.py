"""Dawid–Skene on rating patterns: items that carry the same ratings share one posterior.

In the two-class model an item's posterior depends only on its group's prior
and on which raters said what about it, so every item with the same
(group, set of (rater, answer)) has the same posterior in every EM
iteration. Four readers on one label give at most 3^4 = 81 patterns, so the
10^7 ratings of a large project collapse to a few thousand units with
multiplicities, and each EM iteration costs microseconds instead of a pass
over every rating. The sums are the same sums grouped differently, so the
fit equals the per-item fit up to floating-point rounding (the tests compare
the two).

A pattern is encoded per item as a bit mask: the raters of each group get
slots 0, 1, ...; a rating in slot ``s`` sets bit ``2 s`` (False) or
``2 s + 1`` (True). The mask is one weighted ``bincount`` of powers of two,
exact in float64 up to 26 slots per group. Weighted ratings, more slots, or a
repeated (item, rater) (the bit count then falls short of the rating count)
keep the per-item fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_SLOTS", "Units", "rating_patterns"]

#: Raters per item group a pattern can hold: 2 bits each, exact in a float64 sum.
MAX_SLOTS = 26
_DENSE_SLACK = 1 << 16


@dataclass(frozen=True, eq=False)
class Units:
    """What EM runs on: units (items, or patterns of identical items) and their ratings.

    A unit stands for ``mult`` items that carry the same ratings (None: one
    item each). Each rating has a rater, a unit, a value, its weight in the
    M-step ``w_m`` (its own weight times its unit's multiplicity) and in the
    E-step ``w_e`` (its own weight). ``of_item`` maps items to units (None
    when units are the items).
    """

    unit: np.ndarray
    rater: np.ndarray
    value: np.ndarray
    w_m: np.ndarray
    w_e: np.ndarray
    mult: np.ndarray | None
    group: np.ndarray  # (n_units,)
    rated: np.ndarray  # (n_units,) bool
    n_units: int
    of_item: np.ndarray | None = None


def _dense(n_keys: int, n_rows: int) -> bool:
    return n_keys <= 4 * n_rows + _DENSE_SLACK


def _slots(
    rater: np.ndarray, rating_group: np.ndarray, n_raters: int, n_groups: int
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(slot of each (group, rater) pair, rater of each (group, slot), slots per group)."""
    n_pairs = n_groups * n_raters
    if not _dense(n_pairs, rater.shape[0]):
        return None
    counts = np.bincount(rating_group * n_raters + rater, minlength=n_pairs)
    present = counts.reshape(n_groups, n_raters) > 0
    n_slots = int(present.sum(axis=1).max(initial=0))
    if n_slots > MAX_SLOTS:
        return None
    slot = np.cumsum(present, axis=1) - 1
    rater_of = np.full((n_groups, max(n_slots, 1)), -1, dtype=np.intp)
    g, r = np.nonzero(present)
    rater_of[g, slot[g, r]] = r
    return slot.ravel(), rater_of, n_slots


def _unique_keys(key: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct keys ascending, unit of each entry, count of each distinct key)."""
    if _dense(n_keys, key.shape[0]):
        counts = np.bincount(key, minlength=n_keys)
        uniq = np.flatnonzero(counts)
        unit_of = np.empty(n_keys, dtype=np.intp)
        unit_of[uniq] = np.arange(uniq.shape[0])
        return uniq, unit_of[key], counts[uniq]
    uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return uniq, inverse.ravel(), counts


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (``np.bitwise_count`` where numpy has it, numpy >= 2)."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        return np.asarray(count(x))
    bits = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1)
    return bits.sum(axis=1)


def rating_patterns(
    rater: np.ndarray, item: np.ndarray, v: np.ndarray, n_raters: int, group: np.ndarray
) -> Units | None:
    """Unweighted ratings as pattern units (module docstring); None where that cannot apply.

    ``v`` holds the ratings as 0.0 / 1.0 and ``group`` the group of each item.
    """
    n_items = group.shape[0]
    n_groups = int(group.max()) + 1 if n_items else 1
    if not rater.size:
        return None
    rating_group = group[item]
    slots = _slots(rater, rating_group, n_raters, n_groups)
    if slots is None:
        return None
    slot_of_pair, rater_of, n_slots = slots
    bit = slot_of_pair[rating_group * n_raters + rater] * 2 + (v > 0)
    mask_f = np.bincount(item, np.ldexp(1.0, bit), n_items)
    mask = mask_f.astype(np.uint64)
    n_ratings = np.bincount(item, minlength=n_items)
    if not np.array_equal(_popcount(mask), n_ratings):
        return None  # a repeated (item, rater): bits carried into each other
    if 2 * n_slots + int(n_groups - 1).bit_length() > 62:
        return None
    n_keys = (1 << (2 * n_slots)) * n_groups
    key = mask.astype(np.int64) * n_groups + group
    uniq, of_item, mult = _unique_keys(key, n_keys)
    unit_group, unit_mask = uniq % n_groups, uniq // n_groups
    units, raters, values = [], [], []
    for s in range(n_slots):
        state = (unit_mask >> (2 * s)) & 3  # 1: said False, 2: said True
        has = np.flatnonzero(state > 0)
        units.append(has)
        raters.append(rater_of[unit_group[has], s])
        values.append((state[has] == 2).astype(np.float64))
    unit = np.concatenate(units)
    order = np.argsort(unit, kind="stable")
    unit = unit[order]
    mult_f = mult.astype(np.float64)
    return Units(
        unit=unit,
        rater=np.concatenate(raters)[order],
        value=np.concatenate(values)[order],
        w_m=mult_f[unit],
        w_e=np.ones(unit.shape[0]),
        mult=mult_f,
        group=unit_group.astype(np.intp),
        rated=unit_mask > 0,
        n_units=int(uniq.shape[0]),
        of_item=of_item,
    )
