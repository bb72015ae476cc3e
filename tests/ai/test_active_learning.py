"""Active learning: uncertainty order of every queue; AI labels kept apart from human ones."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.annotation.current import current_answers
from markit_core.annotation.queue import build_queue
from markit_core.annotation.submit import Answer, submit
from markit_core.cli import main
from markit_core.errors import PermissionDenied, ValidationError
from markit_core.export.csv_export import export_annotations_csv
from markit_core.inference import service
from markit_core.inference.active_learning import ai_labels, export_ai_labels_csv, score_unread
from markit_core.inference.strategy import max_class_likelihood
from markit_core.models import AiLabel, CasePriority
from markit_core.review.answers import load_answers
from markit_core.rewards.run_inputs import answers_table
from tests.ai.conftest import LABELS, MODEL


def _outputs(session, settings, w, case_ids):
    return np.asarray(
        [
            [
                service.predict_case(session, w.manager, settings, w.project_id, c, MODEL).outputs[
                    lb
                ]
                for lb in LABELS
            ]
            for c in case_ids
        ]
    )


def test_needs_an_active_model_and_a_manager(session, settings, ai_world, tiny_model):
    w = ai_world
    with pytest.raises(ValidationError, match="no active pathology model"):
        score_unread(session, w.manager, settings, w.project_id)
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    with pytest.raises(PermissionDenied):
        score_unread(session, w.annotator, settings, w.project_id)
    with pytest.raises(ValidationError, match="between 0.5 and 1"):
        score_unread(session, w.manager, settings, w.project_id, threshold=0.3)
    with pytest.raises(ValidationError, match="unknown selection strategy"):
        score_unread(session, w.manager, settings, w.project_id, method="random")


def test_queue_is_ordered_most_uncertain_first(session, settings, ai_world, tiny_model):
    w = ai_world
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    submit(
        session,
        w.reviewer if False else w.annotator,
        w.project_id,
        w.cases[0],
        answers={w.labels["effusion"]: Answer(True, 80)},
        token="read-0",
    )
    unread = w.cases[1:]
    conf = max_class_likelihood(_outputs(session, settings, w, unread), tiny_model.task_type)
    t = float(np.median(conf))
    result = score_unread(session, w.manager, settings, w.project_id, threshold=t)
    assert result.scored == len(unread)
    assert result.to_humans == int((conf < t).sum()) and result.accepted == 0
    queue = build_queue(session, w.annotator, w.project_id)
    expected = [c for _, c in sorted(zip(conf, unread, strict=True))]  # least confident first
    assert list(queue.case_ids[: len(unread)]) == expected
    assert queue.case_ids[-1] == w.cases[0]  # read before: not scored, after the scored ones
    assert len(session.exec(select(CasePriority)).all()) == len(unread)
    assert ledger.verify(session, w.owner, w.project_id).ok


def test_accepted_ai_labels_never_mix_with_human_readings(session, settings, ai_world, tiny_model):
    w = ai_world
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    eff = w.labels["effusion"]
    submit(
        session, w.annotator, w.project_id, w.cases[0], answers={eff: Answer(True, 80)}, token="h-0"
    )
    conf = max_class_likelihood(_outputs(session, settings, w, w.cases[1:]), tiny_model.task_type)
    t = float(min(max(np.sort(conf)[len(conf) // 2], 0.5001), 0.9999))
    result = score_unread(session, w.manager, settings, w.project_id, threshold=t, accept=True)
    assert result.confident == int((conf >= t).sum()) > 0
    assert result.accepted == result.confident * len(LABELS)
    rows = ai_labels(session, w.reviewer, w.project_id)
    assert len(rows) == result.accepted and {r.source for r in rows} == {"ai"}
    assert all(r.model_key == f"{MODEL}@1" for r in rows)
    # human-only everywhere else: agreement, review, rewards, the readings export
    assert {a.annotator for a in current_answers(session, w.project_id)} == {"annotator"}
    answers = load_answers(session, w.project_id)
    assert answers.annotators == ("annotator",) and list(answers.case_ids) == [w.cases[0]]
    table = answers_table(session, w.project_id)
    assert set(table.annotators) == {"annotator"}
    readings_csv = export_annotations_csv(session, w.manager, w.project_id)
    assert len(readings_csv.strip().splitlines()) == 2
    ai_csv = export_ai_labels_csv(session, w.manager, w.project_id)
    lines = ai_csv.strip().splitlines()
    assert lines[0].startswith("case_id,label,value,score,source")
    assert len(lines) == 1 + result.accepted and all(",ai," in ln for ln in lines[1:])
    again = score_unread(session, w.manager, settings, w.project_id, threshold=t, accept=True)
    assert again.accepted == 0  # already stored, not duplicated
    assert len(session.exec(select(AiLabel)).all()) == result.accepted
    assert ledger.verify(session, w.owner, w.project_id).ok


def test_the_export_csv_marks_ai_answers_and_what_the_reader_saw(
    session, settings, ai_world, tiny_model, tmp_path
):
    """annotations.csv of an export: source "ai" rows for the model's own answers, merged in
    case order, and ai_suggestion_visible from the reading's exposure record."""
    import csv

    from markit_core.export.tables import write_readings_csv
    from markit_core.inference.prelabels import Exposure

    w = ai_world
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    eff, ptx = w.labels["effusion"], w.labels["pneumothorax"]
    submit(
        session,
        w.annotator,
        w.project_id,
        w.cases[0],
        answers={eff: Answer(True, 80), ptx: Answer(False, 60)},
        token="h-0",
        exposure={eff: Exposure(True, MODEL, "1", 0.91, mode="before")},
    )
    result = score_unread(session, w.manager, settings, w.project_id, threshold=0.5001, accept=True)
    assert result.accepted > 0
    written = write_readings_csv(session, w.project_id, tmp_path / "annotations.csv")
    with open(tmp_path / "annotations.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert written.rows == len(rows) == 2 + result.accepted
    human = {r["label"]: r for r in rows if r["source"] == "human"}
    assert human["effusion"]["ai_suggestion_visible"] == "true"
    assert human["pneumothorax"]["ai_suggestion_visible"] == "false"
    ai_rows = [r for r in rows if r["source"] == "ai"]
    stored = {(a.case_id, a.label_id): a for a in session.exec(select(AiLabel)).all()}
    assert len(ai_rows) == len(stored) == result.accepted
    for r in ai_rows:
        label = stored[(int(r["case_id"]), int(r["label_id"]))]
        assert r["reader"] == f"{MODEL}@1" and r["annotation_id"] == ""
        assert r["answer"] == ("true" if label.value else "false")
    assert [int(r["case_id"]) for r in rows] == sorted(int(r["case_id"]) for r in rows)
    assert written.ai_label_ids == {a.id for a in stored.values()}


def test_cli(session, settings, ai_world, tiny_model, monkeypatch, capsys):
    w = ai_world
    service.set_active_model(session, w.manager, w.project_id, MODEL, "1")
    monkeypatch.setenv("MARKIT_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)
    code = main(
        ["active-learning", "--project", "Chest AI", "--threshold", "0.9", "--as", "manager"]
    )
    assert code == 0
    assert f"{MODEL}@1: scored 6 unread case(s)" in capsys.readouterr().out
    assert main(["active-learning", "--project", "Chest AI", "--threshold", "2"]) == 2
