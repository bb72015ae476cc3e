"""One annotator colour palette: a person has the same colour on every chart and overlay."""

from __future__ import annotations

from markit_core.demo.seed import DEMO_USERS
from markit_core.models import Role
from ui.style import ANNOTATOR_COLOURS, annotator_color


def test_a_colour_depends_on_the_name_only():
    assert annotator_color("ann1") == annotator_color("ann1")
    assert annotator_color("ann1") in ANNOTATOR_COLOURS
    # not on the order or the set of readers a view happens to show
    first = [annotator_color(n) for n in ("ann1", "ann2", "ann3")]
    again = [annotator_color(n) for n in ("ann3", "ann2", "ann1")][::-1]
    assert first == again


def test_the_demo_readers_are_told_apart():
    readers = [
        n for n, (_, roles) in DEMO_USERS.items() if {Role.ANNOTATOR, Role.OWNER} & set(roles)
    ]
    assert len(readers) >= 5
    assert len({annotator_color(n) for n in readers}) == len(readers)
