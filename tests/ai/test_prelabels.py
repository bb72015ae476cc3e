"""Pre-label settings, exposure recorded with each answer, the anchoring report, AI reference."""

from __future__ import annotations

import math

import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.annotation.submit import Answer, submit
from markit_core.errors import PermissionDenied, ValidationError
from markit_core.inference import service
from markit_core.inference.prelabels import (
    Exposure,
    ai_options,
    exposure_report,
    label_scores,
    suggestions_for,
    update_ai_options,
)
from markit_core.models import AiPrediction, AnnotationExposure, AnnotationValue
from markit_core.review.answers import load_ai_reference
from markit_core.review.views import reliability
from tests.ai.conftest import MODEL


def test_settings_are_validated_and_ledgered(session, ai_world):
    w = ai_world
    assert ai_options(session, w.project_id).prelabel_mode == "hidden"
    update_ai_options(session, w.manager, w.project_id, prelabel_mode="before", threshold=0.4)
    got = ai_options(session, w.project_id)
    assert (got.prelabel_mode, got.threshold) == ("before", 0.4)
    with pytest.raises(ValidationError, match="pre-label mode 'sometimes'"):
        update_ai_options(session, w.manager, w.project_id, prelabel_mode="sometimes")
    with pytest.raises(ValidationError, match="threshold"):
        update_ai_options(session, w.manager, w.project_id, threshold=1.5)
    with pytest.raises(ValidationError, match="unknown AI setting"):
        update_ai_options(session, w.manager, w.project_id, colour="red")
    with pytest.raises(PermissionDenied):
        update_ai_options(session, w.annotator, w.project_id, prelabel_mode="after")
    assert ai_options(session, w.project_id).prelabel_mode == "before"
    assert ledger.verify(session, w.owner, w.project_id).ok


def test_label_scores_match_names_and_mapping():
    labels = {1: "pleural effusion", 2: "Pneumothorax"}
    out = label_scores(
        {"Effusion": 0.9, "pneumothorax": 0.2, "Mass": 0.5},
        labels,
        {"Effusion": "pleural effusion"},
    )
    assert out == {1: 0.9, 2: 0.2}


def _activate(session, settings, w, mode: str, **kw) -> None:
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    update_ai_options(session, w.manager, w.project_id, prelabel_mode=mode, **kw)


def test_modes_decide_visibility(session, settings, ai_world, tiny_model):
    w = ai_world
    case = w.cases[0]
    assert (
        suggestions_for(session, w.annotator, settings, w.project_id, case, answered=False) is None
    )
    _activate(session, settings, w, "after")
    before = suggestions_for(session, w.annotator, settings, w.project_id, case, answered=False)
    after = suggestions_for(session, w.annotator, settings, w.project_id, case, answered=True)
    assert not before.visible and after.visible
    assert set(after.scores) == set(w.labels.values())
    update_ai_options(
        session, w.manager, w.project_id, prelabel_mode="before", one_click_accept=True
    )
    shown = suggestions_for(session, w.annotator, settings, w.project_id, case, answered=False)
    assert shown.visible and shown.one_click_accept


def test_submit_records_exposure_in_its_transaction(session, settings, ai_world, tiny_model):
    w = ai_world
    eff, ptx = w.labels["effusion"], w.labels["pneumothorax"]
    result = submit(
        session,
        w.annotator,
        w.project_id,
        w.cases[0],
        answers={eff: Answer(True, 80), ptx: Answer(False, 100)},
        token="exp-1",
        exposure={
            eff: Exposure(True, MODEL, "1", 0.91, accepted=True, mode="before"),
            ptx: Exposure(True, MODEL, "1", 0.12, mode="before"),
        },
    )
    rows = {r.label_id: r for r in session.exec(select(AnnotationExposure)).all()}
    assert rows[eff].annotation_id == result.annotation_id
    assert rows[eff].suggestion_visible and rows[eff].accepted and rows[eff].score == 0.91
    assert not rows[ptx].accepted and rows[ptx].version == "1"
    assert ledger.verify(session, w.owner, w.project_id).ok
    with pytest.raises(ValidationError, match="exposure mode"):
        submit(
            session,
            w.annotator,
            w.project_id,
            w.cases[1],
            answers={eff: Answer(True, 80)},
            token="exp-2",
            exposure={eff: Exposure(True, MODEL, "1", 0.5, mode="maybe")},
        )
    assert session.exec(select(AnnotationValue)).all().__len__() == 2  # nothing half-written


def test_exposure_report_compares_with_and_without(session, settings, ai_world, tiny_model):
    w = ai_world
    _activate(session, settings, w, "after")
    eff = w.labels["effusion"]
    for case_id in w.cases[:4]:
        service.predict_case(session, w.manager, settings, w.project_id, case_id, MODEL)
    scores = {
        c: label_scores(p.outputs, {eff: "effusion"})[eff]
        for c in w.cases[:4]
        for p in [service.predict_case(session, w.manager, settings, w.project_id, c, MODEL)]
    }
    cut = ai_options(session, w.project_id).threshold
    # case 0, 1: answered blind, then re-submitted after seeing the suggestion (taken)
    for n, case_id in enumerate(w.cases[:2]):
        ai = scores[case_id] >= cut
        submit(
            session,
            w.annotator,
            w.project_id,
            case_id,
            answers={eff: Answer(not ai, 60)},
            token=f"blind-{n}",
            exposure={eff: Exposure(False, mode="after")},
        )
        submit(
            session,
            w.annotator,
            w.project_id,
            case_id,
            answers={eff: Answer(ai, 80)},
            token=f"seen-{n}",
            exposure={eff: Exposure(True, MODEL, "1", scores[case_id], mode="after")},
        )
    # cases 2, 3: blind only, disagreeing with the AI
    for n, case_id in enumerate(w.cases[2:4]):
        submit(
            session,
            w.annotator,
            w.project_id,
            case_id,
            answers={eff: Answer(not (scores[case_id] >= cut), 60)},
            token=f"only-{n}",
        )
    row = next(
        r for r in exposure_report(session, w.reviewer, w.project_id) if r.label == "effusion"
    )
    assert (row.n_with, row.n_without) == (2, 2)
    assert row.acceptance_rate == 1.0 and row.change_rate == 1.0
    assert row.agree_with == 1.0 and row.agree_without == 0.0
    assert math.isnan(row.one_click_rate) is False and row.one_click_rate == 0.0
    with pytest.raises(PermissionDenied):
        exposure_report(session, w.annotator, w.project_id)


def test_stored_predictions_are_the_ai_reference(session, settings, ai_world, tiny_model):
    w = ai_world
    assert load_ai_reference(session, w.project_id) is None
    eff = w.labels["effusion"]
    for n, case_id in enumerate(w.cases[:3]):
        submit(
            session,
            w.annotator,
            w.project_id,
            case_id,
            answers={eff: Answer(n % 2 == 0, 80)},
            token=f"r-{n}",
        )
        service.predict_case(session, w.manager, settings, w.project_id, case_id, MODEL)
    assert load_ai_reference(session, w.project_id) is None  # no active model yet
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    ref = load_ai_reference(session, w.project_id)
    cut = ai_options(session, w.project_id).threshold
    stored = {p.case_id: p.outputs for p in session.exec(select(AiPrediction)).all()}
    assert ref == {
        (c, name): stored[c][name] >= cut for c in stored for name in ("effusion", "pneumothorax")
    }
    rel = reliability(session, w.reviewer, w.project_id)
    assert rel.kappa_vs_ai is not None and rel.items_vs_ai is not None
    assert int(rel.items_vs_ai[list(rel.labels).index("effusion"), 0]) == 3


def test_xrv_outputs_reach_the_demo_labels_through_the_editable_table():
    from markit_core.inference.prelabels import _label_map

    table = _label_map("xrv-densenet121-all")
    assert table["Effusion"] == "pleural effusion"
    labels = {1: "pleural effusion", 2: "pneumonia"}
    out = label_scores({"Effusion": 0.7, "Pneumonia": 0.2, "Consolidation": 0.6}, labels, table)
    assert out == {1: 0.7, 2: 0.6}
    assert _label_map("demo-pathologies") == {}
