"""Labels added as lines of text (markit_core.label_lines)."""

from __future__ import annotations

import pytest

from markit_core.errors import NotFoundError, PermissionDenied, ValidationError
from markit_core.label_lines import add_label_lines, parse_label_lines
from markit_core.labels import add_labels, list_labels


def test_lines_parse_to_name_group_kind():
    assert parse_label_lines("nodule\n  effusion , Pleura \n\ntube\tDevices\troi\n") == [
        {"name": "nodule", "group": "", "kind": "binary"},
        {"name": "effusion", "group": "Pleura", "kind": "binary"},
        {"name": "tube", "group": "Devices", "kind": "roi"},
    ]
    assert parse_label_lines("  \n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ok\n, Lung", "line 2 name is empty"),
        ("a, b, c, d", "line 1: 4 fields"),
        ("a, b, box", "line 1: kind 'box' is not one of binary, roi"),
        ("a\x07b", "line 1 name .* contains control character"),
        ("x\n" * 501, "at most 500"),
    ],
)
def test_a_bad_line_is_named(text, message):
    with pytest.raises(ValidationError, match=message):
        parse_label_lines(text)


def test_lines_are_appended_after_the_current_rows(session, admin, make_user, make_project):
    owner = make_user("owner")
    project = make_project("Chest", owner)
    add_labels(session, owner, project.id, [("cardiomegaly", "Heart")])
    rows = [vars(lb) | {"group": "Cardiac"} for lb in list_labels(session, owner, project.id)]
    changes = add_label_lines(session, owner, project.id, rows, "nodule, Lung\nedema, Lung")
    assert changes.created == ("nodule", "edema") and changes.updated == ("cardiomegaly",)
    labels = list_labels(session, owner, project.id)
    assert [(lb.name, lb.group) for lb in labels] == [
        ("cardiomegaly", "Cardiac"),
        ("nodule", "Lung"),
        ("edema", "Lung"),
    ]
    assert labels[1].order > labels[0].order
    with pytest.raises(ValidationError, match="no labels to add"):
        add_label_lines(session, owner, project.id, rows, "\n")
    ann = make_user("ann")
    with pytest.raises((PermissionDenied, NotFoundError)):  # not a member: not even seen
        add_label_lines(session, ann, project.id, [], "x")
