"""Training from annotations: labels, fixed stratified split, refusal, registration, cancel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.annotation.submit import Answer, submit
from markit_core.cli import main
from markit_core.errors import PermissionDenied, ValidationError
from markit_core.inference import registry, service
from markit_core.inference.prelabels import update_ai_options
from markit_core.inference.training_run import (
    create_training,
    prepare_training,
    run_training,
    stratified_split,
)
from markit_core.models import Adjudication, ModelVersion, TrainingRun


def _read_all(session, w) -> None:
    eff, ptx = w.labels["effusion"], w.labels["pneumothorax"]
    for n, case_id in enumerate(w.cases):
        submit(
            session,
            w.annotator,
            w.project_id,
            case_id,
            answers={eff: Answer(n % 2 == 0, 80), ptx: Answer(n % 3 == 0, 80)},
            token=f"t-{n}",
        )


def test_split_is_stratified_and_fixed_by_seed():
    rng = np.random.default_rng(1)
    targets = (rng.random((40, 3)) < [0.5, 0.2, 0.1]).astype(np.float32)
    a = stratified_split(targets, seed=7)
    b = stratified_split(targets, seed=7)
    c = stratified_split(targets, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])
    train, val = a
    assert sorted([*train, *val]) == list(range(40)) and 6 <= len(val) <= 14
    rare = np.flatnonzero(targets[:, 2] > 0.5)
    if rare.size >= 2:
        assert set(rare) & set(val) and set(rare) & set(train)


def test_labels_take_the_adjudication_first(session, ai_world):
    w = ai_world
    _read_all(session, w)
    session.add(
        Adjudication(
            project_id=w.project_id,
            case_id=w.cases[0],
            label_id=w.labels["effusion"],
            value=False,
            reviewer_id=w.owner.id,
        )
    )
    session.commit()
    data = prepare_training(
        session, w.project_id, "pathologies", truth="majority", seed=0, minimum=1
    )
    row = data.case_ids.index(w.cases[0])
    assert data.labels == ("effusion", "pneumothorax")
    assert data.targets[row].tolist() == [0.0, 1.0]  # reader said present; the reviewer no


def test_too_few_labelled_cases_is_refused_and_nothing_stored(session, ai_world):
    w = ai_world
    _read_all(session, w)
    with pytest.raises(ValidationError, match="only 6 case.*at least 20"):
        create_training(session, w.manager, w.project_id, epochs=1)
    with pytest.raises(ValidationError, match="cannot train task 'colour'"):
        create_training(session, w.manager, w.project_id, "colour", epochs=1)
    with pytest.raises(PermissionDenied):
        create_training(session, w.annotator, w.project_id, epochs=1)
    assert session.exec(select(TrainingRun)).all() == []
    assert session.exec(select(ModelVersion)).all() == []


def test_training_registers_a_version_with_metrics(session, settings, ai_world):
    w = ai_world
    _read_all(session, w)
    update_ai_options(session, w.manager, w.project_id, min_training_cases=4)
    run_id = create_training(session, w.manager, w.project_id, epochs=2, seed=3)
    seen = []
    status = run_training(session.get_bind(), settings, run_id, lambda e, n, m: seen.append(e))
    assert status.status == "done", status.error
    assert seen == [1, 2] and [h["epoch"] for h in status.history] == [1, 2]
    assert "loss" in status.history[0]
    mv = session.exec(select(ModelVersion)).one()
    assert status.model_key == f"{mv.model_name}@{mv.version}"
    assert mv.labels == ["effusion", "pneumothorax"] and "loss" in mv.metrics
    assert (settings.data_dir / mv.weights_path).is_file()
    # the new version is usable at once, and the manager may make it active
    registry.unregister(mv.model_name, mv.version)  # as after a restart: rebuilt from the row
    out = service.predict_case(
        session, w.manager, settings, w.project_id, w.cases[0], mv.model_name, mv.version
    )
    assert set(out.outputs) == {"effusion", "pneumothorax"}
    assert service.set_active_model(session, w.manager, w.project_id, mv.model_name, mv.version)
    assert ledger.verify(session, w.owner, w.project_id).ok


def test_a_moved_data_folder_keeps_its_trained_models(session, settings, ai_world, tmp_path):
    """The weights path is stored relative to the data folder: a restored or moved
    folder reads the version from its new place, not from the old one."""
    w = ai_world
    _read_all(session, w)
    update_ai_options(session, w.manager, w.project_id, min_training_cases=4)
    run_id = create_training(session, w.manager, w.project_id, epochs=1, seed=3)
    assert run_training(session.get_bind(), settings, run_id).status == "done"
    mv = session.exec(select(ModelVersion)).one()
    assert not Path(mv.weights_path).is_absolute()
    before = service.predict_case(
        session, w.manager, settings, w.project_id, w.cases[1], mv.model_name, mv.version
    )
    moved = settings.model_copy(update={"data_dir": tmp_path / "moved"})
    shutil.copytree(settings.data_dir, moved.data_dir)
    old = settings.data_dir / mv.weights_path
    old.rename(old.with_suffix(".gone"))  # only the moved folder has the weights now
    after = service.predict_case(
        session, w.manager, moved, w.project_id, w.cases[2], mv.model_name, mv.version
    )
    assert set(after.outputs) == set(before.outputs)
    assert registry.entry(mv.model_name, mv.version).weights_path == str(
        moved.data_dir / mv.weights_path
    )


def test_cancelled_training_registers_nothing(session, settings, ai_world):
    w = ai_world
    _read_all(session, w)
    update_ai_options(session, w.manager, w.project_id, min_training_cases=4)
    run_id = create_training(session, w.manager, w.project_id, epochs=3)
    run = session.get(TrainingRun, run_id)
    run.cancel_requested = True
    session.add(run)
    session.commit()
    status = run_training(session.get_bind(), settings, run_id)
    assert status.status == "cancelled" and status.epoch == 1
    assert session.exec(select(ModelVersion)).all() == []


def test_cli_refuses_below_the_minimum(session, settings, ai_world, monkeypatch, capsys):
    _read_all(session, ai_world)
    monkeypatch.setenv("MARKIT_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)
    code = main(["train", "--project", "Chest AI", "--epochs", "1", "--as", "manager"])
    assert code == 2
    assert "only 6 case(s)" in capsys.readouterr().err
    assert main(["train", "--project", "Nope"]) == 2
