"""Schema migrations: an upgrade from an older revision keeps every existing row."""

from __future__ import annotations

from sqlalchemy import inspect, text

from markit_core import ledger
from markit_core.accounts import create_user, get_user
from markit_core.db import alembic_config, current_revision, make_engine, session, upgrade
from markit_core.labels import CHEST_XRAY_LABELS, add_labels
from markit_core.projects import create_project


def _head(engine) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def test_upgrade_from_first_revision_keeps_rows(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "case" not in inspect(engine).get_table_names()
    # Data written by the 0001 schema with raw SQL, as an old release would have.
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into user_account (username, display_name, password_hash, is_admin, "
                "is_active, is_demo, created_at) values ('old', 'Old user', 'x', 1, 1, 0, "
                "'2025-01-01 10:00:00')"
            )
        )
        conn.execute(
            text(
                "insert into project (name, description, required_annotators, "
                "show_others_after_submit, is_demo, created_at) values "
                "('Legacy', 'kept', 3, 0, 0, '2025-01-01 10:00:00')"
            )
        )
        conn.execute(
            text(
                'insert into label_def (project_id, name, "group", kind, "order", archived) '
                "values (1, 'effusion', 'Pleura', 'binary', 1, 0)"
            )
        )
        conn.execute(
            text(
                "insert into membership (project_id, user_id, role, granted_at) "
                "values (1, 1, 'owner', '2025-01-01 10:00:00')"
            )
        )
    upgrade(engine)
    assert current_revision(engine) == _head(engine)
    with engine.connect() as conn:
        assert conn.execute(text("select username, display_name from user_account")).all() == [
            ("old", "Old user")
        ]
        assert conn.execute(
            text("select name, description, required_annotators from project")
        ).all() == [("Legacy", "kept", 3)]
        assert conn.execute(text('select name, "group" from label_def')).all() == [
            ("effusion", "Pleura")
        ]
        assert conn.execute(text("select role from membership")).all() == [("owner",)]
    assert {"case", "annotation", "roi", "reward_run"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def _ledger_at(tmp_path, revision: str):
    """A database with users, a project and labels in its ledger, at ``revision``.

    The rows are written by today's code at head, then the schema is taken down
    to ``revision`` (the tables of 0001 keep their rows), as an old release left it.
    """
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    with session(engine) as s:
        create_user(s, None, "admin", "long enough password")
        admin = get_user(s, "admin")
        project = create_project(s, admin, "P")
        add_labels(s, admin, project.id, CHEST_XRAY_LABELS)
    command.downgrade(alembic_config(engine), revision)
    return engine


def test_upgrade_keeps_a_verifying_ledger(tmp_path):
    engine = _ledger_at(tmp_path, "0001")
    with engine.connect() as conn:
        before = conn.execute(text("select * from ledger_entry order by seq")).all()
    upgrade(engine)
    with session(engine) as s:
        after = ledger.integrity(s)
    assert after.ok and after.entries == len(before) > 5
    engine.dispose()


def test_downgrade_then_upgrade_round_trip(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    from alembic import command

    command.downgrade(alembic_config(engine), "0001")
    assert "case" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "case" in inspect(engine).get_table_names()
    engine.dispose()


def test_drafts_table_added_and_removed(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine, "0002")
    assert "annotation_draft" not in inspect(engine).get_table_names()
    upgrade(engine, "0003")
    assert "annotation_draft" in inspect(engine).get_table_names()
    from alembic import command

    command.downgrade(alembic_config(engine), "0002")
    assert "annotation_draft" not in inspect(engine).get_table_names()
    assert "annotation" in inspect(engine).get_table_names()
    engine.dispose()


def test_models_match_the_migrations(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import markit_core.models  # noqa: F401 - registers every table

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    engine.dispose()


def test_accounts_security_revision_keeps_every_row(tmp_path):
    """0004 (issue 9) adds tables only; users, projects and the ledger stay intact."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine, "0007")  # the revision 0004 follows (re-chained at merges)
    with session(engine) as s:
        create_user(s, None, "admin", "long enough password")
        admin = get_user(s, "admin")
        create_user(s, admin, "alice", "long enough password")
        create_project(s, admin, "Kept")
        before = ledger.integrity(s)
    with engine.connect() as conn:
        users_before = conn.execute(
            text("select id, username, password_hash from user_account")
        ).all()
    upgrade(engine, "0004")
    tables = set(inspect(engine).get_table_names())
    assert {"login_throttle", "remote_archive", "identity_view", "password_reset"} <= tables
    with engine.connect() as conn:
        assert conn.execute(text("select id, username, password_hash from user_account")).all() == (
            users_before
        )
        assert conn.execute(text("select count(*) from password_reset")).scalar() == 0
        assert conn.execute(text("select name from project")).all() == [("Kept",)]
    with session(engine) as s:
        after = ledger.integrity(s)
    assert before.ok and after.ok and after.entries == before.entries
    from alembic import command

    command.downgrade(alembic_config(engine), "0007")
    assert "remote_archive" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert len(conn.execute(text("select * from user_account")).all()) == 2
    engine.dispose()


def test_merkle_migration_backfills_leaf_hashes_and_keeps_rows(tmp_path):
    """0007 adds a leaf hash to every existing ledger entry without changing any row."""
    from markit_core.audit.tree import ledger_tree

    engine = _ledger_at(tmp_path, "0003")
    assert "leaf_hash" not in {c["name"] for c in inspect(engine).get_columns("ledger_entry")}
    with engine.connect() as conn:
        before = conn.execute(text("select * from ledger_entry order by seq")).all()
        users = conn.execute(text("select * from user_account")).all()
        labels = conn.execute(text("select * from label_def order by id")).all()
    assert len(before) > 5
    upgrade(engine, "0007")
    with engine.connect() as conn:
        after = conn.execute(text("select * from ledger_entry order by seq")).mappings().all()
        assert conn.execute(text("select * from user_account")).all() == users
        assert conn.execute(text("select * from label_def order by id")).all() == labels
    assert [tuple(r[k] for k in before[0]._fields) for r in after] == [tuple(b) for b in before]
    assert all(r["leaf_hash"] == ledger.entry_leaf_hash(_entry(r)) for r in after)
    with session(engine) as s:
        assert ledger.integrity(s).ok
        tree = ledger_tree(s)
        assert len(tree) == len(before)
        assert tree.leaf(0).hex() == after[0]["leaf_hash"]
    from alembic import command

    command.downgrade(alembic_config(engine), "0003")
    assert "signing_key" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("select * from ledger_entry order by seq")).all() == before
    engine.dispose()


def _entry(row) -> dict:
    entry = dict(row)
    entry["removed"] = bool(entry["removed"])
    return entry


AI_TABLES = {
    "ai_settings",
    "model_version",
    "active_model",
    "ai_prediction",
    "ai_run",
    "training_run",
    "annotation_exposure",
    "ai_label",
    "case_priority",
}


def test_ai_tables_added_with_readings_and_ledger_kept(tmp_path):
    """0006 adds the AI tables only: readings stored before keep their rows and digests."""
    from alembic import command

    from markit_core.models import Annotation, AnnotationValue, Case

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0004")  # the revision before 0006 in the chain
    assert not AI_TABLES & set(inspect(engine).get_table_names())
    with session(engine) as s:
        create_user(s, None, "admin", "long enough password")
        admin = get_user(s, "admin")
        project = create_project(s, admin, "P")
        add_labels(s, admin, project.id, CHEST_XRAY_LABELS[:2])
        label_id = s.exec(text("select id from label_def limit 1")).scalar_one()
        case = Case(project_id=project.id, content_hash="a" * 64, stored_path="a", rows=8, cols=8)
        s.add(case)
        s.flush()
        # a reading as the old release stored it: the annotation, its value, its ledger entry
        reading = Annotation(
            project_id=project.id, case_id=case.id, annotator_id=admin.id, submit_token="t-1"
        )
        s.add(reading)
        s.flush()
        s.add(
            AnnotationValue(annotation_id=reading.id, label_id=label_id, value=True, confidence=80)
        )
        ledger.append(
            s, actor=admin, project_id=project.id, action="annotation.submit", record=reading
        )
        s.commit()
        before = ledger.verify(s, admin)
    upgrade(engine, "0006")
    assert set(inspect(engine).get_table_names()) >= AI_TABLES
    with session(engine) as s:
        after = ledger.verify(s, get_user(s, "admin"))
        rows = s.exec(text("select value, confidence from annotation_value")).all()
    assert before.ok and after.ok and after.entries == before.entries
    assert [tuple(r) for r in rows] == [(1, 80)]
    command.downgrade(alembic_config(engine), "0004")
    assert not AI_TABLES & set(inspect(engine).get_table_names())
    assert "annotation_value" in inspect(engine).get_table_names()
    engine.dispose()


def test_migration_0008_keeps_rows_and_adds_the_settings_table(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into project (name, description, required_annotators, "
                "show_others_after_submit, is_demo, created_at) values "
                "('Legacy', 'kept', 2, 0, 0, '2025-01-01 10:00:00')"
            )
        )
    assert "reward_settings" not in inspect(engine).get_table_names()
    upgrade(engine, "0008")
    assert current_revision(engine) == "0008"
    with engine.begin() as conn:
        assert conn.execute(text("select name, required_annotators from project")).all() == [
            ("Legacy", 2)
        ]
        conn.execute(
            text(
                "insert into reward_settings (project_id, trust_level, min_positives, "
                "trusted_ai_only) values (1, 0.5, 8, 1)"
            )
        )
        assert conn.execute(text("select trust_level from reward_settings")).all() == [(0.5,)]
    engine.dispose()


def test_login_sessions_table_added_and_removed(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine, "0006")
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into user_account (username, display_name, password_hash, is_admin, "
                "is_active, is_demo, created_at) values ('old', 'Old user', 'x', 1, 1, 0, "
                "'2025-01-01 10:00:00')"
            )
        )
    assert "login_session" not in inspect(engine).get_table_names()
    upgrade(engine, "0009")
    assert "login_session" in inspect(engine).get_table_names()
    from alembic import command

    command.downgrade(alembic_config(engine), "0006")
    assert "login_session" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("select username from user_account")).all() == [("old",)]
    engine.dispose()


def test_archive_reference_table_added_with_cases_and_ledger_kept(tmp_path):
    """0010 adds ``case_archive_ref`` only: stored cases and the ledger stay as they were."""
    from alembic import command

    from markit_core.imaging.remote_archives import add_archive
    from markit_core.models import Case

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0009")
    assert "case_archive_ref" not in inspect(engine).get_table_names()
    with session(engine) as s:
        create_user(s, None, "admin", "long enough password")
        admin = get_user(s, "admin")
        project = create_project(s, admin, "P")
        add_archive(s, admin, "PACS", "dicomweb", url="http://127.0.0.1:9/dicom-web")
        case = Case(project_id=project.id, content_hash="b" * 64, stored_path="ab/" + "c" * 62)
        s.add(case)
        s.flush()
        ledger.append(s, actor=admin, project_id=project.id, action="case.upload", record=case)
        s.commit()
        before = ledger.verify(s, admin)
    with engine.connect() as conn:
        cases_before = conn.execute(text('select id, content_hash, stored_path from "case"')).all()
    upgrade(engine, "0010")
    assert "case_archive_ref" in inspect(engine).get_table_names()
    with engine.begin() as conn:
        assert conn.execute(text('select id, content_hash, stored_path from "case"')).all() == (
            cases_before
        )
        assert conn.execute(text("select name from remote_archive")).all() == [("PACS",)]
        conn.execute(
            text(
                "insert into case_archive_ref (case_id, project_id, archive_id, stored_path, "
                "study_uid, series_uid, sop_uid, created_at) values (1, 1, 1, 'archive/1/1/2.25.1',"
                " '1.2.3', '1.2.3.4', '1.2.3.4.5', '2026-12-01 10:00:00')"
            )
        )
    with session(engine) as s:
        after = ledger.verify(s, get_user(s, "admin"))
    assert before.ok and after.ok and after.entries == before.entries
    command.downgrade(alembic_config(engine), "0009")
    assert "case_archive_ref" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text('select id, content_hash, stored_path from "case"')).all() == (
            cases_before
        )
    engine.dispose()
