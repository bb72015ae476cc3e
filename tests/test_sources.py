"""Image sources without a real archive: a local folder, a fake HTTP server, a silent socket."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pydicom
import pytest
from sqlmodel import select

from markit_core.errors import PermissionDenied, SourceError, ValidationError
from markit_core.imaging.remote_import import import_studies, search_studies
from markit_core.imaging.sources.base import ImageSource, StudySummary, json_value
from markit_core.imaging.sources.dicomweb import DicomWebSource
from markit_core.imaging.sources.dimse import DimseSource
from markit_core.imaging.sources.local import LocalFolderSource
from markit_core.models import Case, CaseOrigin
from tests.imaging_fixtures import ImagingProject, dicom_bytes, identified_dicom


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two studies: A with two instances (one series), B with one."""
    root = tmp_path / "archive"
    (root / "a").mkdir(parents=True)
    a1 = identified_dicom(seed=1)
    a2 = identified_dicom(seed=2, study_uid=a1.StudyInstanceUID, series_uid=a1.SeriesInstanceUID)
    b = identified_dicom(seed=3)
    b.PatientID, b.StudyDate, b.PatientName = "OTHER-1", "20240105", "Other^Person"
    (root / "a" / "1.dcm").write_bytes(dicom_bytes(a1))
    (root / "a" / "2.dcm").write_bytes(dicom_bytes(a2))
    (root / "b.dcm").write_bytes(dicom_bytes(b))
    (root / "readme.txt").write_text("not dicom")
    return root


def test_local_folder_source_search_and_retrieve(folder: Path):
    source = LocalFolderSource(folder)
    assert isinstance(source, ImageSource)
    studies = [StudySummary.from_json(s) for s in source.search_for_studies()]
    assert sorted(s.n_instances for s in studies) == [1, 2]
    other = source.search_for_studies(PatientID="OTHER*")
    assert [StudySummary.from_json(s).patient_id for s in other] == ["OTHER-1"]
    assert len(source.search_for_studies(PatientName="other^*")) == 1  # PN is case-insensitive
    assert len(source.search_for_studies(StudyDate="20240101-20240131")) == 1
    assert len(source.search_for_studies(limit=1)) == 1
    with pytest.raises(ValidationError, match="unknown search attribute 'PatientNmae'"):
        source.search_for_studies(PatientNmae="x")
    study = next(s for s in studies if s.n_instances == 2)
    series = source.search_for_series(study.study_uid)
    instances = source.search_for_instances(study.study_uid)
    assert len(series) == 1 and len(instances) == 2
    sop = json_value(instances[0], "SOPInstanceUID")
    ds = source.retrieve_instance(study.study_uid, json_value(series[0], "SeriesInstanceUID"), sop)
    assert ds.SOPInstanceUID == sop and "PixelData" in ds
    assert len(list(source.retrieve_study(study.study_uid))) == 2
    with pytest.raises(SourceError, match="not found"):
        list(source.retrieve_study("1.2.3"))


class _Flaky:
    """Wraps a source; retrieving the chosen study fails after the first instance."""

    def __init__(self, inner: ImageSource, bad_study: str) -> None:
        self.inner, self.bad_study = inner, bad_study
        self.description = "flaky test archive"

    def search_for_studies(self, limit=None, offset=None, **filters):
        return self.inner.search_for_studies(limit, offset, **filters)

    def retrieve_study(self, study_uid: str) -> Iterator[pydicom.Dataset]:
        for i, ds in enumerate(self.inner.retrieve_study(study_uid)):
            if study_uid == self.bad_study and i == 1:
                raise SourceError("connection lost half-way")
            yield ds


def test_import_studies_goes_through_ingest_and_drops_failed_studies(
    session, settings, folder, imaging: ImagingProject, admin
):
    local = LocalFolderSource(folder)
    studies = [StudySummary.from_json(s) for s in local.search_for_studies()]
    study_a = next(s.study_uid for s in studies if s.n_instances == 2)
    study_b = next(s.study_uid for s in studies if s.n_instances == 1)
    source = _Flaky(local, bad_study=study_a)
    calls = []
    # ad-hoc sources (not a registered archive) are for site administrators only (issue 9)
    with pytest.raises(PermissionDenied, match="registered archive"):
        import_studies(session, settings, imaging.dataowner, imaging.project_id, source, [study_a])
    report = import_studies(
        session,
        settings,
        admin,
        imaging.project_id,
        source,
        [study_a, study_b],
        progress=lambda *a: calls.append(a),
    )
    assert [(s.study_uid, s.ok) for s in report.studies] == [(study_a, False), (study_b, True)]
    assert "connection lost" in report.studies[0].reason
    cases = session.exec(select(Case)).all()
    assert len(cases) == 1  # nothing of the failed study, not even its first instance
    origin = session.exec(select(CaseOrigin)).one()
    assert origin.source.startswith("flaky test archive: ") and origin.study_uid == study_b
    assert study_b not in cases[0].original_name  # names carry pseudonyms only
    assert calls[0] == (0, 2, f"retrieving study {study_a}") and calls[-1] == (2, 2, "")

    again = import_studies(session, settings, admin, imaging.project_id, local, [study_a, study_b])
    assert [o.status for o in again.files.outcomes] == ["ingested", "ingested", "duplicate"]
    with pytest.raises(PermissionDenied):
        search_studies(session, imaging.annotator, imaging.project_id, local)
    with pytest.raises(PermissionDenied):
        search_studies(session, imaging.dataowner, imaging.project_id, local)
    assert len(search_studies(session, admin, imaging.project_id, local)) == 2


class _Handler(BaseHTTPRequestHandler):
    """Answers as told by the server's ``script``: a list of (status, content type, body)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.server.auth.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        script = self.server.script  # type: ignore[attr-defined]
        status, ctype, body = script.pop(0) if len(script) > 1 else script[0]
        if status == "sleep":
            time.sleep(1.5)
            status, ctype, body = 200, "application/dicom+json", b"[]"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.script, server.paths, server.auth = [], [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _source(server, **kw) -> DicomWebSource:
    return DicomWebSource(f"http://127.0.0.1:{server.server_port}/dicom-web", backoff_ms=10, **kw)


STUDY = [{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00100020": {"vr": "LO", "Value": ["P1"]}}]


def test_dicomweb_retries_busy_servers_then_succeeds(http_server):
    http_server.script[:] = [
        (503, "text/plain", b"busy"),
        (429, "text/plain", b"slow down"),
        (200, "application/dicom+json", json.dumps(STUDY).encode()),
    ]
    studies = _source(http_server, token="abc").search_for_studies(PatientID="P*")
    assert [StudySummary.from_json(s).patient_id for s in studies] == ["P1"]
    assert len(http_server.paths) == 3 and "PatientID=P*" in http_server.paths[-1]


def test_dicomweb_gives_up_with_a_clear_busy_message(http_server):
    http_server.script[:] = [(503, "text/plain", b"busy")]
    with pytest.raises(SourceError, match=r"busy \(HTTP 503\)"):
        _source(http_server, retries=3).search_for_studies()
    assert len(http_server.paths) == 3


def test_dicomweb_reports_answers_that_are_not_dicom(http_server):
    http_server.script[:] = [(200, "text/html", b"<html>login page</html>")]
    with pytest.raises(SourceError, match="not DICOM"):
        _source(http_server).search_for_studies()
    http_server.script[:] = [(200, "text/html", b"<html>oops</html>")]
    with pytest.raises(SourceError, match="not DICOM"):
        _source(http_server).retrieve_instance("1.2", "1.3", "1.4")


@pytest.mark.timeout(30)  # a client that ignored its own timeout would hang here
def test_dicomweb_reports_slow_servers(http_server):
    http_server.script[:] = [("sleep", "", b"")]
    with pytest.raises(SourceError, match="too slow"):
        _source(http_server, timeout=(1.0, 0.5)).search_for_studies()


def test_dicomweb_argument_checks():
    with pytest.raises(ValidationError):
        DicomWebSource("ftp://x")
    with pytest.raises(ValidationError, match="not both"):
        DicomWebSource("http://x", token="t", username="u", password="p")


def test_dicomweb_credentials_in_the_url_are_used_and_never_shown(http_server):
    port = http_server.server_port
    source = DicomWebSource(
        f"http://markit:s3cr%40t@127.0.0.1:{port}/dicom-web/", backoff_ms=10, retries=2
    )
    assert source.url == f"http://127.0.0.1:{port}/dicom-web"
    assert source.description == f"dicomweb http://127.0.0.1:{port}/dicom-web"
    http_server.script[:] = [(200, "application/dicom+json", json.dumps(STUDY).encode())]
    assert len(source.search_for_studies()) == 1
    assert http_server.auth[-1] == "Basic " + base64.b64encode(b"markit:s3cr@t").decode()
    for status in (401, 404, 503):  # every error message names the server, not the password
        http_server.script[:] = [(status, "text/plain", b"no")]
        with pytest.raises(SourceError) as info:
            source.retrieve_instance("1.2", "1.3", "1.4")
        assert f"127.0.0.1:{port}" in str(info.value)
        assert "s3cr" not in str(info.value) and "markit:" not in str(info.value)
    with pytest.raises(ValidationError, match="both in the DICOMweb URL and as arguments"):
        DicomWebSource("http://u:p@x/dicom-web", username="v", password="q")
    with pytest.raises(ValidationError, match="both in the DICOMweb URL and as arguments"):
        DicomWebSource("http://u:p@x/dicom-web", token="t")
    with pytest.raises(ValidationError) as info:
        DicomWebSource("ftp://u:hunter2@x/dicom-web")
    assert "hunter2" not in str(info.value)


def test_imported_cases_do_not_carry_url_credentials(
    session, settings, folder, imaging: ImagingProject, admin
):
    local = LocalFolderSource(folder)
    remote = DicomWebSource("https://markit:s3cret@pacs.example.org/dicom-web")

    class _Remote:  # the DICOMweb source's description, the folder's studies
        description = remote.description

        def retrieve_study(self, study_uid):
            return local.retrieve_study(study_uid)

    study = StudySummary.from_json(local.search_for_studies(limit=1)[0]).study_uid
    report = import_studies(session, settings, admin, imaging.project_id, _Remote(), [study])
    assert report.files.ingested
    for origin in session.exec(select(CaseOrigin)).all():
        assert origin.source.startswith("dicomweb https://pacs.example.org/dicom-web: ")
        assert "s3cret" not in origin.source and "markit" not in origin.source


def test_failed_retrievals_are_logged_without_the_study_uid(
    session, settings, folder, caplog, imaging: ImagingProject, admin
):
    local = LocalFolderSource(folder)
    uids = [StudySummary.from_json(s).study_uid for s in local.search_for_studies()]

    class _Buggy:
        description = "buggy archive"

        def retrieve_study(self, study_uid):
            raise RuntimeError(f"library bug while reading {study_uid}")

    with caplog.at_level(logging.DEBUG, logger="markit_core"):
        report = import_studies(session, settings, admin, imaging.project_id, _Buggy(), uids)
    assert [s.ok for s in report.studies] == [False, False]
    assert uids[0] in report.studies[0].reason  # the data owner's report still says which
    logged = [r for r in caplog.records if r.name == "markit_core.imaging.remote_import"]
    assert [r.getMessage().split(":")[0] for r in logged] == [
        "retrieving study 1 of 2 failed",
        "retrieving study 2 of 2 failed",
    ]
    text = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    assert "RuntimeError" in text
    for uid in uids:
        assert uid not in text


@pytest.mark.timeout(30)  # an association that ignored its timeout would hang here
def test_dimse_reports_down_and_silent_peers():
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(SourceError, match="refused the connection"):
        DimseSource("127.0.0.1", closed, "PACS", timeout=2).search_for_studies()

    silent = socket.socket()  # accepts the TCP connection, never answers the association
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with pytest.raises(SourceError, match="did not answer within 1 s"):
            DimseSource(
                "127.0.0.1", silent.getsockname()[1], "PACS", timeout=1
            ).search_for_studies()
    finally:
        silent.close()
    with pytest.raises(ValidationError, match="AE title"):
        DimseSource("127.0.0.1", 104, "A-TITLE-THAT-IS-FAR-TOO-LONG")
