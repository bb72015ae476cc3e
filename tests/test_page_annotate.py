"""AppTest: the annotate page — queue, viewer controls, labels with grades, submit, others.

The drawing canvas is a custom component that does not render under AppTest;
the browser test (tests/e2e) covers drawing. Regions are exercised here through
the draft the page keeps in session state.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from sqlalchemy import func
from sqlmodel import select

from markit_core import ledger
from markit_core.annotation.submit import Answer, RegionInput, submit
from markit_core.imaging.ingest import ingest
from markit_core.labels import add_labels, list_labels
from markit_core.models import Annotation, AnnotationDraft, AnnotationValue, Case, Roi, Role, utcnow
from markit_core.projects import update_settings
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD

N_CASES = 3


def _png(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    ramp = np.linspace(0, 200, w, dtype=np.float32)[None, :] + np.linspace(0, 40, h)[:, None]
    pixels = np.clip(ramp + rng.normal(0, 8, (h, w)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def env(settings, session, monkeypatch, admin, make_user, make_project):
    point_app_at(settings, monkeypatch)
    owner = make_user("owner")
    ann1, ann2 = make_user("ann1"), make_user("ann2")
    project = make_project("Chest", owner, {"ann1": [Role.ANNOTATOR], "ann2": [Role.ANNOTATOR]})
    add_labels(
        session,
        owner,
        project.id,
        [("pneumonia", "Lung"), ("effusion", "Pleura"), ("atelectasis", "Lung")],
    )
    report = ingest(
        session, settings, owner, project.id, [(f"img{i}.png", _png(i)) for i in range(N_CASES)]
    )
    assert len(report.ingested) == N_CASES, report.summary()
    return {
        "owner": owner,
        "ann1": ann1,
        "ann2": ann2,
        "project": project.id,
        "labels": {lb.name: lb.id for lb in list_labels(session, owner, project.id)},
        "cases": sorted(report.case_ids),
    }


def _open(username: str, *, server_viewer: bool = False):
    """The annotate page; ``server_viewer``: switch to the server-rendered viewer (sliders)."""
    at = open_page(log_in(fresh_app(60), username, PASSWORD), "annotate")
    assert not at.exception, at.exception
    if server_viewer:
        at.sidebar.toggle(key="view_client").set_value(False).run()
        assert not at.exception, at.exception
    return at


def _progress(at) -> str:
    return at.progress[0].proto.text


def _caption(at, start: str) -> str:
    return next(c.value for c in at.caption if c.value.startswith(start))


def _answer(at, case_id: int, label_id: int, value: str | None, grade: int | None = None):
    at.segmented_control(key=f"lab_{label_id}").set_value(value).run()
    if grade is not None:
        at.select_slider(key=f"grade_{label_id}").set_value(grade).run()
    assert not at.exception, at.exception
    return at


def _count(session, model) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def _draft(at, env, user: str, case_id: int):
    drafts = at.session_state["annotate_drafts"]
    return next(d for (uid, _, cid), d in drafts.items() if (uid, cid) == (env[user].id, case_id))


def test_progress_and_previous_next(session, env):
    c = env["cases"]
    at = _open("ann1", server_viewer=True)
    assert "0 / 3 cases done" in _progress(at) and f"case 1 of 3 (#{c[0]}" in _progress(at)
    assert at.button(key="prev_case").disabled and not at.button(key="next_case").disabled
    assert _caption(at, "Window").endswith("320×240 px")
    at.button(key="next_case").click().run()
    assert f"case 2 of 3 (#{c[1]}" in _progress(at)
    at.button(key="next_case").click().run()
    assert f"case 3 of 3 (#{c[2]}" in _progress(at)
    at.button(key="prev_case").click().run()
    at.button(key="prev_case").click().run()
    assert f"case 1 of 3 (#{c[0]}" in _progress(at) and at.button(key="prev_case").disabled
    # "Next" skips cases already read: after case 2 is done, next from case 1 is case 3
    submit(
        session,
        env["ann1"],
        env["project"],
        c[1],
        answers={env["labels"]["pneumonia"]: Answer(False, 100)},
        token="done-2",
    )
    at.run()
    assert "1 / 3 cases done" in _progress(at)
    at.button(key="next_case").click().run()
    assert f"case 3 of 3 (#{c[2]}" in _progress(at)


def test_window_level_presets_invert_zoom_and_fit(env):
    at = _open("ann1", server_viewer=True)
    first = _caption(at, "Window")
    assert first.startswith("Window L ") and "zoom fit" in first
    center = at.sidebar.slider(key="view_center").value
    at.sidebar.slider(key="view_center").set_value(center + 25).run()
    assert _caption(at, "Window") != first
    assert f"L {center + 25:g} /" in _caption(at, "Window")
    assert at.sidebar.pills(key="view_preset").value is None  # a manual window is no preset
    at.sidebar.pills(key="view_preset").set_value("lung").run()
    lung = (at.sidebar.slider(key="view_center").value, at.sidebar.slider(key="view_width").value)
    at.sidebar.pills(key="view_preset").set_value("bone").run()
    bone = (at.sidebar.slider(key="view_center").value, at.sidebar.slider(key="view_width").value)
    assert lung != bone and lung[0] < bone[0]  # bone opens the bright end
    at.sidebar.toggle(key="view_invert").set_value(True).run()
    assert "inverted" in _caption(at, "Window")
    assert not [w for w in at.sidebar.slider if w.key == "view_pan_x"]
    at.sidebar.select_slider(key="view_zoom").set_value(2.0).run()
    zoomed = _caption(at, "Window")
    assert "zoom 3.50×" in zoomed  # 2 x fit (560 px / 320 px)
    at.sidebar.slider(key="view_pan_x").set_value(0).run()
    assert "pixels 0–" in _caption(at, "Window")
    at.sidebar.button(key="view_fit").click().run()
    assert "zoom fit" in _caption(at, "Window") and not at.exception
    # a new case opens with its own default view
    at.button(key="next_case").click().run()
    assert "inverted" not in _caption(at, "Window")
    assert at.sidebar.pills(key="view_preset").value == "header"


def test_labels_with_grades_submit_exactly_one_annotation(session, env):
    c, lab = env["cases"], env["labels"]
    at = _open("ann1")
    _answer(at, c[0], lab["pneumonia"], "present", 60)
    _answer(at, c[0], lab["effusion"], "absent", 80)
    assert any("2 of 3 answered" in m.value for m in at.markdown)
    assert _count(session, Annotation) == 0
    at.button(key="submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert f"Saved case {c[0]} as version 1" in at.success[0].value
    assert "1 / 3 cases done" in _progress(at)
    rows = session.exec(select(Annotation)).all()
    assert [(a.case_id, a.annotator_id, a.version) for a in rows] == [(c[0], env["ann1"].id, 1)]
    values = session.exec(select(AnnotationValue)).all()
    assert {(v.label_id, v.value, v.confidence) for v in values} == {
        (lab["pneumonia"], True, 60),
        (lab["effusion"], False, 80),
    }
    assert all(v.seconds is not None and v.seconds >= 0 for v in values)
    assert rows[0].total_seconds > 0 and rows[0].total_seconds >= rows[0].active_seconds
    assert ledger.integrity(session).ok
    # the edit of a done case is a new version
    _answer(at, c[0], lab["effusion"], "present", 40)
    at.button(key="submit").click().run()
    assert "as version 2" in at.success[0].value
    assert _count(session, Annotation) == 2


def test_double_click_and_resubmit_never_duplicate(session, env):
    c, lab = env["cases"], env["labels"]
    at = _open("ann1")
    _answer(at, c[0], lab["pneumonia"], "present", 100)
    at.button(key="submit").click().run()
    at.button(key="submit").click().run()  # the second click of a double click
    assert "No changes since version 1" in at.success[0].value
    assert _count(session, Annotation) == 1
    # An edit whose submit reached the database but whose reply was lost (the session
    # died): the draft still holds the same token, so submitting again stores nothing new.
    _answer(at, c[0], lab["atelectasis"], "absent", 20)
    draft = _draft(at, env, "ann1", c[0])
    submit(
        session,
        env["ann1"],
        env["project"],
        c[0],
        answers=draft.answered(),
        regions=draft.regions,
        token=draft.token,
    )
    assert _count(session, Annotation) == 2
    at.button(key="submit").click().run()
    assert "Already saved as version 2" in at.success[0].value
    assert _count(session, Annotation) == 2
    # "Submit & next" twice: the second lands on the next, empty case and stores nothing
    at.button(key="submit_next").click().run()
    assert f"#{c[1]}" in _progress(at)
    # the same widgets (keyed by label, not case) now show the next case's empty answers
    assert at.segmented_control(key=f"lab_{lab['atelectasis']}").value is None
    assert not [w for w in at.select_slider if w.key == f"grade_{lab['atelectasis']}"]
    at.button(key="submit_next").click().run()
    assert "Nothing to submit yet" in at.info[0].value
    assert _count(session, Annotation) == 2


def test_expired_session_keeps_the_draft_for_resubmit(session, env):
    c, lab = env["cases"], env["labels"]
    at = _open("ann1")
    at.button(key="next_case").click().run()
    _answer(at, c[1], lab["effusion"], "present", 60)
    at.session_state["last_activity"] = utcnow() - timedelta(hours=3)
    at.run()  # the idle timeout logs the user out
    assert at.text_input(key="login_username") is not None
    assert any("expired" in i.value for i in at.info)
    log_in(at, "ann1", PASSWORD)
    assert not at.exception, at.exception
    assert f"#{c[1]}" in _progress(at)  # back on the same case
    assert at.segmented_control(key=f"lab_{lab['effusion']}").value == "present"
    assert at.select_slider(key=f"grade_{lab['effusion']}").value == 60
    at.button(key="submit").click().run()
    assert f"Saved case {c[1]} as version 1" in at.success[0].value
    values = session.exec(select(AnnotationValue)).all()
    assert [(v.label_id, v.value, v.confidence) for v in values] == [(lab["effusion"], True, 60)]


def test_draft_survives_a_reload_and_is_gone_after_submit(session, env):
    c, lab = env["cases"], env["labels"]
    at = _open("ann1")
    _answer(at, c[0], lab["pneumonia"], "present", 60)
    _answer(at, c[0], lab["effusion"], "absent")
    draft = _draft(at, env, "ann1", c[0])
    draft.regions.append(RegionInput(lab["effusion"], "rect", ((10.0, 20.0), (50.0, 60.0))))
    draft.canvas_rev += 1  # as if drawn on the canvas
    at.run()
    assert _count(session, AnnotationDraft) == 1 and _count(session, Annotation) == 0
    saved_at = session.exec(select(AnnotationDraft.updated_at)).one()
    at.run()  # a rerun that changes nothing writes nothing
    session.expire_all()
    assert session.exec(select(AnnotationDraft.updated_at)).one() == saved_at
    # a reload (a new browser session): the same user and case show the unsaved work
    again = _open("ann1")
    assert f"#{c[0]}" in _progress(again)
    assert again.segmented_control(key=f"lab_{lab['pneumonia']}").value == "present"
    assert again.select_slider(key=f"grade_{lab['pneumonia']}").value == 60
    assert again.segmented_control(key=f"lab_{lab['effusion']}").value == "absent"
    assert any("effusion</b> — rect, 2 points, x 10–50, y 20–60" in m.value for m in again.markdown)
    assert "Draft saved · not yet submitted" in _caption(again, "Draft saved")
    assert _draft(again, env, "ann1", c[0]).token == draft.token  # the same attempt
    # another annotator does not see it
    other = _open("ann2")
    assert other.segmented_control(key=f"lab_{lab['pneumonia']}").value is None
    again.button(key="submit").click().run()
    assert f"Saved case {c[0]} as version 1" in again.success[0].value
    assert _count(session, AnnotationDraft) == 0 and _count(session, Annotation) == 1
    # after the submit, a new session starts from the stored reading, not from a draft
    third = _open("ann1")
    assert f"#{c[1]}" in _progress(third)  # the first case not yet annotated
    third.button(key="prev_case").click().run()
    assert f"#{c[0]}" in _progress(third)
    assert third.segmented_control(key=f"lab_{lab['pneumonia']}").value == "present"
    assert any(cap.value.startswith("Saved as version 1") for cap in third.caption)
    assert _count(session, AnnotationDraft) == 0


def test_keyboard_bar_and_rest_absent(session, env):
    lab = env["labels"]
    at = _open("ann1")
    # display order is grouped: Lung (pneumonia, atelectasis), then Pleura (effusion)
    assert any("keys act on *pneumonia*" in m.value for m in at.markdown)
    at.button(key="kb_down").click().run()
    assert any("keys act on *atelectasis*" in m.value for m in at.markdown)
    at.button(key="kb_g3").click().run()  # 60 %
    at.button(key="kb_present").click().run()  # present, cursor moves on
    assert any("keys act on *effusion*" in m.value for m in at.markdown)
    assert at.segmented_control(key=f"lab_{lab['atelectasis']}").value == "present"
    assert at.select_slider(key=f"grade_{lab['atelectasis']}").value == 60
    at.button(key="kb_rest").click().run()
    at.button(key="submit").click().run()
    values = {v.label_id: (v.value, v.confidence) for v in session.exec(select(AnnotationValue))}
    assert values == {
        lab["atelectasis"]: (True, 60),
        lab["pneumonia"]: (False, 100),
        lab["effusion"]: (False, 100),
    }


def test_regions_listed_deleted_and_submitted_in_image_pixels(session, env):
    c, lab = env["cases"], env["labels"]
    at = _open("ann1")
    draft = _draft(at, env, "ann1", c[0])
    draft.regions += [
        RegionInput(lab["effusion"], "rect", ((10.0, 20.0), (50.5, 60.0))),
        RegionInput(lab["pneumonia"], "polygon", ((5.0, 5.0), (30.0, 5.0), (20.0, 25.0))),
    ]
    draft.canvas_rev += 1  # a change made outside the canvas
    at.run()
    assert any("effusion</b> — rect, 2 points, x 10–50, y 20–60" in m.value for m in at.markdown)
    at.button(key="roi_del_0").click().run()
    assert not any("effusion</b> — rect" in m.value for m in at.markdown)
    at.button(key="submit").click().run()
    assert not at.error, [e.value for e in at.error]
    rois = session.exec(select(Roi)).all()
    assert [(r.label_id, r.shape, r.points) for r in rois] == [
        (lab["pneumonia"], "polygon", [[5.0, 5.0], [30.0, 5.0], [20.0, 25.0]])
    ]


def test_others_shown_only_after_own_submit_and_when_allowed(session, env):
    c, lab = env["cases"], env["labels"]
    owner, pid = env["owner"], env["project"]
    update_settings(session, owner, pid, required_annotators=2)
    submit(
        session,
        env["ann2"],
        pid,
        c[0],
        answers={lab["pneumonia"]: Answer(True, 80)},
        regions=[RegionInput(lab["pneumonia"], "rect", [(30, 30), (90, 80)])],
        token="ann2-1",
    )
    at = _open("ann1")
    assert not [e for e in at.expander if "Other annotators" in e.label]
    update_settings(session, owner, pid, show_others_after_submit=True)
    at.run()
    assert not [e for e in at.expander if "Other annotators" in e.label]
    assert any("appear here after you submit" in cap.value for cap in at.caption)
    _answer(at, c[0], lab["pneumonia"], "absent", 100)
    at.button(key="submit").click().run()
    others = [e for e in at.expander if "Other annotators" in e.label]
    assert others and others[0].label == "Other annotators (1)"
    table = others[0].dataframe[0].value
    assert list(table.columns) == ["label", "ann2"]
    assert table.set_index("label").loc["pneumonia", "ann2"] == "present 80 %"
    update_settings(session, owner, pid, show_others_after_submit=False)
    at.run()
    assert not [e for e in at.expander if "Other annotators" in e.label]


def test_project_without_cases(session, env, make_user, make_project):
    make_user("loner")
    make_project("Empty", env["owner"], {"loner": [Role.ANNOTATOR]})
    at = _open("loner")
    assert "No cases are waiting" in at.info[0].value
    assert _count(session, Case) == N_CASES


def test_without_the_canvas_the_image_still_shows(env, monkeypatch):
    monkeypatch.setattr("ui.viewer.canvas_available", lambda: False)
    at = _open("ann1", server_viewer=True)
    assert len(at.image) == 1
    assert any("Region drawing needs the browser" in c.value for c in at.caption)
    _answer(at, env["cases"][0], env["labels"]["pneumonia"], "present", 20)
    at.button(key="submit").click().run()
    assert "as version 1" in at.success[0].value


def test_colour_multiframe_image_has_a_frame_slider(session, settings, env, make_project):
    cine = make_project("Cine", env["owner"], {"ann1": [Role.ANNOTATOR]})
    add_labels(session, env["owner"], cine.id, [("finding", "")])
    label = list_labels(session, env["owner"], cine.id)[0].id
    report = ingest(
        session,
        settings,
        env["owner"],
        cine.id,
        [("cine.dcm", Path(get_testdata_file("SC_rgb_rle_2frame.dcm")))],
    )
    (case_id,) = report.case_ids
    at = _open("ann1", server_viewer=True)
    at.sidebar.selectbox(key="project_picker").select(cine.id).run()
    assert f"(#{case_id}," in _progress(at)
    assert any("Colour image" in c.value for c in at.sidebar.caption)
    assert not [w for w in at.sidebar.slider if w.key == "view_center"]
    assert "frame 1 of 2" in _caption(at, "Window")
    at.sidebar.slider(key="view_frame").set_value(2).run()
    assert "frame 2 of 2" in _caption(at, "Window")
    draft = _draft(at, env, "ann1", case_id)
    assert draft.project_id == cine.id
    draft.regions.append(RegionInput(label, "rect", ((1.0, 1.0), (20.0, 30.0)), frame=1))
    draft.canvas_rev += 1
    at.run()
    assert any("rect, 2 points, x 1–20, y 1–30, frame 2" in m.value for m in at.markdown)
    at.button(key="submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [(r.frame, r.points) for r in session.exec(select(Roi))] == [
        (1, [[1.0, 1.0], [20.0, 30.0]])
    ]


def test_no_grade_before_an_answer_a_second_click_keeps_it_and_clear_clears(env):
    case_id, pneumonia = env["cases"][0], env["labels"]["pneumonia"]
    grade_key = f"grade_{pneumonia}"
    at = _open("ann1")
    assert not [w for w in at.select_slider if w.key == grade_key]  # no 100 % suggested
    assert any("a confidence grade appears after the answer" in m.value for m in at.markdown)
    assert any(c.value.startswith("**Keyboard**") for c in at.caption)  # help is visible
    _answer(at, case_id, pneumonia, "present")
    assert at.select_slider(key=grade_key).value == 100
    assert at.segmented_control(key=f"lab_{pneumonia}").proto.required
    # a second click on "Present" keeps it in the browser (required); Clear clears
    at.select_slider(key=grade_key).set_value(40).run()
    at.button(key=f"clr_{pneumonia}").click().run()
    assert at.segmented_control(key=f"lab_{pneumonia}").value is None
    assert not [w for w in at.select_slider if w.key == grade_key]
    assert _draft(at, env, "ann1", case_id).value(pneumonia) is None


def test_drawing_tool_opens_on_the_view_the_browser_reported(env):
    case_id = env["cases"][0]
    at = _open("ann1")
    assert at.segmented_control(key="roi_mode").value == "view"
    assert not at.image and not [c for c in at.caption if c.value.startswith("Window")]
    at.session_state["reader_views"] = {
        (env["ann1"].id, case_id): {
            "case": case_id,
            "center": 100.0,
            "width": 50.0,
            "voi": False,
            "invert": True,
            "zoom": 5.0,
            "pan": [100.0, 80.0],
            "frame": 0,
        }
    }
    at.segmented_control(key="roi_mode").set_value("rect").run()
    assert not at.exception, at.exception
    # 800-px viewport at 5x: a 160x160 crop centred on (100, 80), clamped into the image
    assert _caption(at, "Window") == (
        "Window L 100 / W 50 · zoom 5.00× (pixels 20–180, 0–160) · inverted · 320×240 px"
    )


def test_finished_queue_then_jump_to_an_earlier_case_and_edit_it(session, env):
    c, lab = env["cases"], env["labels"]
    for i, cid in enumerate(c):
        submit(
            session,
            env["ann1"],
            env["project"],
            cid,
            answers={lab["pneumonia"]: Answer(False, 100)},
            token=f"all-{i}",
        )
    at = _open("ann1")
    assert "3 / 3 cases done" in _progress(at)
    assert any("Every case in your queue is annotated" in m.value for m in at.success)
    # Next is not stuck once everything is done: it walks the whole list
    assert not at.button(key="next_case").disabled
    at.button(key="next_case").click().run()
    assert f"case 2 of 3 (#{c[1]}" in _progress(at)
    jump = at.selectbox(key="case_jump")
    assert jump.options == [
        f"{i}. #{cid} {_name(session, cid)} — ● submitted" for i, cid in enumerate(c, start=1)
    ]
    jump.select(c[0]).run()
    assert f"case 1 of 3 (#{c[0]}" in _progress(at)
    _answer(at, c[0], lab["pneumonia"], "present", 60)
    at.button(key="submit").click().run()
    assert "as version 2" in at.success[0].value
    assert not at.exception, at.exception


def test_a_long_case_list_shows_a_window_and_jumps_by_position(session, env, monkeypatch):
    from markit_core.annotation import navigation

    monkeypatch.setattr(navigation, "WINDOW", 2)  # as if the project had 10^5 cases
    c = env["cases"]
    at = _open("ann1")
    jump = at.selectbox(key="case_jump")
    assert [o.split(" — ")[0] for o in jump.options] == [
        f"{i}. #{cid} {_name(session, cid)}" for i, cid in enumerate(c[:2], start=1)
    ]
    assert any("2 of 3 shown" in m.value for m in at.caption)
    at.number_input(key="case_position").set_value(3).run()
    assert f"case 3 of 3 (#{c[2]}" in _progress(at)
    assert [o.split(".")[0] for o in at.selectbox(key="case_jump").options] == ["2", "3"]
    assert not at.exception, at.exception


def _name(session, case_id: int) -> str:
    case = session.get(Case, case_id)
    return (case.original_name or "").rsplit("/", 1)[-1]


def test_blinded_reading_hides_the_report(session, env):
    from markit_core.reading_options import set_show_report

    at = _open("ann1")
    assert any("Radiology report" in m.value for m in at.markdown)
    set_show_report(session, env["owner"], env["project"], False)
    at.run()
    assert not any("Radiology report" in m.value for m in at.markdown)
    assert any(c.value.startswith("Blinded reading") for c in at.caption)


def test_login_builds_the_case_the_annotate_page_opens_on(session, env):
    """ui.reading.prepare_first_case (called by the login page) builds that case's pixels."""
    from streamlit.testing.v1 import AppTest

    from markit_core.imaging.payload_ahead import default_payload_cache, payload_if_ready

    def after_login() -> None:
        from markit_core.accounts import get_user
        from ui.reading import prepare_first_case
        from ui.session import db

        with db() as s:
            prepare_first_case(s, get_user(s, "ann1"))

    first, second = (session.get(Case, c).stored_path for c in env["cases"][:2])
    default_payload_cache().clear()
    fresh_app()  # Streamlit's caches cleared: the engine of an earlier test's database
    AppTest.from_function(after_login, default_timeout=60).run()
    default_payload_cache().wait_idle()
    assert payload_if_ready(first, env["cases"][0]) is not None
    assert payload_if_ready(second, env["cases"][1]) is None  # only the case shown first


def _reader_data(at) -> dict:
    import json

    readers = [e for e in at.get("bidi_component") if e.proto.component_name == "markit.reader"]
    assert len(readers) == 1, readers
    return json.loads(readers[0].proto.json)


def test_first_run_after_login_draws_the_image_then_the_rest(session, env):
    """The first annotate run of a browser session draws the reader alone (no header, tool
    bar or label panel, nothing built ahead) and asks it to report its first paint; the
    rerun that report causes draws everything and builds the next case."""
    from markit_core.imaging.payload_ahead import default_payload_cache, payload_if_ready
    from ui.reading import FOLLOW_TEXT

    pneumonia = env["labels"]["pneumonia"]
    second = env["cases"][1]
    second_path = session.get(Case, second).stored_path
    default_payload_cache().clear()
    at = log_in(fresh_app(60), "ann1", PASSWORD)
    assert not at.exception, at.exception
    default_payload_cache().wait_idle()
    assert payload_if_ready(second_path, second) is None
    data = _reader_data(at)
    assert data["report_paint"] is True and data["case"] == env["cases"][0]
    assert not [w for w in at.segmented_control if w.key in (f"lab_{pneumonia}", "roi_mode")]
    assert not [b for b in at.button if b.key in ("submit", "prev_case", "next_case")]
    assert not at.progress
    assert [c.value for c in at.caption if c.value == FOLLOW_TEXT]
    at.run()  # what the browser's "painted" trigger does
    assert not at.exception, at.exception
    assert _reader_data(at)["report_paint"] is False
    assert at.segmented_control(key=f"lab_{pneumonia}").value is None
    assert at.segmented_control(key="roi_mode").value == "view"
    assert at.button(key="submit").key == "submit"
    assert "case 1 of 3" in _progress(at)
    assert not [c for c in at.caption if c.value == FOLLOW_TEXT]
    default_payload_cache().wait_idle()
    assert payload_if_ready(second_path, second) is not None
    # a later visit in the same session (or any other rerun) never leaves them out again
    at = open_page(open_page(at, "account"), "annotate")
    assert _reader_data(at)["report_paint"] is False
    assert at.segmented_control(key=f"lab_{pneumonia}").value is None


def test_server_viewer_draws_everything_in_the_first_run(env):
    pneumonia = env["labels"]["pneumonia"]
    at = fresh_app(60)
    at.session_state["view_client"] = False
    log_in(at, "ann1", PASSWORD)
    assert not at.exception, at.exception
    assert not [e for e in at.get("bidi_component") if e.proto.component_name == "markit.reader"]
    assert at.segmented_control(key=f"lab_{pneumonia}").value is None
    assert at.button(key="submit").key == "submit"
    assert at.button(key="next_case").key == "next_case" and at.progress
