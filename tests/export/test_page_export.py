"""AppTest: the export section of the projects page — key, export with bundle, download."""

from __future__ import annotations

from pathlib import Path

from markit_core.audit.keys import active_key
from markit_core.audit.verify import verify_bundle
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at


def test_owner_creates_key_and_exports_a_bundle(session, settings, monkeypatch):
    from markit_core.demo.seed import seed_demo

    point_app_at(settings, monkeypatch)
    seed_demo(session, settings)
    at = open_page(log_in(fresh_app(), "pi", settings.demo_password), "project_admin")
    assert not at.exception, at.exception
    at.text_input(key="key_passphrase").input("page passphrase 1")
    at.text_input(key="key_passphrase_again").input("page passphrase 1")
    at.button(key="key_create").click().run()
    assert not at.exception, at.exception
    assert any("Signing key" in s.value for s in at.success)
    at.run()

    at.text_input(key="bundle_passphrase").input("wrong passphrase")
    at.button(key="bundle_export").click().run()
    assert any("wrong passphrase" in e.value for e in at.error)

    at.text_input(key="bundle_passphrase").input("page passphrase 1")
    at.button(key="bundle_export").click().run()
    assert not at.exception, at.exception
    assert any("tree head of size" in s.value for s in at.success)
    keys = [b.key for b in at.get("download_button")]
    assert "bundle_download" in keys and "public_key_download" in keys
    folder = next((Path(settings.data_dir) / "exports").glob("project*[0-9]"))
    session.expire_all()
    project_id = int(folder.name.split("-")[0].removeprefix("project"))
    report = verify_bundle(folder, active_key(session, project_id).public_key)
    assert report.ok, report.problems
    assert folder.with_suffix(".zip").exists()
