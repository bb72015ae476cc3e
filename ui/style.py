"""Shared look: colours per annotator and display names used by several pages."""

from __future__ import annotations

import hashlib

from plotly.colors import qualitative

# The annotator palette: see annotator_color.
ANNOTATOR_COLOURS: tuple[str, ...] = tuple(qualitative.D3)

TRUTH_RULE_NAMES = {"majority": "majority (as in the paper)", "dawid_skene": "Dawid–Skene"}


def colour(index: int) -> str:
    """The ``index``-th colour of the palette, cycling (for series that are not people)."""
    return ANNOTATOR_COLOURS[index % len(ANNOTATOR_COLOURS)]


def annotator_color(name: str) -> str:
    """The colour of annotator ``name``, the same on every chart and image overlay.

    Chosen from the name alone (a stable hash), so a person keeps one colour on
    every page whatever set or order of readers a view shows. Names are always
    shown beside the colour, so two people sharing one in a large project can
    still be told apart.
    """
    digest = hashlib.sha256(name.encode()).digest()
    return ANNOTATOR_COLOURS[int.from_bytes(digest, "big") % len(ANNOTATOR_COLOURS)]
