"""Browser end-to-end: the app makes no request to any host but its own server (issue 9).

Starts ``streamlit run app.py`` on a demo database (seeded with ``python -m
markit_core demo`` in the test's tmp dir) whose project also has a label
named like a markdown image pointing at an outside URL. Headless Chromium
logs in as the demo administrator and opens every page; every request the
browser makes (documents, scripts, fonts, the favicon, images, websockets) is
recorded, and any host other than 127.0.0.1 / localhost fails the test.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlmodel import select

from markit_core.accounts import get_user
from markit_core.config import Settings
from markit_core.db import open_database
from markit_core.db import session as new_session
from markit_core.demo.seed import DEMO_PROJECT
from markit_core.labels import add_labels
from markit_core.models import Project
from tests.e2e.app_server import AppServer, app_env, require_browser, seed_demo
from tests.e2e.test_annotate_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, settle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

OWN_HOSTS = {"127.0.0.1", "localhost"}
HOSTILE_LABEL = "![x](http://example.invalid/a.png)"
# link text -> the page's URL path (Streamlit derives it from the file name; the first
# page is the default one, at the root)
PAGES = {
    "Annotate": "",
    "Review": "review_heatmap",
    "Upload": "upload",
    "AI assist": "ai_assist",
    "Rewards": "rewards",
    "Projects": "project_admin",
    "My account": "account",
    "Site admin": "site_admin",
}


@pytest.fixture
def server(tmp_path):
    """A demo data dir with a hostile label, and a Streamlit server on it; yields the URL."""
    require_browser()
    data = tmp_path / "data"
    env = app_env(data)
    seed_demo(env)
    engine = open_database(Settings(data_dir=data))
    with new_session(engine) as s:
        project = s.exec(select(Project).where(Project.name == DEMO_PROJECT)).one()
        add_labels(s, get_user(s, "admin"), project.id or 0, [(HOSTILE_LABEL, "<img src=x>")])
    engine.dispose()
    app = AppServer(env, tmp_path / "streamlit.log")
    app.start()
    try:
        yield app.url
    finally:
        app.stop()


def test_every_page_requests_only_its_own_server(server, tmp_path):
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        page.on("request", lambda r: requests.append(r.url))
        page.on("websocket", lambda ws: requests.append(ws.url))
        try:
            page.goto(server, timeout=60_000)
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("link", name="Site admin").wait_for()
            settle(page)
            for i, (name, path) in enumerate(PAGES.items()):
                page.get_by_role("link", name=name, exact=True).click()
                page.wait_for_function(
                    "p => location.pathname.replace(/\\/$/, '').endsWith(p)", arg=path
                )
                # the page has drawn its content (not every page has a heading)
                page.locator(
                    "[data-testid='stMain'] [data-testid='stMarkdownContainer']"
                ).first.wait_for()
                settle(page)
                page.wait_for_timeout(1000)  # late images, fonts and icons
                page.screenshot(path=shots / f"{i}-{name.replace(' ', '_')}.png")
            labels = page.get_by_text("Site administration")
            assert labels.count() >= 1
        except Exception:
            page.screenshot(path=shots / "failure.png")  # what the page showed instead
            raise
        finally:
            browser.close()
    assert requests, "the browser recorded no request at all"
    schemes = {urlsplit(u).scheme for u in requests}
    outside = sorted(
        {u for u in requests if urlsplit(u).scheme not in ("data", "blob")}
        - {u for u in requests if urlsplit(u).hostname in OWN_HOSTS}
    )
    assert outside == [], f"requests to other hosts: {outside[:20]}"
    assert schemes <= {"http", "ws", "data", "blob"}, schemes
    assert not any("example.invalid" in u for u in requests)
