"""Core draft tests: the pure draft logic, its JSON round trip, and server-side persistence."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func
from sqlmodel import select

from markit_core import ledger
from markit_core.annotation.drafts import Draft, DraftAnswer, discard_draft, load_draft, save_draft
from markit_core.annotation.submit import Answer, RegionInput
from markit_core.annotation.timing import Interaction
from markit_core.errors import NotFoundError, PermissionDenied, ValidationError
from markit_core.labels import add_labels, list_labels
from markit_core.models import AnnotationDraft, Case, LedgerEntry, Role


def _add_case(session, project_id: int, tag: str) -> int:
    digest = f"{tag}{project_id:03d}".ljust(64, "0")
    case = Case(
        project_id=project_id,
        content_hash=digest,
        stored_path=f"{digest[:2]}/{digest[2:]}",
        rows=300,
        cols=400,
    )
    session.add(case)
    session.commit()
    return case.id


@pytest.fixture
def world(session, make_user, make_project):
    owner = make_user("owner")
    ann1, ann2, rev = make_user("ann1"), make_user("ann2"), make_user("rev")
    project = make_project(
        "Chest", owner, {"ann1": [Role.ANNOTATOR], "ann2": [Role.ANNOTATOR], "rev": [Role.REVIEWER]}
    )
    add_labels(session, owner, project.id, [("pneumonia", "Lung"), ("effusion", "Pleura")])
    labels = {lb.name: lb.id for lb in list_labels(session, owner, project.id)}
    other = make_project("Other", owner, {"ann1": [Role.ANNOTATOR]})
    return {
        "ann1": ann1,
        "ann2": ann2,
        "rev": rev,
        "project": project.id,
        "labels": labels,
        "case": _add_case(session, project.id, "a"),
        "other": other.id,
        "other_case": _add_case(session, other.id, "b"),
    }


def _draft(w, user="ann1") -> Draft:
    d = Draft(w[user].id, w["project"], w["case"])
    d.displayed()
    d.set_value(w["labels"]["pneumonia"], True)
    d.set_grade(w["labels"]["pneumonia"], 60)
    d.set_grade(w["labels"]["effusion"], 40)  # a grade on a label not yet answered
    d.regions.append(
        RegionInput(
            w["labels"]["effusion"], "polygon", ((1.0, 2.0), (30.5, 2.0), (10.0, 20.0)), frame=1
        )
    )
    return d


def _count(session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


# -- pure logic --------------------------------------------------------------------------


def test_answers_snapshot_unchanged_and_dirty():
    d = Draft(1, 1, 1)
    assert d.empty() and not d.dirty() and not d.unchanged() and not d.worth_keeping()
    d.set_grade(5, 40)
    assert d.empty() and d.worth_keeping()  # the grade alone is kept, not submitted
    d.set_value(5, False)
    d.set_value(6, None)
    assert d.answered() == {5: Answer(False, 40)} and d.dirty()
    d.base = d.snapshot()
    d.version = 1
    assert d.unchanged() and not d.dirty() and not d.worth_keeping()
    d.set_value(5, True)
    assert not d.unchanged() and d.dirty()


def test_json_round_trip(world):
    d = _draft(world)
    d.base = (
        ((world["labels"]["pneumonia"], False, 100),),
        (RegionInput(world["labels"]["pneumonia"], "rect", ((0.0, 0.0), (5.0, 5.0))),),
    )
    d.version, d.cursor, d.canvas_rev, d.submit_pending = 3, 1, 2, True
    back = Draft.from_json(d.to_json())
    assert back == d
    assert back.content() == d.content() and back.timing(30).total_seconds >= 0
    assert back.answered() == d.answered() and back.snapshot() == d.snapshot()
    with pytest.raises(ValidationError):
        Draft.from_json({"format": 1, "user_id": 1})
    with pytest.raises(ValidationError):
        Draft.from_json({**d.to_json(), "format": 99})


# -- persistence -------------------------------------------------------------------------


def test_save_load_discard_and_no_ledger_entries(session, world):
    pid, cid, ann1 = world["project"], world["case"], world["ann1"]
    entries = _count(session, LedgerEntry)
    assert load_draft(session, ann1, pid, cid) is None
    d = _draft(world)
    save_draft(session, ann1, pid, cid, d)
    loaded = load_draft(session, ann1, pid, cid)
    assert loaded == d and loaded.synced == d.content()
    d.set_value(world["labels"]["effusion"], False)
    save_draft(session, ann1, pid, cid, d)  # an upsert: still one row
    assert _count(session, AnnotationDraft) == 1
    assert load_draft(session, ann1, pid, cid).answered() == d.answered()
    assert _count(session, LedgerEntry) == entries  # drafts are scratch, not ledgered
    assert ledger.integrity(session).ok
    discard_draft(session, ann1, pid, cid)
    assert load_draft(session, ann1, pid, cid) is None and _count(session, AnnotationDraft) == 0
    discard_draft(session, ann1, pid, cid)  # discarding nothing is fine


def test_drafts_are_private_and_need_the_annotate_permission(session, world):
    pid, cid = world["project"], world["case"]
    save_draft(session, world["ann1"], pid, cid, _draft(world))
    # another annotator sees only their own (absent) draft, and cannot write as ann1
    assert load_draft(session, world["ann2"], pid, cid) is None
    with pytest.raises(ValidationError):
        save_draft(session, world["ann2"], pid, cid, _draft(world))
    theirs = _draft(world, "ann2")
    theirs.set_value(world["labels"]["pneumonia"], False)
    save_draft(session, world["ann2"], pid, cid, theirs)
    assert _count(session, AnnotationDraft) == 2
    assert load_draft(session, world["ann1"], pid, cid).value(world["labels"]["pneumonia"]) is True
    # a reviewer (no annotate permission) is refused; a non-member does not see the project
    for call in (
        lambda: load_draft(session, world["rev"], pid, cid),
        lambda: discard_draft(session, world["rev"], pid, cid),
        lambda: save_draft(
            session,
            world["rev"],
            pid,
            cid,
            Draft(world["rev"].id, pid, cid, answers={1: [True, 100]}),
        ),
    ):
        with pytest.raises(PermissionDenied):
            call()
    with pytest.raises(NotFoundError):
        load_draft(session, world["ann2"], world["other"], world["other_case"])


def test_case_from_another_project_is_refused(session, world):
    ann1, pid = world["ann1"], world["project"]
    stray = Draft(ann1.id, pid, world["other_case"], answers={1: [True, 100]})
    with pytest.raises(ValidationError, match="not in this project"):
        save_draft(session, ann1, pid, world["other_case"], stray)
    with pytest.raises(ValidationError, match="not in this project"):
        load_draft(session, ann1, pid, world["other_case"])
    # a draft saved for a case cannot be read through another project the user annotates
    save_draft(session, ann1, pid, world["case"], _draft(world))
    with pytest.raises(ValidationError, match="not in this project"):
        load_draft(session, ann1, world["other"], world["case"])
    assert _count(session, AnnotationDraft) == 1


def test_time_the_page_was_closed_counts_as_idle(session, world):
    pid, cid, ann1 = world["project"], world["case"], world["ann1"]
    label = world["labels"]["pneumonia"]
    # the image was shown 1000 s ago; the annotator answered after 5 s, then the tab closed
    d = Draft(
        ann1.id,
        pid,
        cid,
        shown_at=time.time() - 1000.0,
        interactions=[Interaction(5.0, label)],
        answers={label: [True, 100]},
    )
    save_draft(session, ann1, pid, cid, d)
    reopened = load_draft(session, ann1, pid, cid)  # a reload, 995 s later
    reopened.displayed()  # keeps the first display time
    assert reopened.shown_at == d.shown_at
    reopened.set_grade(label, 80)  # one more change, then submit
    t = reopened.timing(idle_threshold=30.0)
    assert t.total_seconds == pytest.approx(1000.0, abs=2.0)
    assert t.idle_seconds == pytest.approx(1000.0 - 5.0 - 30.0, abs=2.0)
    assert t.active_seconds == pytest.approx(35.0, abs=2.0)
    assert t.label_seconds[label] == pytest.approx(1000.0, abs=2.0)


def test_loaded_draft_drops_labels_deleted_since(session, settings, make_user, make_project):
    from markit_core.annotation.submit import RegionInput
    from markit_core.labels import add_labels, list_labels, save_label_set

    owner, ann = make_user("own2"), make_user("ann9")
    project = make_project("Drafts2", owner, {"ann9": [Role.ANNOTATOR]})
    add_labels(session, owner, project.id, [("keep", ""), ("gone", "")])
    keep, gone = list_labels(session, owner, project.id)
    case = Case(project_id=project.id, content_hash="h", stored_path="x.png", rows=10, cols=10)
    session.add(case)
    session.commit()
    d = Draft(ann.id, project.id, case.id)
    d.set_value(keep.id, True)
    d.set_value(gone.id, False)
    d.regions = [RegionInput(gone.id, "rect", [(1, 1), (5, 5)])]
    save_draft(session, ann, project.id, case.id, d)
    save_label_set(session, owner, project.id, [vars(keep)])  # "gone" has no answers: deleted
    loaded = load_draft(session, ann, project.id, case.id)
    assert set(loaded.answers) == {keep.id} and loaded.regions == []


def test_answers_are_typed_and_the_stored_format_is_unchanged():
    """Drafts saved before answers were typed ([value, grade] lists) load; saving writes lists."""
    payload = {
        "format": 1,
        "user_id": 1,
        "project_id": 2,
        "case_id": 3,
        "token": "t",
        "answers": [[5, True, 75], [6, None, 50]],
        "regions": [],
        "base": {"answers": [[5, False, 100]], "regions": []},
        "version": 1,
        "shown_at": None,
        "interactions": [],
        "canvas_rev": 0,
        "cursor": 0,
        "submit_pending": False,
    }
    draft = Draft.from_json(payload)
    assert draft.answers == {5: DraftAnswer(True, 75), 6: DraftAnswer(None, 50)}
    assert draft.answered() == {5: Answer(True, 75)}  # a grade alone is not an answer
    assert draft.to_json() == payload
    # the pair form is still accepted where a draft is built by hand
    assert Draft(1, 2, 3, answers={5: [True, 75]}).answers == {5: DraftAnswer(True, 75)}
