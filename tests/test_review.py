"""Review read-models, adjudication and calibration on the worked example of docs/reward-math.md."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from sqlmodel import select

from markit_core import ledger
from markit_core.annotation.submit import delete_reading
from markit_core.errors import NotFoundError, PermissionDenied, ValidationError
from markit_core.models import Adjudication, LedgerEntry
from markit_core.review import views as review
from tests.review_helpers import ANNOTATORS, EXAMPLE, build_example, read


@pytest.fixture
def ex(session, settings, make_user, make_project):
    return build_example(session, settings, make_user, make_project)


def _answers(label: str) -> np.ndarray:
    """(cases, annotators) 0/1 of the example."""
    return np.array([[c == "T" for c in img] for img in EXAMPLE[label]], dtype=int)


def test_label_matrix_is_cases_by_annotators_with_confidence(session, ex):
    m = review.label_matrix(session, ex.reviewer, ex.project.id, "effusion")
    assert m.annotators == ANNOTATORS
    assert m.case_ids == tuple(ex.cases)
    assert m.values.shape == (4, 3)
    np.testing.assert_array_equal(m.values, _answers("effusion"))
    np.testing.assert_array_equal(m.confidence, np.tile([100.0, 80.0, 60.0], (4, 1)))
    np.testing.assert_array_equal(m.consensus, [1, 1, 0, 0])
    assert m.case_names[0] == f"#{ex.cases[0]} img_0.png"
    by_id = review.label_matrix(session, ex.reviewer, ex.project.id, ex.labels["pneumothorax"])
    np.testing.assert_array_equal(by_id.consensus, [0, 1, 0, 0])


def test_label_matrix_refuses_unknown_and_region_labels(session, ex):
    for bad in ("nonexistent", "lesion outline"):
        with pytest.raises(ValidationError, match="not an active present/absent label"):
            review.label_matrix(session, ex.reviewer, ex.project.id, bad)


def test_reliability_matches_hand_and_sklearn(session, ex):
    rel = review.reliability(session, ex.owner, ex.project.id)
    assert rel.annotators == ANNOTATORS and rel.labels == ("effusion", "pneumothorax")
    np.testing.assert_allclose(rel.kappa_vs_consensus, [[1.0, 1.0], [0.5, 0.0], [0.5, 0.5]])
    np.testing.assert_array_equal(rel.items_vs_consensus, np.full((3, 2), 4))
    assert rel.kappa_vs_ai is None
    # an AI reference (the hook's mapping): kappa per annotator equals sklearn's
    ai_eff = [True, False, False, True]
    ai = {(c, "effusion"): v for c, v in zip(ex.cases, ai_eff, strict=True)}
    rel = review.reliability(session, ex.owner, ex.project.id, ai=ai)
    answers = _answers("effusion")
    for i in range(3):
        assert rel.kappa_vs_ai[i, 0] == pytest.approx(
            cohen_kappa_score(answers[:, i], np.array(ai_eff, int))
        )
    assert np.isnan(rel.kappa_vs_ai[:, 1]).all() and (rel.items_vs_ai[:, 1] == 0).all()


def test_annotator_agreement_per_label_and_pooled_match_sklearn(session, ex):
    for label in ("effusion", "pneumothorax"):
        pa = review.annotator_agreement(session, ex.reviewer, ex.project.id, label)
        a = _answers(label)
        assert pa.kappa.shape == (3, 3) and pa.label == label
        for i in range(3):
            for j in range(3):
                if i != j:
                    assert pa.kappa[i, j] == pytest.approx(cohen_kappa_score(a[:, i], a[:, j]))
                    assert pa.agreement_rate[i, j] == pytest.approx((a[:, i] == a[:, j]).mean())
        assert (pa.shared == 4).all()
    pooled = review.annotator_agreement(session, ex.reviewer, ex.project.id)
    both = np.vstack([_answers("effusion"), _answers("pneumothorax")])
    assert pooled.label is None and (pooled.shared == 8).all()
    assert pooled.kappa[0, 1] == pytest.approx(cohen_kappa_score(both[:, 0], both[:, 1]))


def test_disagreements_list_every_answer_and_region(session, ex):
    items = review.disagreements(session, ex.reviewer, ex.project.id)
    c = ex.cases
    assert [(d.case_id, d.label) for d in items] == [
        (c[1], "effusion"),
        (c[1], "pneumothorax"),
        (c[3], "effusion"),
        (c[3], "pneumothorax"),
    ]
    first = items[0]
    assert first.answers == {"ann_a": (True, 100), "ann_b": (True, 80), "ann_c": (False, 60)}
    assert (first.n_true, first.n_false, first.consensus, first.adjudication) == (2, 1, True, None)
    assert set(first.regions) == set(ANNOTATORS)
    (region,) = first.regions["ann_a"]
    assert (region.label, region.shape, region.points) == (
        "effusion",
        "rect",
        ((10.0, 20.0), (60.0, 80.0)),
    )
    assert first.regions["ann_b"] == ()
    only = review.disagreements(session, ex.reviewer, ex.project.id, label="pneumothorax")
    assert [d.case_id for d in only] == [c[1], c[3]]


def test_current_version_only_edits_and_deletes(session, ex):
    c = ex.cases
    # ann_c withdraws image 4; ann_b changes their mind on image 2 pneumothorax (new version)
    delete_reading(session, ex.annotators["ann_c"], ex.project.id, c[3], token="del-c4")
    read(
        session,
        ex.annotators["ann_b"],
        ex.project.id,
        c[1],
        {ex.labels["effusion"]: True, ex.labels["pneumothorax"]: True},
        confidence=80,
        token="edit-b2",
    )
    m = review.label_matrix(session, ex.reviewer, ex.project.id, "pneumothorax")
    np.testing.assert_array_equal(m.values[1], [1, 1, 1])
    np.testing.assert_array_equal(m.values[3], [0, 0, -1])
    assert [
        (d.case_id, d.label) for d in review.disagreements(session, ex.reviewer, ex.project.id)
    ] == [(c[1], "effusion"), (c[3], "effusion")]


def test_adjudication_is_stored_ledgered_and_becomes_consensus(session, ex):
    c4, eff = ex.cases[3], ex.labels["effusion"]
    view = review.adjudicate(
        session, ex.reviewer, ex.project.id, c4, eff, True, " fluid at the base "
    )
    assert (view.value, view.reviewer, view.note) == (True, "rev", "fluid at the base")
    m = review.label_matrix(session, ex.reviewer, ex.project.id, "effusion")
    np.testing.assert_array_equal(m.consensus, [1, 1, 0, 1])
    assert m.adjudicated.tolist() == [False, False, False, True]
    # under Dawid-Skene too, the adjudication wins
    ds = review.label_matrix(session, ex.reviewer, ex.project.id, "effusion", truth="dawid_skene")
    assert ds.consensus[3] == 1 and set(ds.consensus.tolist()) <= {0, 1}
    item = next(
        d
        for d in review.disagreements(session, ex.reviewer, ex.project.id)
        if (d.case_id, d.label) == (c4, "effusion")
    )
    assert item.consensus is True and item.adjudication.reviewer == "rev"
    open_items = review.disagreements(
        session, ex.reviewer, ex.project.id, include_adjudicated=False
    )
    assert (c4, "effusion") not in [(d.case_id, d.label) for d in open_items]
    # reliability now compares with the adjudicated consensus: A said False on image 4
    rel = review.reliability(session, ex.reviewer, ex.project.id)
    assert rel.kappa_vs_consensus[0, 0] == pytest.approx(
        cohen_kappa_score([1, 1, 0, 0], [1, 1, 0, 1])
    )
    # changing the decision updates the one row and logs again
    review.adjudicate(session, ex.owner, ex.project.id, c4, eff, False, "")
    rows = session.exec(select(Adjudication)).all()
    assert len(rows) == 1 and rows[0].value is False and rows[0].reviewer_id == ex.owner.id
    actions = session.exec(
        select(LedgerEntry.action).where(LedgerEntry.record_type == "adjudication")
    ).all()
    assert actions == ["review.adjudicate", "review.adjudicate"]
    assert ledger.integrity(session).ok
    # editing the stored decision behind MarkIt's back is caught
    rows[0].value = True
    session.add(rows[0])
    session.commit()
    result = ledger.integrity(session)
    assert not result.ok and result.problem.kind == "record changed"


def test_adjudicate_refuses_bad_targets_and_roles(session, settings, ex, make_user, make_project):
    other = build_example(session, settings, make_user, make_project, name="Other", prefix="o_")
    pid, c1, eff = ex.project.id, ex.cases[0], ex.labels["effusion"]
    with pytest.raises(ValidationError, match="not in this project"):
        review.adjudicate(session, ex.reviewer, pid, other.cases[0], eff, True)
    with pytest.raises(ValidationError, match="not a label of this project"):
        review.adjudicate(session, ex.reviewer, pid, c1, other.labels["effusion"], True)
    with pytest.raises(ValidationError, match="takes regions"):
        review.adjudicate(session, ex.reviewer, pid, c1, ex.labels["lesion outline"], True)
    with pytest.raises(ValidationError, match="at most 2000"):
        review.adjudicate(session, ex.reviewer, pid, c1, eff, True, "x" * 2001)
    with pytest.raises(PermissionDenied):
        review.adjudicate(session, ex.annotators["ann_a"], pid, c1, eff, True)
    with pytest.raises(NotFoundError):
        review.adjudicate(session, other.reviewer, pid, c1, eff, True)
    assert session.exec(select(Adjudication)).all() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s, u, p: review.label_matrix(s, u, p, "effusion"),
        lambda s, u, p: review.reliability(s, u, p),
        lambda s, u, p: review.annotator_agreement(s, u, p),
        lambda s, u, p: review.disagreements(s, u, p),
        lambda s, u, p: review.reviewable(s, u, p),
    ],
)
def test_read_models_need_review_rights(session, ex, make_user, call):
    with pytest.raises(PermissionDenied, match="may not review"):
        call(session, ex.annotators["ann_a"], ex.project.id)
    with pytest.raises(NotFoundError):
        call(session, make_user("stranger"), ex.project.id)


def test_case_picture_renders_the_stored_image(session, settings, ex):
    pic = review.case_picture(session, settings, ex.reviewer, ex.project.id, ex.cases[0], size=200)
    assert pic.data[:2] == b"\xff\xd8" and pic.mapping.image_size == (120, 100)
    with pytest.raises(PermissionDenied):
        review.case_picture(session, settings, ex.annotators["ann_a"], ex.project.id, ex.cases[0])


def test_calibration_for_an_annotator_in_a_pilot_project(
    session, settings, make_user, make_project
):
    ex = build_example(session, settings, make_user, make_project, pilot=True)
    b = ex.annotators["ann_b"]
    cal = review.calibration(session, b, ex.project.id)
    # reference: the other two readers' majority (tie -> absent), B's own vote left out
    others_eff, mine_eff = [1, 0, 0, 0], [1, 1, 0, 1]
    others_ptx, mine_ptx = [0, 1, 0, 0], [0, 0, 0, 0]
    assert (cal.annotator, cal.cases, cal.items) == ("ann_b", 4, (4, 4))
    assert cal.agreement_rate == pytest.approx((0.5, 0.75))
    assert cal.kappa[0] == pytest.approx(cohen_kappa_score(mine_eff, others_eff))
    assert cal.kappa[1] == pytest.approx(cohen_kappa_score(mine_ptx, others_ptx))
    assert cal.overall_rate == pytest.approx(5 / 8)
    assert cal.overall_kappa == pytest.approx(
        cohen_kappa_score(mine_eff + mine_ptx, others_eff + others_ptx)
    )
    c = ex.cases
    assert [(d[0], d[2], d[3], d[4]) for d in cal.differences] == [
        (c[1], "effusion", True, False),
        (c[1], "pneumothorax", False, True),
        (c[3], "effusion", True, False),
    ]
    # an adjudication is the reference where present
    review.adjudicate(session, ex.reviewer, ex.project.id, c[3], ex.labels["effusion"], True)
    assert review.calibration(session, b, ex.project.id).agreement_rate[0] == pytest.approx(0.75)
    with pytest.raises(PermissionDenied, match="only their own"):
        review.calibration(session, b, ex.project.id, "ann_a")
    assert review.calibration(session, ex.reviewer, ex.project.id, "ann_a").cases == 4


def test_calibration_needs_a_pilot_project_and_a_submission(session, settings, ex, make_user):
    with pytest.raises(PermissionDenied, match="pilot"):
        review.calibration(session, ex.annotators["ann_a"], ex.project.id)
    assert review.calibration(session, ex.owner, ex.project.id, "ann_c").items == (4, 4)
    nobody = review.calibration(session, ex.owner, ex.project.id, "pi")
    assert nobody.cases == 0 and np.isnan(nobody.overall_rate)


def test_agreement_on_a_project_without_answers_is_empty(session, make_user, make_project):
    owner = make_user("lonely_owner")
    project = make_project("Empty", owner)
    pooled = review.annotator_agreement(session, owner, project.id)
    assert pooled.annotators == () and pooled.kappa.shape == (0, 0)


def test_answers_are_loaded_once_per_ledger_head(
    session, settings, make_user, make_project, monkeypatch
):
    from markit_core.review import answers as review_data

    ex = build_example(session, settings, make_user, make_project)
    calls = []
    real = review_data._load_answers
    monkeypatch.setattr(review_data, "_load_answers", lambda *a: calls.append(1) or real(*a))
    review.label_matrix(session, ex.reviewer, ex.project.id, "effusion")
    review.reliability(session, ex.reviewer, ex.project.id)
    assert len(calls) == 1
    case, label = ex.cases[0], ex.labels["effusion"]
    review.adjudicate(session, ex.reviewer, ex.project.id, case, label, True, "")
    m = review.label_matrix(session, ex.reviewer, ex.project.id, "effusion")
    assert len(calls) == 2  # the adjudication moved the ledger head: fresh answers
    assert bool(m.adjudicated[list(m.case_ids).index(case)])


def test_next_disagreement_skips_decided_items_and_wraps():
    def item(case_id: int, label_id: int, decided: bool = False) -> review.Disagreement:
        adj = review.AdjudicationView(case_id, "x", True, "rev", "", "now") if decided else None
        return review.Disagreement(case_id, f"#{case_id}", label_id, "x", {}, 1, 1, True, adj, {})

    items = [item(1, 1), item(1, 2, decided=True), item(2, 1), item(3, 1, decided=True)]
    assert review.next_disagreement(items, 1, 1) == (2, 1)  # (1, 2) is decided already
    assert review.next_disagreement(items, 2, 1) == (1, 1)  # wraps past decided (3, 1)
    everything_decided = [item(1, 1, True), item(2, 1, True)]
    assert review.next_disagreement(everything_decided, 1, 1) == (2, 1)  # then simply next
    assert review.next_disagreement([item(1, 1)], 1, 1) is None
    assert review.next_disagreement(items, 9, 9) is None
