"""Core annotation tests: queue, versioned submits, idempotency, timing, ROIs, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func
from sqlmodel import select

from markit_core import ledger
from markit_core.annotation.queue import assign_cases, build_queue
from markit_core.annotation.regions import (
    draw_regions,
    drawing_to_regions,
    label_colors,
    object_canvas_points,
    regions_to_drawing,
    same_regions,
)
from markit_core.annotation.submit import (
    Answer,
    RegionInput,
    delete_reading,
    history,
    my_reading,
    others_readings,
    submit,
)
from markit_core.annotation.timing import Interaction, Timing, compute_timing
from markit_core.errors import ConflictError, PermissionDenied, ValidationError
from markit_core.imaging.display import (
    ViewState,
    canvas_to_image,
    fit_zoom,
    image_to_canvas,
    view_mapping,
)
from markit_core.labels import add_labels, list_labels
from markit_core.models import Annotation, AnnotationValue, Case, LedgerEntry, Roi, Role
from markit_core.projects import update_settings

COLS, ROWS = 400, 300


def _add_cases(session, project_id: int, n: int, prefix: str = "c") -> list[int]:
    ids = []
    for i in range(n):
        digest = f"{prefix}{project_id:02d}{i:03d}".ljust(64, "0")
        case = Case(
            project_id=project_id,
            content_hash=digest,
            stored_path=f"{digest[:2]}/{digest[2:]}",
            rows=ROWS,
            cols=COLS,
        )
        session.add(case)
        session.flush()
        ids.append(case.id)
    session.commit()
    return ids


@pytest.fixture
def world(session, make_user, make_project):
    """Owner, three annotators, a chest project (three labels, five cases), another project."""
    owner = make_user("owner")
    anns = [make_user(f"ann{i}") for i in (1, 2, 3)]
    project = make_project("Chest", owner, {a.username: [Role.ANNOTATOR] for a in anns})
    add_labels(
        session,
        owner,
        project.id,
        [("pneumonia", "Lung"), ("effusion", "Pleura"), ("cardiomegaly", "Heart")],
    )
    labels = {lb.name: lb.id for lb in list_labels(session, owner, project.id)}
    cases = _add_cases(session, project.id, 5)
    other = make_project("Other", owner, {"ann1": [Role.ANNOTATOR]})
    add_labels(session, owner, other.id, [("fracture", "Bone")])
    other_label = list_labels(session, owner, other.id)[0].id
    other_cases = _add_cases(session, other.id, 1, prefix="d")
    return {
        "owner": owner,
        "anns": anns,
        "project": project.id,
        "labels": labels,
        "cases": cases,
        "other": other.id,
        "other_label": other_label,
        "other_cases": other_cases,
    }


def _submit(session, user, w, case_id, token, **answers):
    labels = w["labels"]
    return submit(
        session,
        user,
        w["project"],
        case_id,
        answers={labels[k]: Answer(*v) for k, v in answers.items()},
        token=token,
    )


# -- queue ------------------------------------------------------------------------------


def test_queue_next_previous_and_progress(session, world):
    ann1 = world["anns"][0]
    c = world["cases"]
    q = build_queue(session, ann1, world["project"])
    assert q.case_ids == tuple(c) and q.done_count == 0 and q.total == 5
    assert q.next_after(None) == c[0]
    assert q.previous(c[0]) is None and q.previous(c[3]) == c[2]
    _submit(session, ann1, world, c[1], "t1", pneumonia=(True, 80))
    _submit(session, ann1, world, c[2], "t2", effusion=(False, 100))
    q = build_queue(session, ann1, world["project"])
    assert q.done == {c[1], c[2]} and q.done_count == 2
    assert q.next_after(c[0]) == c[3]  # skips done cases
    assert q.next_after(c[4]) == c[0]  # wraps around
    assert q.previous(c[3]) == c[2]  # previous visits done cases too
    for i, cid in enumerate((c[0], c[3], c[4])):
        _submit(session, ann1, world, cid, f"t-rest-{i}", cardiomegaly=(False, 60))
    q = build_queue(session, ann1, world["project"])
    assert q.done_count == q.total == 5 and q.next_after(c[0]) is None


def test_queue_assignment_and_required_annotators(session, world):
    owner, (ann1, ann2, ann3) = world["owner"], world["anns"]
    c, pid = world["cases"], world["project"]
    assert assign_cases(session, owner, pid, "ann1", [c[0], c[2]]) == 2
    assert assign_cases(session, owner, pid, "ann1", [c[2]]) == 0  # already assigned
    assert build_queue(session, ann1, pid).case_ids == (c[0], c[2])
    assert build_queue(session, ann2, pid).case_ids == tuple(c)  # nothing assigned: all cases
    with pytest.raises(PermissionDenied):
        assign_cases(session, ann2, pid, "ann3", [c[1]])
    with pytest.raises(ValidationError, match="not in this project"):
        assign_cases(session, owner, pid, "ann3", world["other_cases"])

    # by default every annotator reads every case
    _submit(session, ann2, world, c[1], "r1", pneumonia=(True, 100))
    assert c[1] in build_queue(session, ann3, pid).case_ids
    # one reader per case: a read case leaves the others' queues, not the reader's
    update_settings(session, owner, pid, required_annotators=1)
    assert c[1] not in build_queue(session, ann3, pid).case_ids
    with pytest.raises(PermissionDenied, match="not in your queue"):
        _submit(session, ann3, world, c[1], "r0", pneumonia=(False, 40))
    assert c[1] in build_queue(session, ann2, pid).case_ids
    update_settings(session, owner, pid, required_annotators=2)
    assert c[1] in build_queue(session, ann3, pid).case_ids
    _submit(session, ann3, world, c[1], "r2", pneumonia=(False, 40))
    q1 = build_queue(session, ann1, pid)
    assert c[1] not in build_queue(session, world["owner"], pid).case_ids
    assert q1.case_ids == (c[0], c[2])
    # a deleted reading frees the slot again
    delete_reading(session, ann3, pid, c[1], token="del-1")
    assert c[1] in build_queue(session, world["owner"], pid).case_ids


# -- versions, idempotency, ledger ---------------------------------------------------------


def test_edits_add_versions_and_keep_history(session, world):
    ann1 = world["anns"][0]
    pid, cid, labels = world["project"], world["cases"][0], world["labels"]
    first = _submit(session, ann1, world, cid, "v1", pneumonia=(True, 60), effusion=(False, 100))
    second = submit(
        session,
        ann1,
        pid,
        cid,
        answers={labels["pneumonia"]: Answer(False, 80)},
        regions=[RegionInput(labels["effusion"], "rect", [(10, 20), (30, 40)])],
        timing=Timing(12.5, 10.0, 2.5, {labels["pneumonia"]: 4.0}),
        token="v2",
    )
    assert (first.version, second.version) == (1, 2) and not second.duplicate
    reading = my_reading(session, ann1, pid, cid)
    assert reading.version == 2
    assert reading.answers == {labels["pneumonia"]: Answer(False, 80)}
    assert [(r.shape, [tuple(p) for p in r.points]) for r in reading.regions] == [
        ("rect", [(10.0, 20.0), (30.0, 40.0)])
    ]
    assert reading.active_seconds == 10.0
    # version 1 is still stored, untouched
    v1_values = session.exec(
        select(AnnotationValue).where(AnnotationValue.annotation_id == first.annotation_id)
    ).all()
    assert {(v.label_id, v.value, v.confidence) for v in v1_values} == {
        (labels["pneumonia"], True, 60),
        (labels["effusion"], False, 100),
    }
    stored = session.get(Annotation, second.annotation_id)
    assert (stored.total_seconds, stored.active_seconds, stored.idle_seconds) == (12.5, 10.0, 2.5)
    assert session.exec(
        select(AnnotationValue.seconds).where(AnnotationValue.annotation_id == second.annotation_id)
    ).all() == [4.0]
    assert delete_reading(session, ann1, pid, cid, token="v3") == 3
    assert my_reading(session, ann1, pid, cid) is None
    assert [(v, d) for v, d, _ in history(session, ann1, pid, cid)] == [
        (1, False),
        (2, False),
        (3, True),
    ]
    actions = session.exec(
        select(LedgerEntry.action)
        .where(LedgerEntry.record_type == "annotation")
        .order_by(LedgerEntry.seq)
    ).all()
    assert actions[-3:] == ["annotation.submit", "annotation.edit", "annotation.delete"]
    assert ledger.integrity(session).ok


def test_double_submit_with_one_token_stores_once(session, world):
    ann1, ann2 = world["anns"][:2]
    c0, c1 = world["cases"][:2]
    first = _submit(session, ann1, world, c0, "same-token", pneumonia=(True, 100))
    again = _submit(session, ann1, world, c0, "same-token", pneumonia=(True, 100))
    assert again.duplicate and (again.annotation_id, again.version) == (first.annotation_id, 1)
    # the token is spent: even different answers (a stale second click) add nothing
    late = _submit(session, ann1, world, c0, "same-token", pneumonia=(False, 20))
    assert late.duplicate
    assert session.exec(select(func.count()).select_from(Annotation)).one() == 1
    assert session.exec(select(func.count()).select_from(AnnotationValue)).one() == 1
    with pytest.raises(ConflictError):
        _submit(session, ann1, world, c1, "same-token", pneumonia=(True, 100))
    with pytest.raises(ConflictError):
        _submit(session, ann2, world, c0, "same-token", pneumonia=(True, 100))
    assert session.exec(select(func.count()).select_from(Annotation)).one() == 1
    assert ledger.integrity(session).ok


def test_others_readings_hidden_until_own_submission_and_setting(session, world):
    owner, (ann1, ann2, _) = world["owner"], world["anns"]
    pid, cid = world["project"], world["cases"][0]
    update_settings(session, owner, pid, required_annotators=2)
    _submit(session, ann2, world, cid, "o1", pneumonia=(True, 80))
    assert others_readings(session, ann1, pid, cid) == []  # setting off
    update_settings(session, owner, pid, show_others_after_submit=True)
    assert others_readings(session, ann1, pid, cid) == []  # not submitted yet
    _submit(session, ann1, world, cid, "o2", pneumonia=(False, 60))
    seen = others_readings(session, ann1, pid, cid)
    assert [(r.annotator, r.answers) for r in seen] == [
        ("ann2", {world["labels"]["pneumonia"]: Answer(True, 80)})
    ]


def test_reviewers_see_readings_but_annotating_owners_read_independently(session, world, make_user):
    owner, ann2 = world["owner"], world["anns"][1]
    pid, cid = world["project"], world["cases"][0]
    make_user("rev")
    from markit_core.accounts import get_user
    from markit_core.projects import grant_role

    grant_role(session, owner, pid, "rev", Role.REVIEWER)
    _submit(session, ann2, world, cid, "r1", pneumonia=(True, 80))
    assert [r.annotator for r in others_readings(session, get_user(session, "rev"), pid, cid)] == [
        "ann2"
    ]
    assert others_readings(session, owner, pid, cid) == []  # the owner may annotate: no peeking


def test_whole_second_timings_still_verify(session, world):
    """Ints given for float columns come back from the database as floats; the ledger
    digest taken at submit time must match what verification reads back."""
    ann1, pid, cid = world["anns"][0], world["project"], world["cases"][0]
    label = world["labels"]["pneumonia"]
    submit(
        session,
        ann1,
        pid,
        cid,
        answers={label: Answer(True, 60)},
        token="ints",
        timing=Timing(12, 12, 0, {label: 3}),
    )
    assert ledger.integrity(session).ok


# -- timing ---------------------------------------------------------------------------------


def test_timing_total_per_label_and_idle_exclusion():
    events = [
        Interaction(2.0, 1),
        Interaction(5.0, 2),
        Interaction(9.0),
        Interaction(50.0, 1),
        Interaction(52.0, 2),
    ]
    t = compute_timing(60.0, reversed(events), idle_threshold=30.0)
    assert t.total_seconds == 60.0
    assert t.idle_seconds == pytest.approx(11.0)  # the 9 s -> 50 s gap counts 41 - 30
    assert t.active_seconds == pytest.approx(49.0)
    assert t.label_seconds == {1: 50.0, 2: 52.0}  # the last change of each label
    quiet = compute_timing(100.0, [], idle_threshold=30.0)
    assert (quiet.idle_seconds, quiet.active_seconds) == (70.0, 30.0)
    busy = compute_timing(20.0, [Interaction(float(s)) for s in range(1, 20)], idle_threshold=5.0)
    assert busy.idle_seconds == 0.0 and busy.active_seconds == 20.0
    assert compute_timing(0.0, [], 30.0) == Timing(0.0, 0.0, 0.0, {})


@pytest.mark.parametrize(
    "submitted, events, threshold, message",
    [
        (-1.0, [], 30.0, "before the image was displayed"),
        (10.0, [Interaction(11.0)], 30.0, "outside"),
        (10.0, [Interaction(-0.5)], 30.0, "outside"),
        (10.0, [], 0.0, "idle threshold"),
    ],
)
def test_timing_refuses_impossible_input(submitted, events, threshold, message):
    with pytest.raises(ValidationError, match=message):
        compute_timing(submitted, events, threshold)


# -- ROI coordinates ------------------------------------------------------------------------

VIEWS = [
    ViewState(viewport=(600, 600)),  # fit (x1.5)
    ViewState(viewport=(300, 300)),  # fit (x0.75)
    ViewState(zoom=1.0, viewport=(300, 200)),  # 1:1, centred
    ViewState(zoom=2.0, pan_center=(100.0, 80.0), viewport=(300, 300)),  # 2x, top-left
    ViewState(zoom=3.5, pan_center=(390.0, 290.0), viewport=(350, 250)),  # pan clamped
    ViewState(zoom=8.0, pan_center=(200.0, 150.0), viewport=(512, 512)),
    ViewState(zoom=0.3, viewport=(300, 300)),  # zoomed out
]


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: f"zoom{v.zoom}-pan{v.pan_center}")
def test_canvas_image_conversion_is_exact_both_ways(view):
    mapping = view_mapping((COLS, ROWS), view)
    x0, y0, x1, y1 = mapping.crop
    # the corners of the canvas are the corners of the crop
    assert canvas_to_image(0, 0, mapping) == pytest.approx((x0, y0))
    assert canvas_to_image(*mapping.size, mapping) == pytest.approx((x1, y1))
    for ix, iy in [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1 - 0.25, y1 - 0.5), (13.7, 2.2)]:
        cx, cy = image_to_canvas(ix, iy, mapping)
        assert canvas_to_image(cx, cy, mapping) == pytest.approx((ix, iy))
    zoom = view.zoom if view.zoom is not None else fit_zoom((COLS, ROWS), view.viewport)
    assert mapping.scale_x == pytest.approx(zoom, rel=0.02)


def test_known_mapping_values():
    mapping = view_mapping(
        (1000, 800), ViewState(zoom=2.0, pan_center=(250.0, 200.0), viewport=(500, 500))
    )
    assert mapping.crop == (125, 75, 375, 325) and mapping.size == (500, 500)
    assert canvas_to_image(0, 0, mapping) == (125.0, 75.0)
    assert canvas_to_image(100, 50, mapping) == (175.0, 100.0)
    assert image_to_canvas(175.0, 100.0, mapping) == (100.0, 50.0)


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: f"zoom{v.zoom}-pan{v.pan_center}")
def test_regions_round_trip_through_the_canvas(view):
    mapping = view_mapping((COLS, ROWS), view)
    colors = label_colors([7, 8, 9])
    regions = [
        RegionInput(7, "rect", ((120.0, 100.0), (180.5, 160.25))),
        RegionInput(8, "polygon", ((150.0, 120.0), (170.0, 125.0), (160.0, 150.0))),
        RegionInput(9, "path", ((130.0, 110.0), (140.0, 118.0), (151.5, 119.0))),
        RegionInput(7, "rect", ((1.0, 2.0), (3.0, 4.0)), frame=1),
    ]
    drawing = regions_to_drawing(regions, mapping, colors=colors, frame=0)
    assert len(drawing["objects"]) == 3  # only frame 0 is drawn
    back = drawing_to_regions(drawing, mapping, colors=colors, default_label=None, frame=0)
    assert back.skipped == ()
    assert same_regions(back.regions, regions[:3], tolerance=1e-6)


def test_fabric_objects_as_the_browser_sends_them():
    """Shapes exactly as Fabric.js 7 serialises them after drawing (and after editing)."""
    drawn_rect = {
        "type": "Rect",
        "originX": "left",
        "originY": "top",
        "left": 100,
        "top": 99.8281,
        "width": 50,
        "height": 40,
        "stroke": "#123456",
        "strokeWidth": 2,
        "strokeUniform": True,
        "scaleX": 1,
        "scaleY": 1,
        "angle": 0,
    }
    assert object_canvas_points(drawn_rect) == (
        "rect",
        [(101.0, pytest.approx(100.8281)), (151.0, pytest.approx(140.8281))],
    )
    scaled = drawn_rect | {"scaleX": 2, "scaleY": 0.5}
    shape, pts = object_canvas_points(scaled)
    assert pts == [(101.0, pytest.approx(100.8281)), (201.0, pytest.approx(120.8281))]
    rotated = {
        "type": "Rect",
        "originX": "center",
        "originY": "center",
        "left": 50,
        "top": 50,
        "width": 20,
        "height": 10,
        "strokeWidth": 0,
        "angle": 90,
    }
    shape, pts = object_canvas_points(rotated)
    assert shape == "polygon"
    assert sorted((round(x, 6), round(y, 6)) for x, y in pts) == [
        (45, 40),
        (45, 60),
        (55, 40),
        (55, 60),
    ]
    polygon = {
        "type": "Polygon",
        "originX": "center",
        "originY": "center",
        "left": 330,
        "top": 184.8281,
        "width": 60,
        "height": 70,
        "strokeWidth": 2,
        "points": [
            {"x": 300, "y": 149.828125},
            {"x": 360, "y": 159.828125},
            {"x": 330, "y": 219.828125},
        ],
    }
    assert object_canvas_points(polygon)[1] == [
        (300, pytest.approx(149.828125)),
        (360, pytest.approx(159.828125)),
        (330, pytest.approx(219.828125)),
    ]
    moved = polygon | {"left": 340, "top": 194.8281}  # dragged 10 px right and down
    assert object_canvas_points(moved)[1][0] == (310, pytest.approx(159.828125))
    freehand = {
        "type": "Path",
        "originX": "center",
        "originY": "center",
        "left": 85,
        "top": 209.827,
        "strokeWidth": 2,
        "path": [
            ["M", 49.998, 199.826],
            ["Q", 50, 199.828, 53, 201.828],
            ["Q", 104, 213.828, 112, 219.828],
            ["L", 120.002, 209.826],
        ],
    }
    shape, pts = object_canvas_points(freehand)
    assert shape == "path" and len(pts) == 4
    assert pts[0] == (pytest.approx(49.998), pytest.approx(199.826, abs=0.01))
    assert pts[-1] == (pytest.approx(120.002), pytest.approx(209.826, abs=0.01))
    assert object_canvas_points({"type": "Circle", "left": 1, "top": 1}) is None


def test_drawing_to_regions_labels_by_colour_clamps_and_skips():
    mapping = view_mapping(
        (COLS, ROWS), ViewState(zoom=2.0, pan_center=(100.0, 100.0), viewport=(200, 200))
    )
    colors = label_colors([1, 2])
    rect = {
        "type": "Rect",
        "originX": "left",
        "originY": "top",
        "strokeWidth": 0,
        "left": 20,
        "top": 20,
        "width": 40,
        "height": 20,
        "stroke": colors[2].upper(),
    }
    overshoot = rect | {"left": -30, "top": -30, "width": 60, "height": 60, "stroke": "#000000"}
    outside = rect | {"left": -200, "top": -200, "width": 50, "height": 50}
    result = drawing_to_regions(
        {"objects": [rect, overshoot, outside, {"type": "Textbox"}]},
        mapping,
        colors=colors,
        default_label=1,
        frame=0,
    )
    x0, y0 = mapping.crop[:2]
    assert [(r.label_id, r.shape) for r in result.regions] == [(2, "rect"), (1, "rect")]
    assert result.regions[0].points == ((x0 + 10.0, y0 + 10.0), (x0 + 30.0, y0 + 20.0))
    assert result.regions[1].points[0] == (max(x0 - 15.0, 0.0), max(y0 - 15.0, 0.0))
    assert len(result.skipped) == 2
    assert "outside the image" in result.skipped[0] and "Textbox" in result.skipped[1]
    unknown = drawing_to_regions(
        {"objects": [overshoot]}, mapping, colors=colors, default_label=None
    )
    assert unknown.regions == () and "names no label" in unknown.skipped[0]
    assert drawing_to_regions(None, mapping, colors=colors, default_label=1).regions == ()


def test_label_colours_are_distinct_and_paint():
    colors = label_colors(range(40))
    assert len(set(colors.values())) == 40
    mapping = view_mapping((COLS, ROWS), ViewState(viewport=(COLS, ROWS)))
    base = Image.fromarray(np.zeros((ROWS, COLS), dtype=np.uint8))
    painted = np.asarray(
        draw_regions(base, [("#ff0000", RegionInput(1, "rect", ((10, 10), (50, 40))))], mapping)
    )
    assert tuple(painted[10, 30]) == (255, 0, 0) and tuple(painted[25, 30]) == (0, 0, 0)


# -- bad input ------------------------------------------------------------------------------


def _bad_cases(w):
    labels = w["labels"]
    ok = {labels["pneumonia"]: Answer(True, 80)}
    return [
        (
            "label from another project",
            {"answers": {w["other_label"]: Answer(True, 100)}},
            "is not a label of this project",
        ),
        (
            "grade outside the six",
            {"answers": {labels["pneumonia"]: Answer(True, 50)}},
            "confidence 50 is not one of 0, 20, 40, 60, 80, 100",
        ),
        (
            "region outside the image",
            {
                "answers": ok,
                "regions": [RegionInput(labels["effusion"], "rect", [(10, 10), (COLS + 5, 20)])],
            },
            "lies outside the 400x300 image",
        ),
        (
            "region with one point",
            {"answers": ok, "regions": [RegionInput(labels["effusion"], "path", [(10, 10)])]},
            "needs at least 2 points, got 1",
        ),
        (
            "polygon with two points",
            {
                "answers": ok,
                "regions": [RegionInput(labels["effusion"], "polygon", [(10, 10), (20, 20)])],
            },
            "needs at least 3 points",
        ),
        (
            "region label from another project",
            {
                "answers": ok,
                "regions": [RegionInput(w["other_label"], "rect", [(10, 10), (20, 20)])],
            },
            "is not a label of this project",
        ),
        ("nothing", {"answers": {}}, "nothing to submit"),
    ]


def test_bad_input_is_refused_and_nothing_is_stored(session, world):
    ann1 = world["anns"][0]
    pid, cid = world["project"], world["cases"][0]
    before = session.exec(select(func.count()).select_from(LedgerEntry)).one()
    for n, (_what, kwargs, message) in enumerate(_bad_cases(world)):
        with pytest.raises(ValidationError, match=message):
            submit(session, ann1, pid, cid, token=f"bad-{n}", **kwargs)
    with pytest.raises(
        ValidationError, match=f"case {world['other_cases'][0]} is not in this project"
    ):
        submit(
            session,
            ann1,
            pid,
            world["other_cases"][0],
            answers={world["labels"]["pneumonia"]: Answer(True, 100)},
            token="bad-case",
        )
    assert session.exec(select(func.count()).select_from(Annotation)).one() == 0
    assert session.exec(select(func.count()).select_from(Roi)).one() == 0
    assert session.exec(select(func.count()).select_from(LedgerEntry)).one() == before
    # a refused token is not spent: the same attempt succeeds once corrected
    ok = submit(
        session,
        ann1,
        pid,
        cid,
        answers={world["labels"]["pneumonia"]: Answer(True, 100)},
        token="bad-1",
    )
    assert ok.version == 1 and not ok.duplicate
    assert not math.isnan(session.get(Annotation, ok.annotation_id).total_seconds)
