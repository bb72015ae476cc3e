"""Browser end-to-end: two app processes over one PostgreSQL act as one app (issue 13).

One real PostgreSQL (``tests.servers.postgres_server``) holds the demo, seeded with
``python -m markit_core demo``; two ``streamlit run app.py`` processes on different
ports share it and one data folder, as replicas behind a load balancer do. In
headless Chromium:

- ann2 on process 2 has the case ann1 is about to read open, with the other
  annotators' readings shown; ann1 submits it on process 1; ann2's next rerun
  (no reload) shows ann1's reading among them, and the database holds it;
- ann1 answers a label of the next case on process 1 without submitting; ann1
  logging in on process 2 (another browser context) lands on that case, sees the
  submission from process 1 counted in the progress and the draft answer there;
- process 2 is stopped and started again on the same port; reloading ann2's page
  keeps the login (the cookie's token is the same, the session is in the database).
"""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from markit_core.accounts import get_user
from markit_core.annotation.drafts import load_draft
from markit_core.annotation.submit import my_reading
from markit_core.config import Settings
from markit_core.db import open_database
from markit_core.db import session as new_session
from markit_core.demo.seed import DEMO_PROJECT
from markit_core.models import Annotation, LoginSession, Project, User
from markit_core.sessions import COOKIE_NAME, token_hash
from tests.e2e.app_server import AppServer, app_env, require_browser, seed_demo
from tests.e2e.test_annotate_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, _state, settle
from tests.servers import postgres_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]  # seeding, 2 servers, a restart


@pytest.fixture
def two_apps(tmp_path):
    """The demo in a fresh PostgreSQL, and two app processes on it; yields (p1, p2, settings)."""
    require_browser()
    with postgres_server() as url:
        data = tmp_path / "data"
        env = app_env(data, url)
        seed_demo(env)
        apps = [AppServer(env, tmp_path / f"streamlit-{i}.log") for i in (1, 2)]
        try:
            for app in apps:
                app.start()
            yield apps[0], apps[1], Settings(data_dir=data, database_url=url)
        finally:
            for app in apps:
                app.stop()


def _log_in(page, url: str, username: str) -> None:
    page.goto(url, timeout=60_000)
    page.get_by_label("Username").fill(username, timeout=60_000)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Annotate").click()
    page.get_by_test_id("stProgress").wait_for(timeout=60_000)
    settle(page)


def _readers(settings: Settings, case_id: int) -> set[str]:
    """Usernames with a reading of the case, from the database."""
    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            rows = s.exec(
                select(User.username)
                .join(Annotation, Annotation.annotator_id == User.id)  # type: ignore[arg-type]
                .where(Annotation.case_id == case_id)
            ).all()
            return set(rows)
    finally:
        engine.dispose()


def _stored(settings: Settings, case_id: int, pneumonia: int) -> tuple[bool | None, bool | None]:
    """(ann1's submitted pneumonia answer, ann1's draft pneumonia answer) for the case."""
    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            ann1 = get_user(s, "ann1")
            reading = my_reading(s, ann1, _project_id(s), case_id)
            draft = load_draft(s, ann1, _project_id(s), case_id)
            submitted = reading.answers[pneumonia].value if reading else None
            answer = draft.answers.get(pneumonia) if draft else None
            drafted = answer.value if answer else None
            return submitted, drafted
    finally:
        engine.dispose()


def _project_id(s) -> int:
    return s.exec(select(Project.id).where(Project.name == DEMO_PROJECT)).one()


def _session_user(settings: Settings, token: str) -> tuple[str, bool]:
    """(username, revoked) of the login session a cookie token carries."""
    engine = open_database(settings)
    try:
        with new_session(engine) as s:
            row = s.exec(
                select(LoginSession).where(LoginSession.token_hash == token_hash(token))
            ).one()
            return s.get(User, row.user_id).username, row.revoked_at is not None
    finally:
        engine.dispose()


def _cookie(context) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == COOKIE_NAME)


def _wait_for_draft(settings: Settings, case_id: int, pneumonia: int, page) -> None:
    """The draft answer reaches the database shortly after the click (its rerun writes it)."""
    for _ in range(60):
        if _stored(settings, case_id, pneumonia)[1] is False:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"ann1's draft of case {case_id} never reached the database")


def _open_case(page, case_id: int) -> None:
    """Jump to a case with the annotate page's case list."""
    page.locator(".st-key-case_list button").first.click()
    page.locator(".st-key-case_jump").click()
    page.get_by_role("option", name=re.compile(rf"^\d+\. #{case_id} ")).click()
    expect_progress(page, f"(#{case_id},")


def expect_progress(page, text: str) -> None:
    from playwright.sync_api import expect

    # during a rerun the old header can still be on the page beside the new one
    expect(page.get_by_test_id("stProgress").filter(has_text=text).first).to_be_visible()
    settle(page)


def test_two_processes_share_readings_drafts_queue_and_sessions(two_apps, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    first, second, settings = two_apps
    before = _state(settings)
    case_id, next_id = before["case"], before["next"]
    pneumonia = before["labels"]["pneumonia"]
    assert next_id is not None and next_id != case_id, "the demo left ann1 only one case"
    others_before = _readers(settings, case_id) - {"ann2"}
    assert "ann2" in _readers(settings, case_id) and "ann1" not in others_before
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        expect.set_options(timeout=30_000)
        # cookies are per host, not per port: one browser context per login
        pages = {}
        for name in ("ann1@1", "ann2@2", "ann1@2"):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            pages[name] = context.new_page()
            pages[name].set_default_timeout(30_000)
        a1, b2, a2 = pages["ann1@1"], pages["ann2@2"], pages["ann1@2"]
        try:
            # ann2 (process 2) has the case open, with the other readers' answers
            _log_in(b2, second.url, "ann2")
            _open_case(b2, case_id)
            others = b2.get_by_test_id("stExpander").filter(has_text="Other annotators")
            expect(others).to_contain_text(f"Other annotators ({len(others_before)})")
            expect(others).not_to_contain_text("ann1")
            b2.screenshot(path=shots / "1-ann2-before.png")

            # ann1 (process 1) reads and submits it
            _log_in(a1, first.url, "ann1")
            expect_progress(a1, f"{before['done']} / {before['total']} cases done")
            expect_progress(a1, f"(#{case_id},")
            a1.locator(f".st-key-lab_{pneumonia}").get_by_role("radio", name="Present").click()
            settle(a1)
            a1.locator(".st-key-submit").get_by_role("button", name="Submit").first.click()
            expect(a1.get_by_text(f"Saved case {case_id} as version 1")).to_be_visible()
            settle(a1)
            assert _stored(settings, case_id, pneumonia)[0] is True

            # ann2's next rerun on process 2 (a toggle, no reload) shows ann1's reading
            b2.get_by_text("Show their regions on the image").click()
            expect(others).to_contain_text(f"Other annotators ({len(others_before) + 1})")
            expect(others).to_contain_text("ann1")
            settle(b2)
            b2.screenshot(path=shots / "2-ann2-after.png")
            assert _readers(settings, case_id) == others_before | {"ann1", "ann2"}

            # a draft on process 1: the next case, one answer, not submitted
            a1.locator(".st-key-next_case").get_by_role("button", name="Next").first.click()
            expect_progress(a1, f"(#{next_id},")
            settle(a1)  # the label widgets are keyed by label: wait for the next case's
            a1.locator(f".st-key-lab_{pneumonia}").get_by_role("radio", name="Absent").click()
            settle(a1)
            _wait_for_draft(settings, next_id, pneumonia, a1)
            a1.screenshot(path=shots / "3-ann1-draft.png")

            # ann1 on process 2: the queue counts the submission, the draft is there
            _log_in(a2, second.url, "ann1")
            expect_progress(a2, f"{before['done'] + 1} / {before['total']} cases done")
            expect_progress(a2, f"(#{next_id},")
            answer = a2.locator(f".st-key-lab_{pneumonia}")
            expect(answer.get_by_role("radio", name="Absent")).to_be_checked()
            expect(answer.get_by_role("radio", name="Present")).not_to_be_checked()
            expect(a2.get_by_text("Labels ·")).to_contain_text("1 of ")
            a2.screenshot(path=shots / "4-ann1-on-2.png")
            assert _stored(settings, next_id, pneumonia) == (None, False)

            # process 2 restarts on the same port: ann2's reload stays logged in
            token = _cookie(b2.context)
            assert _session_user(settings, token) == ("ann2", False)
            second.stop()
            second.start()
            b2.reload(timeout=60_000)
            sidebar = b2.get_by_test_id("stSidebar")
            expect(sidebar).to_contain_text("Signed in as Annotator 2", timeout=60_000)
            b2.get_by_test_id("stProgress").wait_for(timeout=60_000)  # the annotate page, drawn
            settle(b2)
            assert b2.get_by_label("Username").count() == 0
            assert b2.get_by_role("button", name="Log in").count() == 0
            assert _cookie(b2.context) == token
            assert _session_user(settings, token) == ("ann2", False)
            b2.screenshot(path=shots / "5-ann2-after-restart.png")
        except Exception:
            for name, page in pages.items():  # what each page showed instead
                stem = f"failure-{name.replace('@', '-on-')}"
                page.screenshot(path=shots / f"{stem}.png")
                (shots / f"{stem}.html").write_text(page.content())
            raise
        finally:
            browser.close()
