"""Simulated demo readings: careful vs careless readers, times, idempotence, work left for ann1."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import cohen_kappa_score
from sqlmodel import select

from markit_core import ledger
from markit_core.accounts import get_user
from markit_core.annotation.current import current_answers
from markit_core.annotation.queue import build_queue
from markit_core.demo.answers import HELD_OUT_FOR_ANN1, demo_truth, seed_demo_answers
from markit_core.demo.seed import seed_demo
from markit_core.models import Annotation, Case, LedgerEntry, Project, Roi
from markit_core.review import views as review
from markit_core.rewards.runs import run_rewards


def _cases(session, project_id):
    return list(session.exec(select(Case).where(Case.project_id == project_id).order_by(Case.id)))


def test_demo_answers_look_like_careful_and_careless_readers(session, settings):
    demo = seed_demo(session, settings)
    pid = demo.project_id
    cases = _cases(session, pid)
    assert len(cases) == 24
    # seed_demo has already simulated the readings: four readers per case, except the
    # cases held out for ann1 (the demo annotator who still has work to do)
    n = 24 * 4 - HELD_OUT_FOR_ANN1
    assert seed_demo_answers(session, settings, pid) == 0  # idempotent
    assert len(session.exec(select(Annotation)).all()) == n
    submits = session.exec(
        select(LedgerEntry).where(LedgerEntry.action == "annotation.submit")
    ).all()
    assert len(submits) == n and ledger.integrity(session).ok

    ann1 = get_user(session, "ann1")
    held = [c.id for c in cases[-HELD_OUT_FOR_ANN1:]]
    assert build_queue(session, ann1, pid).next_after(None) in held

    truth = demo_truth(settings, cases)
    assert set(truth) == {c.id for c in cases}
    readings = current_answers(session, pid)
    by_reader: dict[str, tuple[list[int], list[int]]] = {}
    seconds: dict[tuple[str, str], list[float]] = {}
    for r in readings:
        said, true = by_reader.setdefault(r.annotator, ([], []))
        said.append(int(r.value))
        true.append(int(truth[r.case_id].labels[r.label]))
        seconds.setdefault((r.annotator, r.label), []).append(r.seconds)
        assert r.confidence in (20, 40, 60, 80, 100) and r.seconds > 0
    for name in ("ann1", "ann2", "ann3"):
        said, true = by_reader[name]
        assert np.mean(np.equal(said, true)) >= 0.88, name
        assert cohen_kappa_score(said, true) > 0.6, name
        assert np.median(seconds[(name, "pneumothorax")]) > np.median(
            seconds[(name, "cardiomegaly")]
        )
    said, true = by_reader["ann4"]
    assert cohen_kappa_score(said, true) < 0.3
    assert np.median([s for (a, _), v in seconds.items() if a == "ann4" for s in v]) < np.median(
        [s for (a, _), v in seconds.items() if a == "ann1" for s in v]
    )

    # careful readers outline their positive findings inside the image
    rois = session.exec(
        select(Roi, Annotation.annotator_id, Annotation.case_id).join(
            Annotation, Annotation.id == Roi.annotation_id
        )
    ).all()
    assert rois and all(r.shape == "rect" for r, _, _ in rois)
    assert ann1.id in {a for _, a, _ in rois}
    sizes = {c.id: (c.cols, c.rows) for c in cases}
    for roi, _, case_id in rois:
        (x0, y0), (x1, y1) = roi.points
        cols, rows = sizes[case_id]
        assert 0 <= x0 <= cols and 0 <= x1 <= cols and 0 <= y0 <= rows and 0 <= y1 <= rows

    # both pages have real figures: the careless reader is the least reliable and paid least
    pi = get_user(session, "pi")
    rel = review.reliability(session, pi, pid)
    mean_kappa = dict(zip(rel.annotators, np.nanmean(rel.kappa_vs_consensus, axis=1), strict=True))
    assert min(mean_kappa, key=mean_kappa.get) == "ann4"
    assert review.disagreements(session, pi, pid)
    _, result = run_rewards(session, pi, pid, budget=1000, currency="tokens")
    assert result.reward_of("ann4") == min(result.rewards)
    assert result.reward_of("ann4") < 0.5 * min(
        result.reward_of(a) for a in ("ann1", "ann2", "ann3")
    )


def test_held_out_cases_are_read_by_others_while_ann1_can_still_open_them(session, settings):
    demo = seed_demo(session, settings)  # four readers per case, readings simulated
    pid = demo.project_id
    assert session.get(Project, pid).required_annotators == 4
    assert len(current_answers(session, pid)) == (24 * 4 - HELD_OUT_FOR_ANN1) * 7
    cases = _cases(session, pid)
    held = {c.id for c in cases[-HELD_OUT_FOR_ANN1:]}
    ann1 = get_user(session, "ann1")
    read_by_ann1 = {r.case_id for r in current_answers(session, pid) if r.annotator == "ann1"}
    assert read_by_ann1.isdisjoint(held) and len(read_by_ann1) == 24 - HELD_OUT_FOR_ANN1
    queue = build_queue(session, ann1, pid)
    assert held <= set(queue.case_ids) and queue.next_after(None) in held


def test_truth_without_the_manifest_matches_the_manifest(session, settings):
    demo = seed_demo(session, settings)
    cases = _cases(session, demo.project_id)
    with_manifest = demo_truth(settings, cases)
    (settings.cache_dir / "demo_images" / "ground_truth.json").unlink()
    regenerated = demo_truth(settings, cases)
    assert {k: v.labels for k, v in regenerated.items()} == {
        k: v.labels for k, v in with_manifest.items()
    }
    assert any(v.boxes for v in with_manifest.values())


def test_non_demo_cases_get_no_answers(session, settings, make_user, make_project):
    from tests.review_helpers import add_cases

    owner = make_user("pi")
    project = make_project("Not a demo", owner)
    add_cases(session, settings, project.id, 3)
    assert len(_cases(session, project.id)) == 3
    assert seed_demo_answers(session, settings, project.id) == 0
    assert session.exec(select(Annotation)).all() == []


def test_demo_cases_are_linked_to_the_truth_by_their_origin_not_their_name(
    session, settings, make_user, make_project
):
    from tests.review_helpers import add_cases

    demo = seed_demo(session, settings)
    cases = _cases(session, demo.project_id)
    assert not any("demo_" in c.original_name for c in cases)  # neutral display names
    assert set(demo_truth(settings, cases)) == {c.id for c in cases}

    # a case that is merely *named* like a demo image is not one
    project = make_project("Look-alike", make_user("pi2"))
    (case_id,) = add_cases(session, settings, project.id, 1)
    lookalike = session.get(Case, case_id)
    lookalike.original_name = "demo_images/demo_1_0.png"
    session.add(lookalike)
    session.commit()
    assert demo_truth(settings, [lookalike]) == {}
    assert seed_demo_answers(session, settings, project.id) == 0
