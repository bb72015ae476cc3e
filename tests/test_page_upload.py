"""AppTest: the upload page ingests a mixed batch, reports per-file reasons, imports reports."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from sqlalchemy import text

from markit_core import ledger
from markit_core.models import Role
from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
from tests.conftest import PASSWORD


@pytest.fixture
def app_env(settings, monkeypatch, admin, make_user, make_project):
    point_app_at(settings, monkeypatch)
    owner = make_user("owner")
    make_user("donor")
    make_user("ann")
    make_project("Upload test", owner, {"donor": [Role.DATA_OWNER], "ann": [Role.ANNOTATOR]})
    return settings


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64).astype(np.uint8)).save(
        buf, "PNG"
    )
    return buf.getvalue()


def test_batch_upload_with_a_bad_file(session, app_env):
    at = open_page(log_in(fresh_app(), "donor", PASSWORD), "upload")
    assert not at.exception, at.exception
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    at.file_uploader(key="upload_files").set_value(
        [
            ("ct.dcm", ct, "application/dicom"),
            ("broken.dcm", ct[:300], "application/dicom"),
            ("xray.png", _png(), "image/png"),
        ]
    ).run()
    at.button(key="ingest_button").click().run()
    assert not at.exception, at.exception
    assert "3 files: 2 ingested" in at.success[0].value
    outcomes = at.tabs[0].dataframe[0].value
    assert list(outcomes["result"]) == ["ingested", "refused", "ingested"]
    assert "broken.dcm" in outcomes["file"][1] and outcomes["detail"][1]
    assert session.exec(text('select count(*) from "case"')).one()[0] == 2
    # the same files again: nothing new
    at.file_uploader(key="upload_files").set_value([("again.dcm", ct, "application/dicom")]).run()
    at.button(key="ingest_button").click().run()
    assert "1 already present" in at.warning[0].value
    assert session.exec(text('select count(*) from "case"')).one()[0] == 2
    assert ledger.integrity(session).ok


def test_reports_import_lists_unmatched_rows(session, app_env):
    at = open_page(log_in(fresh_app(), "donor", PASSWORD), "upload")
    at.file_uploader(key="upload_files").set_value(("xray.png", _png(), "image/png")).run()
    at.button(key="ingest_button").click().run()
    case_id = session.exec(text('select id from "case"')).one()[0]
    csv = f"case_id,report\n{case_id},Normal chest.\n999,No such case.\n".encode()
    at.file_uploader(key="reports_file").set_value(("reports.csv", csv, "text/csv")).run()
    at.button(key="reports_import").click().run()
    assert not at.exception, at.exception
    assert "2 rows: 1 matched" in at.success[-1].value
    unmatched = at.tabs[3].dataframe[0].value
    assert list(unmatched["key"]) == ["999"]


def test_annotators_do_not_get_the_upload_page(app_env):
    at = log_in(fresh_app(), "ann", PASSWORD)
    with pytest.raises(ValueError, match="Could not find a navigation page") as e:
        open_page(at, "upload")
    assert "annotate.py" in str(e.value)


def test_an_unsupported_file_is_refused_alike_directly_and_inside_a_zip(session, app_env):
    """Neither the uploader nor the archive walk drops a file without saying so."""
    import zipfile

    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    notes = b"scanner notes, not an image\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("study/IM0001", ct)  # DICOM without a suffix, as PACS exports name them
        zf.writestr("study/notes.txt", notes)
    at = open_page(log_in(fresh_app(), "donor", PASSWORD), "upload")
    at.file_uploader(key="upload_files").set_value(
        [
            ("notes.txt", notes, "text/plain"),
            ("study.zip", buf.getvalue(), "application/zip"),
            ("IM0002", ct[:128] + b"DICM" + ct[132:], "application/octet-stream"),
        ]
    ).run()
    assert not at.exception, at.exception
    at.button(key="ingest_button").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    outcomes = at.tabs[0].dataframe[0].value
    by_file = {
        f: (r, d)
        for f, r, d in zip(outcomes["file"], outcomes["result"], outcomes["detail"], strict=True)
    }
    assert set(by_file) == {
        "notes.txt",
        "study.zip/study/IM0001",
        "study.zip/study/notes.txt",
        "IM0002",
    }
    assert by_file["notes.txt"][0] == by_file["study.zip/study/notes.txt"][0] == "refused"
    assert by_file["notes.txt"][1] == by_file["study.zip/study/notes.txt"][1]
    assert "not an image" in by_file["notes.txt"][1]
    assert by_file["study.zip/study/IM0001"][0] == "ingested"
    assert by_file["IM0002"][0] == "duplicate"  # the same pixels, uploaded without a suffix
    # the refused rows have no case: the table shows "—" there, not "None"
    assert at.tabs[0].dataframe[0].proto.placeholder == "—"
    assert outcomes["case"].isna().sum() == 2
    summary = " ".join(m.value for m in [*at.success, *at.warning])
    assert "4 files: 1 ingested, 1 already present, 2 refused" in summary
