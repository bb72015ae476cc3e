"""AI-assist test data: a chest project with real PNG cases and a real (small) CNN.

The model is MarkIt's own ``ChestCNN`` with weights the test saves itself and loads through
the real loading code (``load_project_cnn``), registered under a test name for the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from markit_core.inference import registry
from markit_core.inference.base import InputSpec, ModelInfo, Normalisation, TaskType
from markit_core.labels import add_labels, list_labels
from markit_core.models import Role, User
from tests.review_helpers import add_cases

LABELS = ("effusion", "pneumothorax")
MODEL = "test-pathologies"


@dataclass
class AiWorld:
    project_id: int
    owner: User
    manager: User
    annotator: User
    reviewer: User
    data_owner: User
    outsider: User
    labels: dict[str, int]
    cases: list[int]


@pytest.fixture
def ai_world(session, settings, make_user, make_project) -> AiWorld:
    owner = make_user("owner")
    people = {
        n: make_user(n) for n in ("manager", "annotator", "reviewer", "dataowner", "outsider")
    }
    project = make_project(
        "Chest AI",
        owner,
        {
            "manager": [Role.MANAGER],
            "annotator": [Role.ANNOTATOR],
            "reviewer": [Role.REVIEWER],
            "dataowner": [Role.DATA_OWNER],
        },
    )
    add_labels(session, owner, project.id, [(n, "Chest") for n in LABELS])
    labels = {lb.name: lb.id for lb in list_labels(session, owner, project.id)}
    cases = add_cases(session, settings, project.id, 6)
    return AiWorld(
        project.id,
        owner,
        people["manager"],
        people["annotator"],
        people["reviewer"],
        people["dataowner"],
        people["outsider"],
        labels,
        cases,
    )


def save_cnn(path: Path, n_outputs: int, seed: int = 0) -> Path:
    from markit_core.inference.cnn import ChestCNN

    torch.manual_seed(seed)
    torch.save(ChestCNN(n_outputs).state_dict(), path)
    return path


@pytest.fixture
def tiny_model(tmp_path):
    """A real ChestCNN registered as ``test-pathologies`` v1 (weights saved by the test)."""
    from markit_core.inference.cnn import load_project_cnn

    weights = save_cnn(tmp_path / "test-pathologies-1.pt", len(LABELS))
    info = ModelInfo(
        MODEL,
        "1",
        TaskType.MULTILABEL,
        LABELS,
        InputSpec(size=(64, 64), channels=1, normalisation=Normalisation.UNIT),
        "test CNN",
    )
    registry.register(
        registry.ModelEntry(info, lambda i, _wd, dev: load_project_cnn(i, weights, dev)),
        replace=True,
    )
    yield info
    registry.unregister(MODEL, "1")


@pytest.fixture(autouse=True)
def _forget_trained_versions():
    """Versions trained in one test's database must not stay registered for the next."""
    before = {(e.name, e.version) for e in registry.list_models()}
    yield
    for e in registry.list_models():
        if (e.name, e.version) not in before:
            registry.unregister(e.name, e.version)
    registry.clear_cache()
