"""Shared look: colours per annotator and display names used by several pages."""

from __future__ import annotations

from plotly.colors import qualitative

# One colour per annotator, the same on every chart and image overlay.
ANNOTATOR_COLOURS: tuple[str, ...] = tuple(qualitative.D3)

TRUTH_RULE_NAMES = {"majority": "majority (as in the paper)", "dawid_skene": "Dawid–Skene"}


def colour(index: int) -> str:
    """The colour of the ``index``-th annotator (cycling)."""
    return ANNOTATOR_COLOURS[index % len(ANNOTATOR_COLOURS)]
