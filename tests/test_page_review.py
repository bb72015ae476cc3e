"""AppTest: the review page — heatmaps, disagreements with images and ROIs, adjudication,
calibration."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.models import Adjudication
from tests.apptest_helpers import (
    fresh_app,
    log_in,
    open_page,
    open_tab,
    plotly_figures,
    point_app_at,
)
from tests.conftest import PASSWORD
from tests.review_helpers import ANNOTATORS, build_example

PAGE = str(Path(__file__).parent.parent / "pages" / "review_heatmap.py")


@pytest.fixture
def app_env(settings, monkeypatch):
    point_app_at(settings, monkeypatch)
    return settings


def frame(at, column: str):
    """The dataframe that has ``column`` (AppTest does not expose st.dataframe keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _open(username: str):
    at = open_page(log_in(fresh_app(), username, PASSWORD), "review_heatmap")
    assert not at.exception, at.exception
    return at


def test_reviewer_sees_the_three_heatmaps(session, app_env, make_user, make_project):
    ex = build_example(session, app_env, make_user, make_project)
    at = _open("rev")
    figs = plotly_figures(at)
    cases = figs["heatmap_cases"]["data"][0]
    assert cases["type"] == "heatmap"
    assert (
        cases["x"] == list(ANNOTATORS)
        and len(cases["y"]) == 4
        and cases["y"][0].startswith(f"#{ex.cases[0]}")
    )
    z = cases["z"]
    assert [len(row) for row in z] == [3, 3, 3, 3]
    # image 2 effusion: A present (100 %), B present (80 %), C absent (60 %)
    assert (
        z[1][0] == pytest.approx(1.0)
        and z[1][1] == pytest.approx(0.9)
        and z[1][2] == pytest.approx(-0.8)
    )
    rel = figs["heatmap_reliability"]["data"][0]
    assert rel["x"] == ["effusion", "pneumothorax"] and rel["y"] == list(ANNOTATORS)
    assert rel["z"] == [[1.0, 1.0], [0.5, 0.0], [0.5, 0.5]]
    pairs = figs["heatmap_pairs"]["data"][0]
    assert pairs["x"] == pairs["y"] == list(ANNOTATORS) and [len(r) for r in pairs["z"]] == [
        3,
        3,
        3,
    ]
    at.selectbox(key="review_label").select("pneumothorax").run()
    z = plotly_figures(at)["heatmap_cases"]["data"][0]["z"]
    assert [v > 0 for v in z[3]] == [False, False, True]  # image 4: only C says present


def test_disagreement_shows_image_and_rois_and_adjudication_is_stored(
    session, app_env, make_user, make_project
):
    ex = build_example(session, app_env, make_user, make_project)
    at = _open("rev")
    table = frame(at, "adjudicated")
    assert len(table) == 4 and list(table["label"]) == ["effusion", "pneumothorax"] * 2
    figs = plotly_figures(at)
    c2 = ex.cases[1]
    a_fig = figs[f"dis_img_{c2}_ann_a"]
    assert a_fig["layout"]["images"][0]["source"].startswith("data:image/jpeg;base64,")
    (shape,) = a_fig["layout"]["shapes"]
    assert (shape["type"], shape["x0"], shape["y0"], shape["x1"], shape["y1"]) == (
        "rect",
        10,
        20,
        60,
        80,
    )
    assert (
        "shapes" not in figs[f"dis_img_{c2}_ann_b"]["layout"]
        or not figs[f"dis_img_{c2}_ann_b"]["layout"]["shapes"]
    )
    assert {f"dis_img_{c2}_{a}" for a in ANNOTATORS} <= set(figs)

    at.selectbox(key="dis_pick").select(2).run()  # image 4, effusion: A no, B yes, C no
    at.radio(key="adj_value").set_value("present")
    at.text_area(key="adj_note").input("small effusion on the left")
    at.button(key="adjudicate_submit").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (row,) = session.exec(select(Adjudication)).all()
    assert (row.case_id, row.label_id, row.value, row.reviewer_id, row.note) == (
        ex.cases[3],
        ex.labels["effusion"],
        True,
        ex.reviewer.id,
        "small effusion on the left",
    )
    assert any("Final answer" in s.value for s in at.success)
    assert ledger.integrity(session).ok
    # the adjudication is now the consensus shown in the heatmap hover data
    hover = plotly_figures(at)["heatmap_cases"]["data"][0]["customdata"]
    assert hover[3][0] == "present (adjudicated)"


def test_annotator_calibration_in_a_pilot_project(session, app_env, make_user, make_project):
    from streamlit.testing.v1 import AppTest

    ex = build_example(session, app_env, make_user, make_project, pilot=True)
    fresh_app()  # clears Streamlit's caches
    # app.py lists the review page only for reviewers, so run the page file itself as ann_b
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["user_id"] = ex.annotators["ann_b"].id
    at.run()
    assert not at.exception, at.exception
    assert not plotly_figures(at), "an annotator must not see the review heatmaps"
    assert [m.value for m in at.metric] == ["4", "62%", "0.14"]
    per_label = frame(at, "agreement")
    assert list(per_label["items"]) == [4, 4] and list(per_label["agreement"]) == [0.5, 0.75]
    diffs = frame(at, "others' consensus")
    assert len(diffs) == 3


def test_annotator_in_a_normal_project_gets_no_calibration(
    session, app_env, make_user, make_project
):
    from streamlit.testing.v1 import AppTest

    ex = build_example(session, app_env, make_user, make_project)
    fresh_app()
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["user_id"] = ex.annotators["ann_a"].id
    at.run()
    assert not at.exception, at.exception
    assert "pilot" in at.info[0].value and not at.metric and not at.error


def test_review_page_without_answers(session, app_env, make_user, make_project):
    owner = make_user("pi")
    make_project("Empty", owner)
    at = _open("pi")
    assert not plotly_figures(at)
    assert any("present/absent labels" in i.value for i in at.info)


def test_saving_an_adjudication_stays_on_disagreements_and_moves_to_the_next(
    session, app_env, make_user, make_project
):
    ex = build_example(session, app_env, make_user, make_project)
    at = _open("rev")
    assert open_tab(at) == "Heatmaps"
    at.session_state["review_tab"] = "Disagreements"  # the reviewer opens the tab
    at.run()
    assert open_tab(at) == "Disagreements"
    at.selectbox(key="dis_pick").select(2).run()  # image 4, effusion
    at.button(key="adjudicate_submit").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any("Final answer" in s.value for s in at.success)
    assert open_tab(at) == "Disagreements" and at.session_state["review_tab"] == "Disagreements"
    # the next disagreement is open: image 4, pneumothorax
    pick = at.selectbox(key="dis_pick")
    assert pick.value == 3 and "pneumothorax" in pick.format_func(pick.value)
    assert f"dis_img_{ex.cases[3]}_ann_a" in plotly_figures(at)
    # the last item wraps round to the first one not yet adjudicated
    at.button(key="adjudicate_submit").click().run()
    assert at.selectbox(key="dis_pick").value == 0 and open_tab(at) == "Disagreements"
    assert len(session.exec(select(Adjudication)).all()) == 2


def test_next_disagreement_when_adjudicated_ones_are_hidden(
    session, app_env, make_user, make_project
):
    build_example(session, app_env, make_user, make_project)
    at = _open("rev")
    at.session_state["review_tab"] = "Disagreements"
    at.run()
    at.checkbox(key="dis_show_adjudicated").uncheck().run()
    first = at.selectbox(key="dis_pick")
    second_name = first.format_func(1)
    at.button(key="adjudicate_submit").click().run()
    assert not at.exception and not at.error
    pick = at.selectbox(key="dis_pick")
    # the decided item left the list; the one after it is now open
    assert len(pick.options) == 3 and pick.format_func(pick.value) == second_name
    assert open_tab(at) == "Disagreements"
