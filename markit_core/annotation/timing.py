"""Annotation timing, as the MarkIt paper measures it.

* total: from the image being fully displayed to submit;
* per label: from display to the annotator's last change of that label;
* idle: every stretch without interaction longer than a threshold counts,
  beyond the threshold, as idle; active = total - idle.

Counting only the excess keeps a reader who looks at an image for a while
before the first click from being docked for it, while a coffee break does
not inflate the time spent per label.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from markit_core.errors import ValidationError


@dataclass(frozen=True)
class Interaction:
    """An interaction ``at`` seconds after display; ``label_id`` if it changed a label."""

    at: float
    label_id: int | None = None


#: Longest time a reading may record (30 days): anything longer is a clock or client bug.
MAX_SECONDS = 30 * 24 * 3600.0


@dataclass(frozen=True)
class Timing:
    total_seconds: float
    active_seconds: float
    idle_seconds: float
    label_seconds: dict[int, float] = field(default_factory=dict)


def check_timing(timing: Timing) -> None:
    """Refuse a timing with NaN, infinite, negative or implausibly long seconds.

    The core checks this itself (not only the page), so a script calling
    ``submit`` cannot store ``inf`` or ``NaN`` that would poison every mean later.
    """
    fields = {
        "total": timing.total_seconds,
        "active": timing.active_seconds,
        "idle": timing.idle_seconds,
        **{f"label {k}": v for k, v in timing.label_seconds.items()},
    }
    for what, value in fields.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"{what} seconds {value!r} is not a number")
        if not math.isfinite(value) or not 0.0 <= value <= MAX_SECONDS:
            raise ValidationError(
                f"{what} seconds {value!r} must be a finite number between 0 and {MAX_SECONDS:g}"
            )


def compute_timing(
    submitted_at: float, interactions: Iterable[Interaction], idle_threshold: float
) -> Timing:
    """Timing of one reading; times are seconds since the image was displayed.

    Parameters
    ----------
    submitted_at
        Seconds from display to submit.
    interactions
        Every widget change or drawing, in any order.
    idle_threshold
        Gaps between interactions longer than this count as idle beyond it.
    """
    if not math.isfinite(submitted_at) or submitted_at > MAX_SECONDS:
        raise ValidationError(f"submit time {submitted_at} s is not a finite, plausible time")
    if submitted_at < 0:
        raise ValidationError(f"submit time {submitted_at} s is before the image was displayed")
    if not math.isfinite(idle_threshold) or idle_threshold <= 0:
        raise ValidationError("idle threshold must be a positive number")
    events = sorted(interactions, key=lambda e: e.at)
    for e in events:
        if not 0 <= e.at <= submitted_at:
            raise ValidationError(f"interaction at {e.at} s lies outside 0..{submitted_at} s")
    marks = [0.0, *(e.at for e in events), submitted_at]
    idle = sum(max(0.0, b - a - idle_threshold) for a, b in pairwise(marks))
    last_change: dict[int, float] = {}
    for e in events:
        if e.label_id is not None:
            last_change[e.label_id] = e.at
    return Timing(
        total_seconds=float(submitted_at),
        active_seconds=float(submitted_at - idle),
        idle_seconds=float(idle),
        label_seconds={k: float(v) for k, v in last_change.items()},
    )
