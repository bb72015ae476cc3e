"""The role x action permission matrix, checked through the service functions."""

from __future__ import annotations

import itertools

import pytest

from markit_core.access import Action, require
from markit_core.annotation.progress import project_progress
from markit_core.annotation.queue import build_queue
from markit_core.annotation.summary import project_summary
from markit_core.config import Settings
from markit_core.errors import NotFoundError, PermissionDenied
from markit_core.export.csv_export import export_annotations_csv
from markit_core.imaging.ingest import ingest
from markit_core.imaging.trace import mapping_table
from markit_core.labels import add_labels, list_labels
from markit_core.models import Role
from markit_core.projects import grant_role, list_projects, update_settings
from markit_core.review.views import annotator_agreement
from markit_core.rewards.runs import list_runs

# one letter per role so the matrix below reads as a table
O, M, D, A, R = Role.OWNER, Role.MANAGER, Role.DATA_OWNER, Role.ANNOTATOR, Role.REVIEWER  # noqa: E741

# The designed matrix, written out independently of access.PERMISSIONS.
EXPECTED: dict[Action, set[Role]] = {
    Action.VIEW: {O, M, D, A, R},
    Action.EXPORT: {O, M},
    Action.PROGRESS: {O, M, D, R},
    Action.STATS: {O, M, R},
    Action.EDIT_LABELS: {O, M},
    Action.MANAGE_MEMBERS: {O, M},
    Action.EDIT_SETTINGS: {O, M},
    Action.UPLOAD: {O, D},
    Action.TRACE_IDENTITY: {O, D},
    Action.ANNOTATE: {O, A},
    Action.REVIEW: {O, M, R},
    Action.REWARDS: {O, M},
    Action.USE_AI: {O, M, A, R},
}

_counter = itertools.count()


def _probe(action: Action, settings: Settings):
    """A call of the real service function guarded by ``action``."""

    def labels(s, u, pid):
        add_labels(s, u, pid, [(f"probe label {next(_counter)}", "")])

    def members(s, u, pid):
        grant_role(s, u, pid, "bystander", Role.REVIEWER)

    probes = {
        Action.VIEW: lambda s, u, pid: list_labels(s, u, pid),
        Action.EXPORT: lambda s, u, pid: export_annotations_csv(s, u, pid),
        Action.PROGRESS: lambda s, u, pid: project_progress(s, u, pid),
        Action.STATS: lambda s, u, pid: project_summary(s, u, pid),
        Action.EDIT_LABELS: labels,
        Action.MANAGE_MEMBERS: members,
        Action.EDIT_SETTINGS: lambda s, u, pid: update_settings(s, u, pid, required_annotators=2),
        Action.UPLOAD: lambda s, u, pid: ingest(s, settings, u, pid, []),
        Action.TRACE_IDENTITY: lambda s, u, pid: mapping_table(s, u, pid),
        Action.ANNOTATE: lambda s, u, pid: build_queue(s, u, pid),
        Action.REVIEW: lambda s, u, pid: annotator_agreement(s, u, pid),
        Action.REWARDS: lambda s, u, pid: list_runs(s, u, pid),
    }
    # USE_AI guards the AI-assist services, which do not exist yet: checked on access itself.
    return probes.get(action, lambda s, u, pid: require(s, u, pid, action))


@pytest.fixture
def world(session, make_user, make_project):
    users = {role: make_user(f"u_{role.value}") for role in Role}
    make_user("bystander")
    outsider = make_user("outsider")
    owner = users[O]
    project = make_project(
        "Matrix", owner, {u.username: [r] for r, u in users.items() if r is not O}
    )
    return users, outsider, project


def test_expected_table_covers_every_action():
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_role_action_matrix(session, settings, world, role, action):
    users, _, project = world
    call = _probe(action, settings)
    if role in EXPECTED[action]:
        call(session, users[role], project.id)
    else:
        with pytest.raises(PermissionDenied, match=action.value.replace("_", " ")):
            call(session, users[role], project.id)


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_non_member_cannot_even_see_the_project(session, settings, world, action):
    _, outsider, project = world
    with pytest.raises(NotFoundError):
        _probe(action, settings)(session, outsider, project.id)


def test_users_see_only_their_projects(session, world, make_user, make_project):
    users, outsider, project = world
    other = make_project("Other lab", outsider)
    assert [p.name for p in list_projects(session, users[A])] == ["Matrix"]
    assert [p.name for p in list_projects(session, outsider)] == ["Other lab"]
    assert other.my_roles == ()  # created by the admin for outsider: the admin holds no role


def test_deactivated_user_is_refused(session, world):
    users, _, project = world
    users[O].is_active = False
    session.add(users[O])
    session.commit()
    with pytest.raises(PermissionDenied, match="deactivated"):
        list_labels(session, users[O], project.id)


def test_several_roles_combine(session, world):
    users, _, project = world
    annotator = users[A]
    with pytest.raises(PermissionDenied):
        project_summary(session, annotator, project.id)
    grant_role(session, users[O], project.id, annotator.username, Role.REVIEWER)
    assert project_summary(session, annotator, project.id).project == "Matrix"
