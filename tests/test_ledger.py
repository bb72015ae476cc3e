"""The hash-chained activity ledger: clean history verifies, every kind of tampering is named."""

from __future__ import annotations

import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import text

from markit_core import ledger
from markit_core.labels import CHEST_XRAY_LABELS, add_labels, list_labels
from markit_core.models import LedgerEntry, Role


@pytest.fixture
def history(session, make_user, make_project):
    owner = make_user("owner")
    make_user("ann")
    project = make_project("Ledger", owner, {"ann": [Role.ANNOTATOR]})
    add_labels(session, owner, project.id, CHEST_XRAY_LABELS)
    return project


def _entries(session) -> list[LedgerEntry]:
    return list(session.exec(text("select seq from ledger_entry order by seq")).scalars())


def test_clean_history_verifies(session, history):
    result = ledger.integrity(session)
    assert result.ok, result.problem
    assert result.entries == len(_entries(session)) >= 12
    assert result.records_checked > 0


def test_every_entry_links_to_the_previous(session, history):
    rows = session.exec(
        text("select seq, prev_hash, entry_hash from ledger_entry order by seq")
    ).all()
    assert rows[0].prev_hash == ledger.GENESIS
    for before, after in pairwise(rows):
        assert after.prev_hash == before.entry_hash
        assert after.seq == before.seq + 1


def test_edited_entry_is_named(session, history):
    session.exec(text("update ledger_entry set action = 'label.delete' where seq = 5"))
    session.commit()
    result = ledger.integrity(session)
    assert not result.ok
    assert result.problem.seq == 5
    assert result.problem.kind == "entry altered"


def test_deleted_entry_is_named(session, history):
    session.exec(text("delete from ledger_entry where seq = 6"))
    session.commit()
    result = ledger.integrity(session)
    assert (result.problem.seq, result.problem.kind) == (6, "entry deleted")


def test_deleted_newest_entry_is_caught_by_the_head(session, history):
    last = _entries(session)[-1]
    session.exec(text(f"delete from ledger_entry where seq = {last}"))
    session.commit()
    result = ledger.integrity(session)
    assert (result.problem.seq, result.problem.kind) == (last, "entry deleted")


def test_swapped_entries_are_named(session, history):
    cols = (
        "at, actor_id, actor, project_id, action, record_type, record_id, record_digest, "
        "removed, prev_hash, entry_hash"
    )
    a = session.exec(text(f"select {cols} from ledger_entry where seq = 7")).one()
    b = session.exec(text(f"select {cols} from ledger_entry where seq = 8")).one()
    names = [c.strip() for c in cols.split(",")]
    for seq in (7, 8):
        # entry_hash is unique: park it first, then write the swapped content
        session.exec(text(f"update ledger_entry set entry_hash = 'tmp{seq}' where seq = {seq}"))
    for seq, row in ((7, b), (8, a)):
        assigns = ", ".join(f"{n} = :{n}" for n in names)
        session.exec(
            text(f"update ledger_entry set {assigns} where seq = {seq}"),
            params=dict(zip(names, row, strict=True)),
        )
    session.commit()
    result = ledger.integrity(session)
    assert result.problem.seq == 7
    assert result.problem.kind == "entries reordered or replaced"


def test_record_edited_in_the_database_is_named(session, history):
    label = next(
        lb for lb in list_labels(session, _owner(session), history.id) if lb.name == "pneumothorax"
    )
    session.exec(text(f"update label_def set name = 'pneumothorax (edited)' where id = {label.id}"))
    session.commit()
    result = ledger.integrity(session)
    assert not result.ok
    assert result.problem.kind == "record changed"
    assert "label_def" in result.problem.detail and str(label.id) in result.problem.detail
    entry = session.get(LedgerEntry, result.problem.seq)
    assert (entry.record_type, entry.record_id, entry.action) == (
        "label_def",
        str(label.id),
        "label.create",
    )


def test_record_deleted_in_the_database_is_named(session, history):
    session.exec(text("delete from membership where role = 'annotator'"))
    session.commit()
    result = ledger.integrity(session)
    assert result.problem.kind == "record changed"
    assert "deleted after it was logged" in result.problem.detail


def test_logged_changes_keep_verifying(session, history):
    owner = _owner(session)
    labels = list_labels(session, owner, history.id)
    from markit_core.labels import save_label_set

    rows = [vars(lb) | {"name": lb.name.title()} for lb in labels[1:]]
    save_label_set(session, owner, history.id, rows)
    assert ledger.integrity(session).ok


def _owner(session):
    from markit_core.accounts import get_user

    return get_user(session, "owner")


def _cli(settings, *args) -> subprocess.CompletedProcess:
    env = os.environ | {"MARKIT_DATA_DIR": str(settings.data_dir)}
    env.pop("MARKIT_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "markit_core", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
        timeout=120,
    )


def test_cli_verify_exit_codes(session, settings, history):
    ok = _cli(settings, "ledger", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "ledger ok" in ok.stdout
    session.exec(text("update ledger_entry set actor = 'mallory' where seq = 3"))
    session.commit()
    broken = _cli(settings, "ledger", "verify")
    assert broken.returncode == 1
    assert "entry 3: entry altered" in broken.stdout


def test_edited_trace_back_of_a_case_is_named(session, settings, imaging):
    from markit_core.imaging.ingest import ingest
    from tests.imaging_fixtures import dicom_bytes, identified_dicom

    report = ingest(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        [("x.dcm", dicom_bytes(identified_dicom(seed=5)))],
    )
    case_id = report.case_ids[0]
    assert ledger.integrity(session).ok
    session.exec(
        text(f"update case_origin set patient_name = 'Someone^Else' where case_id = {case_id}")
    )
    session.commit()
    result = ledger.integrity(session)
    assert result.problem.kind == "record changed" and f"case {case_id}" in result.problem.detail
