"""Permission-checked predict / explain: stored once per (case, model version), ledgered."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.errors import NotFoundError, PermissionDenied, ValidationError
from markit_core.inference import service
from markit_core.inference.errors import ModelNotFound, WeightsError
from markit_core.inference.prelabels import update_ai_options
from markit_core.inference.store import load_cam
from markit_core.models import AiPrediction, Case
from tests.ai.conftest import LABELS, MODEL


def test_predict_stores_once_with_a_ledger_entry(session, settings, ai_world, tiny_model):
    w = ai_world
    first = service.predict_case(session, w.manager, settings, w.project_id, w.cases[0], MODEL)
    assert not first.cached
    assert set(first.outputs) == set(LABELS)
    assert all(0.0 <= p <= 1.0 for p in first.outputs.values())
    again = service.predict_case(session, w.annotator, settings, w.project_id, w.cases[0], MODEL)
    assert again.cached and again.outputs == pytest.approx(first.outputs)
    rows = session.exec(select(AiPrediction)).all()
    assert len(rows) == 1 and rows[0].version == "1"
    entries = [
        e for e in ledger.recent(session, w.owner, w.project_id) if e["action"] == "ai.predict"
    ]
    assert len(entries) == 1
    assert ledger.verify(session, w.owner, w.project_id).ok


def test_explain_returns_maps_at_the_model_input_and_caches_them(
    session, settings, ai_world, tiny_model
):
    w = ai_world
    out = service.explain_case(
        session, w.owner, settings, w.project_id, w.cases[1], MODEL, list(LABELS)
    )
    assert set(out.cams) == set(LABELS)
    for cam in out.cams.values():
        assert cam.shape == tiny_model.input.size
        assert cam.dtype == np.float32 and cam.min() >= 0.0 and cam.max() <= 1.0
    assert load_cam(settings, w.cases[1], MODEL, "1", LABELS[0]) is not None
    direct = service.predict_case(session, w.owner, settings, w.project_id, w.cases[1], MODEL)
    assert direct.cached and direct.outputs == pytest.approx(out.outputs, abs=1e-5)
    cached = service.explain_case(
        session, w.owner, settings, w.project_id, w.cases[1], MODEL, [LABELS[1]]
    )
    assert cached.cached
    np.testing.assert_array_equal(cached.cams[LABELS[1]], out.cams[LABELS[1]])


def test_explain_refuses_a_label_the_model_lacks(session, settings, ai_world, tiny_model):
    w = ai_world
    with pytest.raises(ValidationError, match="no label 'fracture'"):
        service.explain_case(
            session, w.owner, settings, w.project_id, w.cases[0], MODEL, ["fracture"]
        )


def test_unknown_model_is_a_clear_error_and_stores_nothing(session, settings, ai_world, tiny_model):
    w = ai_world
    with pytest.raises(ModelNotFound, match="no model named 'nope'.*registered models"):
        service.predict_case(session, w.owner, settings, w.project_id, w.cases[0], "nope")
    with pytest.raises(ModelNotFound, match="no version '9'"):
        service.predict_case(session, w.owner, settings, w.project_id, w.cases[0], MODEL, "9")
    assert session.exec(select(AiPrediction)).all() == []


def test_missing_external_weights_name_the_file_and_directory(session, settings, ai_world):
    w = ai_world
    with pytest.raises(WeightsError, match="MARKIT_WEIGHTS_DIR") as err:
        service.predict_case(
            session, w.owner, settings, w.project_id, w.cases[0], "xrv-densenet121-all"
        )
    assert str(settings.resolved_weights_dir) in str(err.value)
    assert session.exec(select(AiPrediction)).all() == []


def test_case_of_another_modality_is_warned_not_refused(session, settings, ai_world, tiny_model):
    w = ai_world
    case = session.get(Case, w.cases[2])
    case.modality = "MR"
    session.add(case)
    session.commit()
    out = service.predict_case(session, w.owner, settings, w.project_id, w.cases[2], MODEL)
    assert out.outputs and any("modality MR" in m and "CR/DX" in m for m in out.warnings)
    ok = service.predict_case(session, w.owner, settings, w.project_id, w.cases[3], MODEL)
    assert ok.warnings == ()


def test_case_of_another_project_is_refused(session, settings, ai_world, tiny_model, make_project):
    w = ai_world
    other = make_project("Other", w.owner)
    from tests.review_helpers import add_cases

    foreign = add_cases(session, settings, other.id, 1)[0]
    with pytest.raises(ValidationError, match=f"case {foreign} is not in this project"):
        service.predict_case(session, w.owner, settings, w.project_id, foreign, MODEL)


def test_permissions(session, settings, ai_world, tiny_model):
    w = ai_world
    case = w.cases[0]
    with pytest.raises(NotFoundError):
        service.predict_case(session, w.outsider, settings, w.project_id, case, MODEL)
    with pytest.raises(PermissionDenied, match="use ai"):
        service.predict_case(session, w.data_owner, settings, w.project_id, case, MODEL)
    service.predict_case(session, w.reviewer, settings, w.project_id, case, MODEL)
    update_ai_options(session, w.manager, w.project_id, annotators_may_use=False)
    with pytest.raises(PermissionDenied, match="does not let annotators use AI"):
        service.predict_case(session, w.annotator, settings, w.project_id, case, MODEL)
    service.predict_case(session, w.manager, settings, w.project_id, case, MODEL)
    with pytest.raises(PermissionDenied):
        service.set_active_model(session, w.annotator, w.project_id, MODEL, "1")


def test_active_model_per_task(session, settings, ai_world, tiny_model):
    w = ai_world
    assert service.active_model(session, w.project_id, "pathologies") is None
    assert service.set_active_model(session, w.manager, w.project_id, MODEL, "1") == "pathologies"
    assert service.active_model(session, w.project_id, "pathologies") == (MODEL, "1")
    choices = {c.info.key: c for c in service.model_choices(session, w.manager, w.project_id)}
    assert choices[f"{MODEL}@1"].active
    assert choices["xrv-densenet121-all@1"].external_weights
    assert ledger.verify(session, w.owner, w.project_id).ok
