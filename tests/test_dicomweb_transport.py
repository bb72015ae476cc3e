"""The DICOMweb client's fault handling without Orthanc (issue 13, point 5).

A small server answers a WADO-RS study request with a real multipart body of
two DICOM instances; the fault proxy (``tests/fault_proxy.py``) cuts, drops or
delays it on the way. The same faults against a real Orthanc, through the
import, are ``tests/integration/test_faults.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from markit_core.errors import SourceError
from markit_core.imaging.sources.dicomweb import DicomWebSource
from markit_core.imaging.sources.dicomweb_transport import StrictDICOMwebClient
from tests.fault_proxy import FaultProxy, answer, cut_multipart, drop, stall
from tests.imaging_fixtures import dicom_bytes, identified_dicom

BOUNDARY = "MarkItTestBoundary"
FIRST = identified_dicom(seed=1)
SECOND = identified_dicom(seed=2, study_uid=FIRST.StudyInstanceUID)
STUDY = str(FIRST.StudyInstanceUID)
SOPS = [str(FIRST.SOPInstanceUID), str(SECOND.SOPInstanceUID)]


def _multipart(parts: list[bytes], preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    out = [preamble]
    for part in parts:
        out.append(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        out.append(part + b"\r\n")
    out.append(f"--{BOUNDARY}--\r\n".encode() + epilogue)
    return b"".join(out)


class _Archive(BaseHTTPRequestHandler):
    """Answers every GET with ``server.body`` as a multipart/related study."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header(
            "Content-Type", f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def archive() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Archive)
    server.body = _multipart([dicom_bytes(FIRST), dicom_bytes(SECOND)])  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(archive: ThreadingHTTPServer) -> Iterator[FaultProxy]:
    with FaultProxy(archive.server_port) as p:
        yield p


def _source(proxy: FaultProxy, **kw) -> DicomWebSource:
    return DicomWebSource(proxy.url("/dicom-web"), backoff_ms=10, **kw)


def _sops(source: DicomWebSource) -> list[str]:
    return [str(ds.SOPInstanceUID) for ds in source.retrieve_study(STUDY)]


def test_a_whole_answer_is_read_in_any_chunking(archive, proxy):
    archive.body = _multipart(
        [dicom_bytes(FIRST), dicom_bytes(SECOND)], preamble=b"ignored\r\n", epilogue=b"also"
    )
    assert _sops(_source(proxy)) == SOPS
    for chunk in (1, 7, len(BOUNDARY) + 3, 4096):  # delimiters split across chunks
        client = StrictDICOMwebClient(proxy.url("/dicom-web"), chunk_size=chunk)
        got = [str(ds.SOPInstanceUID) for ds in client.iter_study(STUDY)]
        assert got == SOPS, chunk


@pytest.mark.parametrize("fault", [cut_multipart(parts=1), cut_multipart(keep=0.6)])
def test_a_study_cut_short_is_an_error_not_a_shorter_study(proxy, fault):
    proxy.inject(fault)
    with pytest.raises(SourceError, match="cut off before its end .*truncated: the multipart"):
        _sops(_source(proxy))
    assert _sops(_source(proxy)) == SOPS  # the next, whole answer is taken


def test_a_dropped_get_is_retried_and_a_persistent_drop_reported(proxy):
    proxy.inject(drop(), times=2)
    assert _sops(_source(proxy, retries=3)) == SOPS
    assert [s.fault for s in proxy.seen()] == ["drop", "drop", "pass"]
    proxy.inject(drop(), times=None)
    with pytest.raises(SourceError, match=r"closed the connection without answering \(3 attempts"):
        _sops(_source(proxy, retries=3))


def test_a_retry_after_past_the_budget_is_not_waited_for(proxy):
    proxy.inject(answer(503, retry_after=30), times=None)
    with pytest.raises(SourceError, match=r"busy \(HTTP 503\).*asked to wait 30 s"):
        _sops(_source(proxy, max_wait_s=5))
    assert len(proxy.seen()) == 1
    proxy.clear()
    proxy.inject(answer(429, retry_after=1), times=1)
    assert _sops(_source(proxy, max_wait_s=5)) == SOPS
    assert [s.fault for s in proxy.seen()][1:] == ["answer", "pass"]


@pytest.mark.timeout(30)
def test_an_answer_that_stalls_half_way_is_too_slow(proxy):
    proxy.inject(stall(5))
    with pytest.raises(SourceError, match="too slow: it stopped sending within the timeout"):
        _sops(_source(proxy, timeout=(2, 0.5)))
