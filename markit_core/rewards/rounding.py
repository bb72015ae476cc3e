"""Split a budget into payouts at a currency's precision that add up to it exactly.

Rounding each share on its own can pay a cent too much or too little
(280.69 + 323.80 + 395.52 = 1000.01). The largest-remainder (Hamilton) method
works in whole minor units: every share is first rounded down, and the units
left over go one each to the shares that lost the most by rounding down (ties
to the earlier annotator, so the result is reproducible).
"""

from __future__ import annotations

import numpy as np

from markit_core.errors import ValidationError

__all__ = ["MAX_DECIMALS", "largest_remainder"]

#: More decimals than any currency uses; beyond this float shares lose exactness.
MAX_DECIMALS = 6


def largest_remainder(shares: np.ndarray, budget: float, decimals: int = 2) -> np.ndarray:
    """Payouts proportional to ``shares`` that sum exactly to ``budget`` at ``decimals``.

    Parameters
    ----------
    shares : (n,) float
        Non-negative weights (the paid scores); at least one positive.
    budget : float
        Amount to split; rounded to ``decimals`` first.
    decimals : int
        Precision of the currency (2 for cents, 0 for whole tokens).

    Returns
    -------
    (n,) float
        Each payout a whole number of ``10**-decimals`` units; their sum in
        those units equals the budget's exactly.
    """
    if not 0 <= int(decimals) <= MAX_DECIMALS:
        raise ValidationError(f"decimals must be between 0 and {MAX_DECIMALS}, got {decimals}")
    w = np.asarray(shares, dtype=np.float64)
    if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
        raise ValidationError("shares must be finite, non-negative and not all zero")
    scale = 10 ** int(decimals)
    total_units = int(round(float(budget) * scale))
    exact = total_units * (w / w.sum())
    units = np.floor(exact).astype(np.int64)
    left = total_units - int(units.sum())
    if left > 0:
        order = np.lexsort((np.arange(w.size), -(exact - units)))  # biggest loss first
        units[order[:left]] += 1
    return units / scale
