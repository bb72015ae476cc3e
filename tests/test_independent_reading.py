"""Issue 9, point 3: a user holding the annotator role never sees another reader's answers or
regions on a case they have not read, in any read path, whatever other roles they hold."""

from __future__ import annotations

import csv
import io

import pytest

from markit_core.annotation.submit import others_readings
from markit_core.export.csv_export import export_annotations_csv
from markit_core.models import Role
from markit_core.projects import grant_role
from markit_core.review.calibration import calibration
from markit_core.review.views import (
    annotator_agreement,
    disagreements,
    label_matrix,
    reliability,
    reviewable,
)
from tests.review_helpers import build_example, read


@pytest.fixture
def example(session, settings, make_user, make_project, admin):
    ex = build_example(session, settings, make_user, make_project)
    dual = make_user("dual")  # annotator who is also reviewer and manager
    for role in (Role.ANNOTATOR, Role.REVIEWER, Role.MANAGER):
        grant_role(session, admin, ex.project.id, "dual", role)
    labels = ex.labels
    read(session, dual, ex.project.id, ex.cases[0], {labels["effusion"]: True})
    return ex, dual


def test_heatmap_and_agreement_show_only_cases_the_annotator_read(session, example):
    ex, dual = example
    matrix = label_matrix(session, dual, ex.project.id, "effusion")
    assert matrix.case_ids == (ex.cases[0],)
    assert set(reviewable(session, dual, ex.project.id)[1]) == {"ann_a", "ann_b", "ann_c", "dual"}
    rel = reliability(session, dual, ex.project.id)
    # every annotator's kappa is computed on case 0 alone: at most one item each
    assert int(rel.items_vs_consensus.max()) <= 1
    assert int(annotator_agreement(session, dual, ex.project.id).shared.max()) <= 2
    # a reviewer who does not annotate sees everything
    assert label_matrix(session, ex.reviewer, ex.project.id, "effusion").case_ids == tuple(ex.cases)


def test_disagreements_and_regions_only_on_read_cases(session, example):
    ex, dual = example
    seen = disagreements(session, dual, ex.project.id)
    assert {d.case_id for d in seen} <= {ex.cases[0]}
    everything = disagreements(session, ex.reviewer, ex.project.id)
    assert ex.cases[1] in {d.case_id for d in everything}  # ann_a outlined case 1: hidden
    assert any(r for d in everything for r in d.regions.values())
    assert not any(r for d in seen for r in d.regions.values())


def test_calibration_of_others_only_on_read_cases(session, example):
    ex, dual = example
    theirs = calibration(session, dual, ex.project.id, "ann_a")
    assert theirs.cases == 1
    assert {c for c, *_ in theirs.differences} <= {ex.cases[0]}
    assert calibration(session, ex.reviewer, ex.project.id, "ann_a").cases == 4


def test_export_by_an_annotating_manager_only_holds_read_cases(session, example):
    ex, dual = example
    rows = list(csv.DictReader(io.StringIO(export_annotations_csv(session, dual, ex.project.id))))
    assert {int(r["case_id"]) for r in rows} == {ex.cases[0]}
    full = list(
        csv.DictReader(io.StringIO(export_annotations_csv(session, ex.owner, ex.project.id)))
    )
    assert {int(r["case_id"]) for r in full} == set(ex.cases)


def test_others_readings_blind_for_annotators_open_for_non_annotating_owner(session, example):
    ex, dual = example
    assert others_readings(session, dual, ex.project.id, ex.cases[1]) == []
    # the owner holds every permission but not the annotator role: unaffected
    assert {
        r.annotator for r in others_readings(session, ex.owner, ex.project.id, ex.cases[1])
    } == {
        "ann_a",
        "ann_b",
        "ann_c",
    }
