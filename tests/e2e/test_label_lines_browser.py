"""The label editor in a real browser: labels typed fast are all stored.

Measured here before this test existed: typing into ``st.data_editor`` cells at
10 ms per key lost the first characters of a cell, or a whole group typed after Tab,
in most runs, with no rerun involved (the cell editor opens after the first key).
The text box below the table keeps every key; this test types three labels with
groups and a kind into it at that speed and checks that all of it is stored (the
AppTest in test_page_project_admin covers saving the table's pending edits with it).
"""

from __future__ import annotations

import pytest

from markit_core.accounts import create_user, get_user
from markit_core.config import Settings
from markit_core.db import open_database
from markit_core.db import session as new_session
from markit_core.labels import list_labels
from markit_core.projects import create_project
from tests.e2e.app_server import AppServer, app_env, require_browser
from tests.e2e.test_annotate_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, settle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_labels_typed_fast_as_lines_are_all_stored(tmp_path):
    require_browser()
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    engine = open_database(settings)
    with new_session(engine) as s:
        create_user(s, None, "admin", PASSWORD, is_admin=True)
        project = create_project(s, get_user(s, "admin"), "Fresh")  # first use: no labels
    server = AppServer(app_env(data), tmp_path / "streamlit.log")
    server.start()
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1400})
            page.set_default_timeout(60_000)
            page.goto(server.url, timeout=90_000)
            page.get_by_label("Username").fill("admin", timeout=60_000)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("link", name="Projects").click()
            box = page.locator(".st-key-label_lines textarea")
            box.click()
            page.keyboard.type("nodule, Lung", delay=10)
            for line in ("pleural effusion, Pleura", "tube tip, Devices, roi"):
                page.keyboard.press("Enter")
                page.keyboard.type(line, delay=10)
            page.locator(".st-key-label_lines_add button").click()
            settle(page)
            page.get_by_text("Label set saved").wait_for()
            page.screenshot(path=str(tmp_path / "labels_saved.png"))
            browser.close()
    finally:
        server.stop()
    with new_session(engine) as s:
        labels = list_labels(s, get_user(s, "admin"), project.id)
        assert [(lb.name, lb.group, lb.kind) for lb in labels] == [
            ("nodule", "Lung", "binary"),
            ("pleural effusion", "Pleura", "binary"),
            ("tube tip", "Devices", "roi"),
        ]
    engine.dispose()
