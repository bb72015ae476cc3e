"""A new project starts with a copy of another project's label set or a built-in template."""

from __future__ import annotations

import pytest
from sqlmodel import select

from markit_core import ledger
from markit_core.accounts import get_user
from markit_core.errors import NotFoundError, PermissionDenied, ValidationError
from markit_core.labels import (
    CHEST_XRAY_LABELS,
    add_labels,
    label_sources,
    list_labels,
    save_label_set,
)
from markit_core.models import LedgerEntry, Project, Role
from markit_core.projects import create_project, list_projects


def _everyone(settings):
    return settings.model_copy(update={"project_creators": "everyone"})


def test_the_paper_template_gives_the_seven_chest_labels(session, settings, make_user):
    pi = make_user("pi")
    info = create_project(
        session, pi, "Chest", settings=_everyone(settings), labels_from="template:chest-xray-7"
    )
    labels = list_labels(session, pi, info.id)
    assert [(lb.name, lb.group, lb.kind) for lb in labels] == [
        (n, g, "binary") for n, g in CHEST_XRAY_LABELS
    ]
    assert [n for n, _g in CHEST_XRAY_LABELS] == [
        "interstitial lung disease",
        "pneumonia",
        "pulmonary edema",
        "pleural effusion",
        "cardiomegaly",
        "pneumothorax",
        "atelectasis",
    ]
    actions = session.exec(
        select(LedgerEntry.action).where(LedgerEntry.project_id == info.id)
    ).all()
    assert actions.count("label.create") == 7
    assert ledger.integrity(session).ok


def test_copying_a_managed_project_keeps_groups_kinds_and_order(
    session, settings, make_user, make_project
):
    pi = make_user("pi")
    src = make_project("Source", pi)
    add_labels(session, pi, src.id, [("nodule", "Lung"), ("fracture", "Bone")])
    add_labels(session, pi, src.id, [("tube tip", "Devices")], kind="roi")
    source_labels = list_labels(session, pi, src.id)
    keys = [s.key for s in label_sources(session, pi)]
    assert keys == ["template:chest-xray-7", f"project:{src.id}"]
    copy = create_project(
        session, pi, "Copy", settings=_everyone(settings), labels_from=f"project:{src.id}"
    )
    copied = list_labels(session, pi, copy.id)
    assert [(lb.name, lb.group, lb.kind, lb.order) for lb in copied] == [
        (lb.name, lb.group, lb.kind, lb.order) for lb in source_labels
    ]
    assert {lb.id for lb in copied}.isdisjoint(lb.id for lb in source_labels)
    # the copy is the new project's own: editing it leaves the source alone
    save_label_set(session, pi, copy.id, [vars(copied[0])])
    assert len(list_labels(session, pi, src.id)) == 3


def test_a_project_the_creator_may_not_manage_cannot_be_copied(
    session, settings, make_user, make_project
):
    owner = make_user("owner")
    reader = make_user("reader")
    make_user("stranger")
    src = make_project("Private", owner, {"reader": [Role.ANNOTATOR]})
    add_labels(session, owner, src.id, [("secret finding", "X")])
    # an annotator sees the project but may not manage its labels: not offered, refused
    assert [s.key for s in label_sources(session, reader)] == ["template:chest-xray-7"]
    with pytest.raises(PermissionDenied):
        create_project(
            session, reader, "Mine", settings=_everyone(settings), labels_from=f"project:{src.id}"
        )
    stranger = get_user(session, "stranger")
    with pytest.raises(NotFoundError):
        create_project(
            session,
            stranger,
            "Theirs",
            settings=_everyone(settings),
            labels_from=f"project:{src.id}",
        )
    # nothing was created by the refused calls
    assert [p.name for p in list_projects(session, owner)] == ["Private"]
    assert session.exec(select(Project).where(Project.name.in_(["Mine", "Theirs"]))).all() == []


@pytest.mark.parametrize("bad", ["template:mri", "project:abc", "labels.csv"])
def test_an_unknown_label_set_is_refused_by_name(session, settings, make_user, bad):
    pi = make_user("pi")
    with pytest.raises(ValidationError, match=bad.split(":")[0]):
        create_project(session, pi, "X", settings=_everyone(settings), labels_from=bad)
    assert session.exec(select(Project)).all() == []
