"""Backup and restore on SQLite: consistent while writes go on, verified after restore."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from markit_core.cli import main
from markit_core.config import Settings
from markit_core.db import make_engine
from markit_core.db import session as new_session
from markit_core.errors import PermissionDenied, ValidationError
from markit_core.imaging.store import ImageStore
from markit_core.operations import backup, check_restored, restore
from tests.backup_helpers import Writer, case_files, count_cases, ingest_pngs, writes_going_on

# restores into SQLite targets; tests/integration/test_backup_postgres.py covers PostgreSQL
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def populated(session, settings, imaging):
    ingest_pngs(session, settings, imaging.dataowner, imaging.project_id, range(4))
    return imaging


def _restore_into(target: Settings, source: Path, force: bool = False) -> dict:
    target.ensure_dirs()
    engine = make_engine(target.resolved_database_url)
    try:
        return restore(engine, target.store_dir, source, force=force)
    finally:
        engine.dispose()


def test_backup_while_writing_restores_a_verified_snapshot(
    engine, settings, session, admin, populated, tmp_path
):
    writer = Writer(engine, settings, admin, populated.dataowner, populated.project_id)
    with writes_going_on(writer):
        manifest = backup(engine, settings, admin, tmp_path / "bk")
        assert writer.done >= 1  # the writer had committed before, and goes on
    assert (tmp_path / "bk" / "manifest.json").is_file()
    assert manifest["backend"] == "sqlite"

    target = Settings(data_dir=tmp_path / "restored")
    restored = _restore_into(target, tmp_path / "bk")
    r_engine = make_engine(target.resolved_database_url)
    try:
        with new_session(r_engine) as s:
            check = check_restored(s, admin_in(s), restored)
            assert check.ok, (check.verify.problem, check.expected, check.found)
            assert check.found == manifest["ledger"]
            # every case of the snapshot has its image, and only those images were copied
            paths = case_files(s)
            store = ImageStore(target.store_dir)
            assert all(store.read(p, verify=True) for p in paths)
            stored = {
                f"{p.parent.name}/{p.name}" for p in target.store_dir.rglob("*") if p.is_file()
            }
            assert stored == paths
            assert count_cases(s) >= 4
    finally:
        r_engine.dispose()
    # the live database went on past the snapshot
    assert count_cases(session) >= len(paths)


def admin_in(s):
    from markit_core.accounts import get_user

    return get_user(s, "root")


def test_backup_is_for_administrators(engine, settings, populated, tmp_path):
    with pytest.raises(PermissionDenied):
        backup(engine, settings, populated.owner, tmp_path / "bk")
    assert not (tmp_path / "bk").exists() or not any((tmp_path / "bk").iterdir())


def test_backup_refuses_a_non_empty_folder(engine, settings, admin, tmp_path):
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "x").write_text("keep me")
    with pytest.raises(ValidationError, match="not empty"):
        backup(engine, settings, admin, tmp_path / "bk")
    assert (tmp_path / "bk" / "x").read_text() == "keep me"


def test_restore_refuses_data_unless_forced(engine, settings, admin, populated, tmp_path):
    backup(engine, settings, admin, tmp_path / "bk")
    # the live installation holds data: refused, nothing changed
    with pytest.raises(ValidationError, match="not empty"):
        _restore_into(settings, tmp_path / "bk")
    manifest = _restore_into(settings, tmp_path / "bk", force=True)
    with new_session(make_engine(settings.resolved_database_url)) as s:
        assert check_restored(s, admin_in(s), manifest).ok


def test_restore_catches_an_altered_backup(engine, settings, admin, populated, tmp_path):
    backup(engine, settings, admin, tmp_path / "bk")
    image = next((tmp_path / "bk" / "store").rglob("*.png"))
    image.write_bytes(image.read_bytes() + b"x")
    with pytest.raises(ValidationError, match=f"store/.*{image.name}.*SHA-256"):
        _restore_into(Settings(data_dir=tmp_path / "r1"), tmp_path / "bk")
    assert not (tmp_path / "r1" / "markit.db").exists()


def test_restore_detects_a_head_other_than_the_backup(engine, settings, admin, populated, tmp_path):
    backup(engine, settings, admin, tmp_path / "bk")
    path = tmp_path / "bk" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["ledger"]["seq"] += 1  # as if the newest entry had been cut off the copy
    path.write_text(json.dumps(manifest))
    target = Settings(data_dir=tmp_path / "r2")
    restored = _restore_into(target, tmp_path / "bk")
    with new_session(make_engine(target.resolved_database_url)) as s:
        check = check_restored(s, admin_in(s), restored)
    assert check.verify.ok and not check.head_matches and not check.ok


def test_unfinished_backup_is_not_restorable(tmp_path):
    (tmp_path / "bk").mkdir()
    with pytest.raises(ValidationError, match="no manifest.json"):
        _restore_into(Settings(data_dir=tmp_path / "r3"), tmp_path / "bk")


def test_cli_backup_and_restore(settings, admin, populated, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("MARKIT_DATA_DIR", str(settings.data_dir))
    assert main(["backup", str(tmp_path / "bk"), "--json"]) == 0
    made = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert made["images"] == 4
    assert main(["backup", str(tmp_path / "bk2"), "--as", "annotator"]) == 1
    assert "administrator" in capsys.readouterr().err

    monkeypatch.setenv("MARKIT_DATA_DIR", str(tmp_path / "restored"))
    assert main(["restore", str(tmp_path / "bk"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] and out["found"] == made["ledger"]
    assert main(["restore", str(tmp_path / "bk")]) == 2  # now it holds data
    assert "--force" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "restored")
