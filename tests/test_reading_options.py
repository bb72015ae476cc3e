"""Blinded reading: a project can hide the radiology report from its readers."""

from __future__ import annotations

import pytest

from markit_core import ledger
from markit_core.errors import NotFoundError, PermissionDenied
from markit_core.models import Role
from markit_core.reading_options import set_show_report, show_report


def test_report_shown_by_default_hidden_when_set_and_only_managers_set_it(
    session, admin, make_user, make_project
):
    owner, reader = make_user("owner"), make_user("reader")
    project = make_project("P", owner, {"reader": [Role.ANNOTATOR]})
    assert show_report(session, reader, project.id) is True
    set_show_report(session, owner, project.id, False)
    assert show_report(session, reader, project.id) is False
    with pytest.raises((PermissionDenied, NotFoundError)):
        set_show_report(session, reader, project.id, True)
    assert show_report(session, reader, project.id) is False
    set_show_report(session, owner, project.id, True)
    assert show_report(session, owner, project.id) is True
    assert ledger.verify(session, admin).ok
