"""Projects, roles and label sets: happy paths and bad input that must change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from markit_core import ledger
from markit_core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from markit_core.labels import add_labels, list_labels, save_label_set
from markit_core.models import Role
from markit_core.projects import create_project, grant_role, list_members, revoke_role


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def project(make_project, owner):
    return make_project("Chest", owner)


def _snapshot(session) -> tuple:
    """Everything a failed call must leave untouched."""
    return tuple(
        tuple(session.exec(text(f"select * from {t} order by 1")).all())
        for t in ("project", "membership", "label_def", "ledger_entry")
    )


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Chest", "already exists"),
        ("chest", "already exists"),
        ("bad\x07name", "control character"),
        ("tab\tname", "control character"),
        ("x" * 101, "longer"),
    ],
)
def test_bad_project_names_change_nothing(session, owner, project, name, message):
    before = _snapshot(session)
    with pytest.raises(ValidationError, match=message):
        create_project(session, owner, name)
    assert _snapshot(session) == before


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"name": ""}], "label row 1 name is empty"),
        ([{"name": "Effusion"}, {"name": "effusion"}], "duplicate label name"),
        ([{"name": "ok"}, {"name": "bad\nname"}], "label row 2 name .* control character"),
        ([{"name": "ok", "kind": "polygon"}], "kind 'polygon'"),
        ([{"name": "ok", "order": "first"}], "order 'first'"),
        ([{"name": "ok", "group": "Pl\x00eura"}], "group .* control character"),
        ([{"id": 999, "name": "ok"}], "not in this project"),
    ],
)
def test_bad_label_sets_change_nothing(session, owner, project, rows, message):
    add_labels(session, owner, project.id, [("pleural effusion", "Pleura")])
    before = _snapshot(session)
    with pytest.raises(ValidationError, match=message):
        save_label_set(session, owner, project.id, rows)
    assert _snapshot(session) == before


def test_label_set_editing(session, owner, project):
    add_labels(
        session, owner, project.id, [("pleural effusion", "Pleura"), ("cardiomegaly", "Heart")]
    )
    labels = list_labels(session, owner, project.id)
    rows = [vars(lb).copy() for lb in labels]
    rows[0]["group"] = "Pleural space"
    rows = rows[:1] + [{"name": "nodule", "group": "Lung", "kind": "roi", "order": 9}]
    changes = save_label_set(session, owner, project.id, rows)
    assert changes.updated == ("pleural effusion",)
    assert changes.created == ("nodule",)
    assert changes.deleted == ("cardiomegaly",)
    after = {lb.name: lb for lb in list_labels(session, owner, project.id)}
    assert after["pleural effusion"].group == "Pleural space"
    assert after["nodule"].kind == "roi"
    assert ledger.integrity(session).ok


def test_roles_grant_revoke_and_last_owner(session, owner, project, make_user):
    make_user("mgr")
    make_user("ann")
    assert grant_role(session, owner, project.id, "mgr", "manager")
    assert not grant_role(session, owner, project.id, "mgr", "manager")  # already held
    mgr = session.exec(text("select id from user_account where username='mgr'")).one()
    from markit_core.accounts import get_user

    mgr = get_user(session, "mgr")
    grant_role(session, mgr, project.id, "ann", Role.ANNOTATOR)
    grant_role(session, mgr, project.id, "ann", Role.REVIEWER)
    members = {m.username: m.roles for m in list_members(session, owner, project.id)}
    assert members["ann"] == ("annotator", "reviewer")
    with pytest.raises(PermissionDenied, match="only an owner"):
        grant_role(session, mgr, project.id, "mgr", Role.OWNER)
    before = _snapshot(session)
    with pytest.raises(ConflictError, match="last owner"):
        revoke_role(session, owner, project.id, "owner", Role.OWNER)
    with pytest.raises(NotFoundError, match="unknown user"):
        grant_role(session, owner, project.id, "ghost", Role.ANNOTATOR)
    with pytest.raises(ValidationError, match="unknown role"):
        grant_role(session, owner, project.id, "ann", "superuser")
    with pytest.raises(NotFoundError, match="does not hold"):
        revoke_role(session, owner, project.id, "ann", Role.MANAGER)
    assert _snapshot(session) == before
    grant_role(session, owner, project.id, "mgr", Role.OWNER)
    revoke_role(session, owner, project.id, "owner", Role.OWNER)  # no longer the last one
    revoke_role(session, mgr, project.id, "ann", Role.REVIEWER)
    assert ledger.integrity(session).ok


def test_label_with_answers_is_archived_not_deleted(session, owner, project):
    add_labels(session, owner, project.id, [("pneumonia", "Lung")])
    label = list_labels(session, owner, project.id)[0]
    session.exec(
        text(
            'insert into "case" (project_id, content_hash, stored_path, kind, original_name, '
            "study_uid, series_uid, sop_uid, accession, modality, view_position, rows, cols, "
            "n_frames, burned_in_warning, meta, created_at) values "
            f"({project.id}, 'h', 'p', 'dicom', '', '', '', '', '', '', '', 1, 1, 1, 0, '{{}}', "
            "'2026-01-01 00:00:00')"
        )
    )
    session.exec(
        text(
            "insert into annotation (project_id, case_id, annotator_id, version, deleted, "
            "submit_token, submitted_at, total_seconds, active_seconds, idle_seconds) "
            f"values ({project.id}, 1, "
            f"{owner.id}, 1, 0, 't', '2026-01-01 00:00:00', 1, 1, 0)"
        )
    )
    session.exec(
        text(
            "insert into annotation_value (annotation_id, label_id, value) "
            f"values (1, {label.id}, 1)"
        )
    )
    session.commit()
    changes = save_label_set(session, owner, project.id, [])
    assert changes.archived == ("pneumonia",)
    assert list_labels(session, owner, project.id) == []
    assert session.exec(text("select count(*) from annotation_value")).one()[0] == 1
    restored = add_labels(session, owner, project.id, [("Pneumonia", "Lung")])
    assert restored.created == ("Pneumonia",)
    assert list_labels(session, owner, project.id)[0].id == label.id


def test_refused_settings_change_leaves_nothing_behind(session, owner, project, make_user):
    from markit_core.projects import update_settings

    make_user("later")
    with pytest.raises(ValidationError, match=r"between 0 \(every annotator\) and 50"):
        update_settings(session, owner, project.id, description="CHANGED", required_annotators=51)
    grant_role(session, owner, project.id, "later", Role.ANNOTATOR)  # commits the session
    desc = session.exec(text(f"select description from project where id = {project.id}")).one()[0]
    assert desc != "CHANGED"
    assert ledger.integrity(session).ok


def test_label_names_can_be_swapped(session, owner, project):
    add_labels(session, owner, project.id, [("effusion", "Pleura"), ("pneumothorax", "Pleura")])
    a, b = list_labels(session, owner, project.id)
    rows = [vars(a) | {"name": b.name}, vars(b) | {"name": a.name}]
    changes = save_label_set(session, owner, project.id, rows)
    assert set(changes.updated) == {"effusion", "pneumothorax"}
    after = {lb.id: lb.name for lb in list_labels(session, owner, project.id)}
    assert after == {a.id: "pneumothorax", b.id: "effusion"}
    assert ledger.integrity(session).ok


def test_rename_onto_an_archived_label_is_refused(session, owner, project):
    add_labels(session, owner, project.id, [("pneumonia", "Lung"), ("consolidation", "Lung")])
    pneumonia, consolidation = list_labels(session, owner, project.id)
    session.exec(text(f"update label_def set archived = 1 where id = {pneumonia.id}"))
    session.commit()
    before = _snapshot(session)
    with pytest.raises(ValidationError, match="archived label"):
        save_label_set(session, owner, project.id, [vars(consolidation) | {"name": "Pneumonia"}])
    with pytest.raises(ValidationError, match="label id 'abc' is not a number"):
        save_label_set(session, owner, project.id, [{"id": "abc", "name": "x"}])
    assert _snapshot(session) == before
