"""MarkIt's DICOMweb and DIMSE sources against a real Orthanc with the DICOMweb plugin.

The test starts Debian's Orthanc with a config written to a temporary folder:
storage in that folder, HTTP and DICOM on free ports, basic authentication
with a test user, the DICOMweb plugin, and MarkIt registered as a DICOM
modality (for C-GET and C-MOVE). Orthanc 1.10 cannot bind to one interface,
so it is confined to this machine by configuration instead: remote HTTP access
is off, and DICOM is only accepted from the registered AE title on 127.0.0.1.
Test images are uploaded through Orthanc's REST API (``POST /instances``),
then searched and imported through MarkIt's sources, and the imported pixels
are compared with the originals.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from pydicom.data import get_testdata_file
from sqlmodel import select

from markit_core import cli
from markit_core.accounts import get_user
from markit_core.errors import PermissionDenied, SourceError
from markit_core.imaging.decode import decode_any
from markit_core.imaging.remote_archives import add_archive, list_archives
from markit_core.imaging.remote_import import import_studies, search_studies
from markit_core.imaging.sources.dicomweb import DicomWebSource
from markit_core.imaging.sources.dimse import DimseSource
from markit_core.imaging.store import ImageStore
from markit_core.models import Case, CaseOrigin, Role
from tests.imaging_fixtures import ImagingProject, dicom_bytes, identified_dicom
from tests.servers import free_port, missing, stop, wait_for_port

pytestmark = pytest.mark.integration

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "markit-test", "orthanc-test-password"
#: Uncompressed, JPEG 2000, RLE, lossy JPEG baseline, and a 30-frame JPEG ultrasound clip.
FILES = (
    "MR_small.dcm",
    "CT_small.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "examples_ybr_color.dcm",
)


@dataclass
class Orthanc:
    http_port: int
    dicom_port: int
    move_port: int
    originals: dict[str, bytes]  # SOP Instance UID -> uploaded file
    proc: subprocess.Popen | None = None  # the server (a test may stop it: the archive goes down)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"


def _binary() -> str:
    found = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None
    )
    if not found or not PLUGIN.exists():
        missing("Orthanc with the DICOMweb plugin (Debian packages orthanc, orthanc-dicomweb)")
    return found  # type: ignore[return-value]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory) -> Iterator[Orthanc]:
    binary = _binary()
    root = tmp_path_factory.mktemp("orthanc")
    http_port, dicom_port, move_port = free_port(), free_port(), free_port()
    config = {
        "Name": "MARKIT-TEST",
        "StorageDirectory": str(root / "db"),
        "IndexDirectory": str(root / "db"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        "DicomModalities": {"markit": {"AET": "MARKIT", "Host": "127.0.0.1", "Port": move_port}},
        "DicomCheckModalityHost": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomCheckCalledAet": False,
        "DicomScuTimeout": 5,
        "SaveJobs": False,
        "StableAge": 1,
        "HttpThreadsCount": 8,
        "ConcurrentJobs": 2,
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    with open(root / "orthanc.log", "wb") as log:  # the child keeps its own copy of the handle
        proc = subprocess.Popen(
            [binary, str(root / "orthanc.json")], cwd=root, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_ready(proc, http_port, dicom_port, root / "orthanc.log")
        originals = {}
        for name in FILES:
            data = Path(get_testdata_file(name)).read_bytes()
            originals[str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)] = data
        crafted = dicom_bytes(identified_dicom(seed=11))
        originals[str(pydicom.dcmread(io.BytesIO(crafted)).SOPInstanceUID)] = crafted
        for data in originals.values():
            r = requests.post(
                f"http://127.0.0.1:{http_port}/instances",
                data=data,
                auth=(USER, PASSWORD),
                timeout=10,
            )
            assert r.status_code == 200 and r.json()["Status"] == "Success", r.text
        yield Orthanc(http_port, dicom_port, move_port, originals, proc)
    finally:
        stop(proc)


def _wait_ready(proc: subprocess.Popen, http_port: int, dicom_port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"Orthanc exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            r = requests.get(
                f"http://127.0.0.1:{http_port}/system", auth=(USER, PASSWORD), timeout=1
            )
            if r.status_code == 200:
                wait_for_port(dicom_port, timeout=10)
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail(f"Orthanc did not start within 30 s:\n{log.read_text()[-2000:]}")


def _assert_imported_equal_originals(session, settings, project_id: int, server: Orthanc) -> None:
    """Every uploaded instance is a case whose stored pixels equal the uploaded ones."""
    store = ImageStore.from_settings(settings)
    origins = {
        o.sop_uid: o
        for o in session.exec(select(CaseOrigin).where(CaseOrigin.project_id == project_id)).all()
    }
    assert set(origins) == set(server.originals)
    for sop_uid, original in server.originals.items():
        case = session.get(Case, origins[sop_uid].case_id)
        stored = store.read(case.stored_path)
        expected = decode_any(original, "original").frames
        got = decode_any(stored, "stored").frames
        assert got.shape == expected.shape and np.array_equal(got, expected), sop_uid
        assert sop_uid.encode() not in stored  # de-identified on the way in
        assert b"Quixote" not in stored


def _register(session, **fields) -> int:
    """Register an archive as the site administrator (data owners pick registered ones only)."""
    return add_archive(session, get_user(session, "root"), **fields).id


def test_dicomweb_search_and_import(session, settings, imaging: ImagingProject, orthanc: Orthanc):
    source = DicomWebSource(orthanc.url, username=USER, password=PASSWORD, timeout=(5, 30))
    with pytest.raises(PermissionDenied, match="registered archive"):  # no typed addresses
        search_studies(session, imaging.dataowner, imaging.project_id, source)
    archive = _register(
        session,
        name="Orthanc",
        kind="dicomweb",
        url=orthanc.url,
        auth="basic",
        username=USER,
        secret=PASSWORD,
    )
    studies = search_studies(session, imaging.dataowner, imaging.project_id, archive, limit=None)
    expected_studies = {
        str(pydicom.dcmread(io.BytesIO(d)).StudyInstanceUID) for d in orthanc.originals.values()
    }
    assert {s.study_uid for s in studies} == expected_studies
    mr = search_studies(session, imaging.dataowner, imaging.project_id, archive, PatientID="4MR*")
    assert [s.patient_name for s in mr] == ["CompressedSamples^MR1"]
    assert len(source.search_for_studies(ModalitiesInStudy="CT")) == 1
    rgb = next(s for s in studies if s.n_instances == 2)
    assert len(source.search_for_series(rgb.study_uid)) == 1
    assert len(source.search_for_instances(rgb.study_uid)) == 2

    progress: list[tuple[int, int, str]] = []
    report = import_studies(
        session,
        settings,
        imaging.dataowner,
        imaging.project_id,
        archive,
        [s.study_uid for s in studies],
        progress=lambda *a: progress.append(a),
    )
    assert not report.failed_studies and len(report.files.ingested) == len(orthanc.originals)
    assert progress[-1] == (len(studies), len(studies), "")
    _assert_imported_equal_originals(session, settings, imaging.project_id, orthanc)
    transfer = {session.get(Case, o.case_id).meta["transfer_syntax"] for o in report.files.ingested}
    assert {"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50"} <= transfer
    origin = session.exec(select(CaseOrigin)).first()
    assert origin.source.startswith(f"dicomweb {orthanc.url}: ")

    again = import_studies(
        session, settings, imaging.dataowner, imaging.project_id, archive, [rgb.study_uid]
    )
    assert [o.status for o in again.files.outcomes] == ["duplicate", "duplicate"]


def test_dicomweb_credentials_in_the_url(
    session, settings, imaging: ImagingProject, orthanc: Orthanc
):
    plain = f"127.0.0.1:{orthanc.http_port}/dicom-web"
    source = DicomWebSource(f"http://{USER}:{PASSWORD}@{plain}", timeout=(5, 30))
    assert source.description == f"dicomweb http://{plain}"
    archive = _register(
        session, name="In URL", kind="dicomweb", url=f"http://{USER}:{PASSWORD}@{plain}"
    )
    listed = list_archives(session, imaging.dataowner)
    assert PASSWORD not in repr(listed) and listed[0].address == f"http://{plain}"
    mr = search_studies(session, imaging.dataowner, imaging.project_id, archive, PatientID="4MR*")
    report = import_studies(
        session, settings, imaging.dataowner, imaging.project_id, archive, [mr[0].study_uid]
    )
    assert len(report.files.ingested) == 1
    origin = session.exec(select(CaseOrigin)).one()
    assert origin.source.startswith(f"dicomweb http://{plain}: ")
    assert PASSWORD not in origin.source and USER not in origin.source
    with pytest.raises(SourceError, match=r"refused the credentials \(HTTP 401\)") as info:
        DicomWebSource(f"http://{USER}:not-the-password@{plain}").search_for_studies()
    assert "not-the-password" not in str(info.value) and USER not in str(info.value)


def test_dimse_find_and_get(session, settings, imaging: ImagingProject, orthanc: Orthanc):
    source = DimseSource("127.0.0.1", orthanc.dicom_port, "ORTHANC", "MARKIT", timeout=10)
    studies = source.search_for_studies()
    assert len(studies) == len(
        {str(pydicom.dcmread(io.BytesIO(d)).StudyInstanceUID) for d in orthanc.originals.values()}
    )
    assert len(source.search_for_studies(PatientID="4MR1")) == 1
    pacs = _register(
        session,
        name="PACS",
        kind="dimse",
        host="127.0.0.1",
        port=orthanc.dicom_port,
        called_aet="ORTHANC",
        calling_aet="MARKIT",
    )
    uids = [
        s.study_uid for s in search_studies(session, imaging.dataowner, imaging.project_id, pacs)
    ]
    report = import_studies(session, settings, imaging.dataowner, imaging.project_id, pacs, uids)
    assert not report.failed_studies, report.failed_studies
    _assert_imported_equal_originals(session, settings, imaging.project_id, orthanc)
    transfer = {session.get(Case, o.case_id).meta["transfer_syntax"] for o in report.files.ingested}
    # JPEG 2000, RLE and JPEG baseline arrived as stored (one context per syntax), not transcoded
    assert {"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50"} <= transfer


def test_dimse_move(session, settings, make_project, imaging: ImagingProject, orthanc: Orthanc):
    project = make_project("Moved", imaging.owner, {"dataowner": [Role.DATA_OWNER]})
    source = DimseSource(
        "127.0.0.1",
        orthanc.dicom_port,
        "ORTHANC",
        "MARKIT",
        retrieve="move",
        move_address=("127.0.0.1", orthanc.move_port),
        timeout=10,
    )
    uid = next(sop for sop, d in orthanc.originals.items() if b"Quixote" in d)
    study = str(pydicom.dcmread(io.BytesIO(orthanc.originals[uid])).StudyInstanceUID)
    # C-MOVE needs a listening port on this server: a typed source, for administrators only
    with pytest.raises(PermissionDenied):
        import_studies(session, settings, imaging.dataowner, project.id, source, [study])
    admin = get_user(session, "root")
    report = import_studies(session, settings, admin, project.id, source, [study])
    assert not report.failed_studies and len(report.files.ingested) == 1


def test_clear_errors(orthanc: Orthanc):
    with pytest.raises(SourceError, match=r"refused the credentials \(HTTP 401\)"):
        DicomWebSource(orthanc.url, username=USER, password="wrong").search_for_studies()
    with pytest.raises(SourceError, match="not found"):
        DicomWebSource(orthanc.url, username=USER, password=PASSWORD).retrieve_instance(
            "1.2.3", "1.2.3.4", "1.2.3.4.5"
        )
    closed = free_port()
    with pytest.raises(SourceError, match=r"cannot connect .*connection refused"):
        DicomWebSource(f"http://127.0.0.1:{closed}/dicom-web").search_for_studies()
    with pytest.raises(SourceError, match="refused the connection"):
        DimseSource("127.0.0.1", closed, "ORTHANC", timeout=3).search_for_studies()
    with pytest.raises(
        SourceError,
        match=r"rejected the association \(Calling AE title not "
        r"recognised\).*'STRANGER' is registered on the PACS",
    ):
        DimseSource(
            "127.0.0.1", orthanc.dicom_port, "ORTHANC", "STRANGER", timeout=5
        ).search_for_studies()
    with pytest.raises(SourceError, match="study 1.2.3 not found"):
        list(
            DimseSource("127.0.0.1", orthanc.dicom_port, "ORTHANC", timeout=5).retrieve_study(
                "1.2.3"
            )
        )


def test_dicomweb_import_command(orthanc: Orthanc, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MARKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MARKIT_DATABASE_URL", raising=False)
    monkeypatch.setenv("MARKIT_DICOMWEB_PASSWORD", PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO("a good password\n"))
    assert cli.main(["create-user", "boss", "--password-stdin"]) == 0
    assert cli.main(["create-project", "Remote"]) == 0
    capsys.readouterr()
    assert (
        cli.main(["dicomweb-import", "--project", "Remote", "--url", orthanc.url, "--user", USER])
        == 0
    )
    out = capsys.readouterr().out
    assert f"{len(orthanc.originals)} ingested" in out
    # a data owner names a registered archive; a typed --url is for administrators only
    monkeypatch.setattr("sys.stdin", io.StringIO("keeper's password\n"))
    assert cli.main(["create-user", "keeper", "--password-stdin"]) == 0
    assert cli.main(["create-project", "Kept", "--owner", "boss"]) == 0
    from markit_core.commands.common import db_session
    from markit_core.models import Role as _Role
    from markit_core.projects import find_project, grant_role

    with db_session() as (s, _):
        boss = get_user(s, "boss")
        grant_role(s, boss, find_project(s, boss, "Kept").id, "keeper", _Role.DATA_OWNER)
    capsys.readouterr()
    assert (
        cli.main(["dicomweb-import", "--project", "Kept", "--url", orthanc.url, "--as", "keeper"])
        == 1
    )
    assert "registered archive" in capsys.readouterr().err
    monkeypatch.setenv("MARKIT_ARCHIVE_SECRET", PASSWORD)
    assert (
        cli.main(
            ["archive", "add", "Orthanc", "--kind", "dicomweb", "--url", orthanc.url]
            + ["--auth", "basic", "--user", USER]
        )
        == 0
    )
    assert cli.main(["archive", "list"]) == 0
    assert PASSWORD not in capsys.readouterr().out
    assert (
        cli.main(["dicomweb-import", "--project", "Kept", "--archive", "Orthanc", "--as", "keeper"])
        == 0
    )
    assert f"{len(orthanc.originals)} ingested" in capsys.readouterr().out
    assert (
        cli.main(
            [
                "dicomweb-import",
                "--project",
                "Remote",
                "--url",
                orthanc.url,
                "--user",
                USER,
                "--password",
                "wrong",
            ]
        )
        == 1
    )
    assert "refused the credentials" in capsys.readouterr().err


def test_upload_page_searches_and_imports_from_orthanc(
    session, settings, imaging: ImagingProject, orthanc: Orthanc, monkeypatch
):
    """The data owner's remote-archive search and import, through the page (AppTest)."""
    from tests.apptest_helpers import fresh_app, log_in, open_page, point_app_at
    from tests.conftest import PASSWORD as USER_PASSWORD

    point_app_at(settings, monkeypatch)
    _register(
        session,
        name="Orthanc",
        kind="dicomweb",
        url=orthanc.url,
        auth="basic",
        username=USER,
        secret=PASSWORD,
    )
    wrong = _register(
        session,
        name="Orthanc, wrong password",
        kind="dicomweb",
        url=orthanc.url,
        auth="basic",
        username=USER,
        secret="wrong-password",
    )
    at = open_page(log_in(fresh_app(timeout=120), "dataowner", USER_PASSWORD), "upload")
    assert at.selectbox(key="dw_archive").options == ["Orthanc", "Orthanc, wrong password"]
    assert at.selectbox(key="dw_archive").value != wrong  # the first one (by name) is picked
    at.text_input(key="dw_modality").input("CT")
    at.button(key="dw_search").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    results = at.session_state["remote_search_results"][1]
    assert len(results) == 1 and results[0]["modalities"] == "CT"
    # pick the study in the results table, then import it
    at.session_state["dw_results"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key="dw_import").click().run()
    assert not at.exception, at.exception
    assert "1 ingested" in at.success[0].value
    cases = session.exec(select(Case).where(Case.project_id == imaging.project_id)).all()
    assert [c.modality for c in cases] == ["CT"]
    at.selectbox(key="dw_archive").set_value(wrong).run()
    at.text_input(key="dw_modality").input("CT")
    at.button(key="dw_search").click().run()
    assert "credentials" in at.error[0].value.lower() or "401" in at.error[0].value
