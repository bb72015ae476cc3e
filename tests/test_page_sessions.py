"""Pages never leave a database connection checked out, whichever way a run ends."""

from __future__ import annotations

import pytest

from markit_core.models import Role
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD
from ui.resources import get_engine


@pytest.fixture
def app_env(settings, monkeypatch, admin, make_user, make_project):
    point_app_at(settings, monkeypatch)
    owner = make_user("owner")
    make_user("loner")
    make_project("P", owner, {"owner": [Role.ANNOTATOR]})
    return settings


@pytest.mark.parametrize(
    "user, page",
    [
        ("loner", "project_admin"),  # ends in st.stop: not in any project
        ("owner", "project_admin"),
        ("owner", "annotate"),  # ends in st.stop: no cases yet
        ("owner", "upload"),
        ("owner", "review_heatmap"),
        ("owner", "rewards"),
    ],
)
def test_no_connection_outlives_a_run(app_env, user, page):
    at = open_page(log_in(fresh_app(), user, PASSWORD), page)
    assert not at.exception, at.exception
    assert get_engine().pool.checkedout() == 0
