"""The case list with statuses and whole-list previous/next (markit_core.annotation.navigation)."""

from __future__ import annotations

import pytest

from markit_core.annotation.drafts import Draft, save_draft
from markit_core.annotation.navigation import case_list, neighbours
from markit_core.annotation.submit import Answer, submit
from markit_core.errors import NotFoundError, PermissionDenied
from markit_core.labels import add_labels, list_labels
from markit_core.models import Case, Role
from markit_core.projects import update_settings


@pytest.fixture
def env(session, admin, make_user, make_project):
    owner = make_user("owner")
    ann1, ann2 = make_user("ann1"), make_user("ann2")
    make_user("outsider")
    project = make_project("P", owner, {"ann1": [Role.ANNOTATOR], "ann2": [Role.ANNOTATOR]})
    add_labels(session, owner, project.id, [("pneumonia", "Lung")])
    cases = []
    for i in range(4):
        case = Case(
            project_id=project.id,
            content_hash=f"{i:064x}",
            stored_path=f"x/{i}.dcm",
            original_name=f"case-{i}",
        )
        session.add(case)
        session.commit()
        cases.append(case.id)
    label = list_labels(session, owner, project.id)[0].id
    return {"owner": owner, "ann1": ann1, "ann2": ann2, "p": project.id, "c": cases, "l": label}


def _statuses(session, user, project_id):
    return [(e.case_id, e.status) for e in case_list(session, user, project_id)]


def test_statuses_unread_draft_submitted_and_disagreement(session, env, make_user):
    p, c, lab, ann1, ann2 = env["p"], env["c"], env["l"], env["ann1"], env["ann2"]
    update_settings(session, env["owner"], p, show_others_after_submit=True)
    assert _statuses(session, ann1, p) == [(cid, "unread") for cid in c]
    draft = Draft(ann1.id, p, c[1])
    draft.set_value(lab, True)
    save_draft(session, ann1, p, c[1], draft)
    submit(session, ann1, p, c[2], answers={lab: Answer(True, 80)}, token="a")
    submit(session, ann1, p, c[3], answers={lab: Answer(False, 80)}, token="b")
    submit(session, ann2, p, c[2], answers={lab: Answer(True, 60)}, token="c")  # agrees
    submit(session, ann2, p, c[3], answers={lab: Answer(True, 60)}, token="d")  # disagrees
    expected = [(c[0], "unread"), (c[1], "draft"), (c[2], "submitted"), (c[3], "disagreement")]
    assert _statuses(session, ann1, p) == expected
    entries = case_list(session, ann1, p)
    assert [e.position for e in entries] == [1, 2, 3, 4]
    assert entries[1].has_draft and entries[0].name == f"#{c[0]} case-0"
    # a blinded project (others hidden after submit) never reveals a disagreement
    update_settings(session, env["owner"], p, show_others_after_submit=False)
    assert _statuses(session, ann1, p)[3] == (c[3], "submitted")


def test_neighbours_walk_the_whole_list_and_a_finished_queue_stays_navigable(session, env):
    p, c, lab, ann1 = env["p"], env["c"], env["l"], env["ann1"]
    for i, cid in enumerate(c):
        submit(session, ann1, p, cid, answers={lab: Answer(True, 100)}, token=f"t{i}")
    entries = case_list(session, ann1, p)
    assert {e.status for e in entries} == {"submitted"}
    assert neighbours(entries, c[0]) == (None, c[1])
    assert neighbours(entries, c[2]) == (c[1], c[3])
    assert neighbours(entries, c[3]) == (c[2], None)
    assert neighbours(entries, 10_000) == (None, c[0])


def test_only_annotators_get_a_case_list(session, env):
    from markit_core.accounts import get_user

    with pytest.raises((PermissionDenied, NotFoundError)):
        case_list(session, get_user(session, "outsider"), env["p"])


def test_a_window_lists_the_cases_around_one_with_whole_list_counts(session, env, settings):
    from markit_core.annotation.navigation import case_window
    from tests.review_helpers import add_cases

    p, c, lab, ann1, ann2 = env["p"], env["c"], env["l"], env["ann1"], env["ann2"]
    update_settings(session, env["owner"], p, show_others_after_submit=True)
    more = add_cases(session, settings, p, 16, start=100)
    ids = c + more  # 20 cases in id order
    submit(session, ann1, p, ids[5], answers={lab: Answer(True, 80)}, token="w1")
    submit(session, ann2, p, ids[5], answers={lab: Answer(False, 80)}, token="w2")  # disagrees
    submit(session, ann1, p, ids[6], answers={lab: Answer(True, 80)}, token="w3")
    draft = Draft(ann1.id, p, ids[15])
    draft.set_value(lab, True)
    save_draft(session, ann1, p, ids[15], draft)
    whole = case_list(session, ann1, p)
    w = case_window(session, ann1, p, around=ids[10], size=5)
    assert [e.case_id for e in w.entries] == ids[8:13]
    assert w.entries == whole[8:13]  # the same entries, names and positions
    assert (w.total, w.matching) == (20, 20)
    assert w.counts == {"unread": 17, "draft": 1, "submitted": 1, "disagreement": 1}
    assert w.counts == {s: sum(e.status == s for e in whole) for s in w.counts}
    # the ends: a window never runs past the list, and stays full
    assert [e.case_id for e in case_window(session, ann1, p, around=ids[0], size=5).entries] == (
        ids[:5]
    )
    assert [e.position for e in case_window(session, ann1, p, around=ids[19], size=5).entries] == [
        16,
        17,
        18,
        19,
        20,
    ]
    # a status filter lists only those (and the case one is on), counted over the whole list
    done = case_window(session, ann1, p, around=ids[10], statuses=["submitted", "disagreement"])
    assert [(e.case_id, e.status) for e in done.entries] == [
        (ids[5], "disagreement"),
        (ids[6], "submitted"),
        (ids[10], "unread"),
    ]
    assert done.matching == 3
    with pytest.raises((PermissionDenied, NotFoundError)):
        from markit_core.accounts import get_user

        case_window(session, get_user(session, "outsider"), p)
