"""Imports through a loopback proxy that injects faults in front of a real Orthanc (issue 13, 5).

The proxy (``tests/fault_proxy.py``) forwards to the Orthanc started by
``test_orthanc.py``'s fixture and fails chosen requests: late, dropped,
answered 500 / 503 / 429 (Retry-After) / 401, or cut short. The imports run
the product's code: a registered archive (``remote_archives``) searched and
imported with ``search_studies`` / ``import_studies`` over the DICOMweb source.
Checked each time: what is safe to retry is retried (busy answers, as long as
``Retry-After`` says; a dropped GET), everything else is reported with what
went wrong; a study whose retrieval failed leaves nothing (no case, origin,
stored file or ledger entry); the ledger verifies; and the same import without
the fault brings the whole study, its pixels equal to the originals.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pydicom
import pytest
import requests
from sqlmodel import func, select

from markit_core import ledger
from markit_core.errors import SourceError
from markit_core.imaging.decode import decode_any
from markit_core.imaging.remote_archives import add_archive
from markit_core.imaging.remote_import import ImportReport, import_studies, search_studies
from markit_core.imaging.sources.dicomweb import DicomWebSource
from markit_core.imaging.store import ImageStore
from markit_core.models import Case, CaseOrigin, LedgerEntry
from tests.fault_proxy import (
    Fault,
    FaultProxy,
    answer,
    cut_chunked,
    cut_multipart,
    delay,
    drop,
    short_body,
    stall,
)
from tests.imaging_fixtures import ImagingProject, dicom_bytes, identified_dicom
from tests.integration import test_orthanc
from tests.integration.test_orthanc import PASSWORD, USER, Orthanc

orthanc = test_orthanc.orthanc  # the module-scoped fixture: a real Orthanc with test images

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SEARCH = r"^GET /dicom-web/studies\?"  # QIDO-RS
RETRIEVE = r"^GET /dicom-web/studies/[^/?]+$"  # WADO-RS, a whole study
NOTHING = "nothing of this study was imported"


@dataclass
class Remote:
    archive: int  # the registered archive, behind the proxy
    proxy: FaultProxy
    studies: dict[str, set[str]]  # study UID -> its SOP instance UIDs in Orthanc
    two: str  # the study with two instances


@pytest.fixture
def remote(session, admin, orthanc: Orthanc) -> Iterator[Remote]:
    studies: dict[str, set[str]] = {}
    for sop, data in orthanc.originals.items():
        study = str(pydicom.dcmread(io.BytesIO(data)).StudyInstanceUID)
        studies.setdefault(study, set()).add(sop)
    (two,) = [uid for uid, sops in studies.items() if len(sops) == 2]
    with FaultProxy(orthanc.http_port) as proxy:
        archive = add_archive(
            session,
            admin,
            name="Orthanc behind the fault proxy",
            kind="dicomweb",
            url=proxy.url("/dicom-web"),
            auth="basic",
            username=USER,
            secret=PASSWORD,
        ).id
        yield Remote(archive, proxy, studies, two)


@dataclass(frozen=True)
class Stored:
    cases: int
    origins: int
    entries: int
    files: frozenset[str]


def _stored(session, settings) -> Stored:
    session.expire_all()

    def count(model: type) -> int:
        return session.exec(select(func.count()).select_from(model)).one()

    root = settings.store_dir
    files = frozenset(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return Stored(count(Case), count(CaseOrigin), count(LedgerEntry), files)


def _import(session, settings, imaging: ImagingProject, source, uids) -> ImportReport:
    return import_studies(session, settings, imaging.dataowner, imaging.project_id, source, uids)


def _assert_complete(session, settings, imaging, orthanc: Orthanc, remote: Remote, study: str):
    """Every instance of ``study`` is a case with its file, origin and ledger entry, as sent."""
    session.expire_all()
    origins = session.exec(
        select(CaseOrigin).where(
            CaseOrigin.project_id == imaging.project_id, CaseOrigin.study_uid == study
        )
    ).all()
    assert {o.sop_uid for o in origins} == remote.studies[study]
    logged = set(
        session.exec(
            select(LedgerEntry.record_id).where(
                LedgerEntry.record_type == "case", LedgerEntry.action == "case.upload"
            )
        ).all()
    )
    store = ImageStore.from_settings(settings)
    for origin in origins:
        case = session.get(Case, origin.case_id)
        assert str(case.id) in logged
        got = decode_any(store.read(case.stored_path), "stored").frames
        expected = decode_any(orthanc.originals[origin.sop_uid], "original").frames
        assert np.array_equal(got, expected), origin.sop_uid
    assert ledger.verify(session, imaging.owner, imaging.project_id).ok
    assert _stored(session, settings).files == set(session.exec(select(Case.stored_path)).all())


def _gaps(proxy: FaultProxy, pattern: str) -> list[float]:
    times = [s.at for s in proxy.seen(pattern)]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_a_busy_archive_is_retried_as_its_retry_after_says(
    session, settings, imaging, orthanc, remote
):
    remote.proxy.inject(answer(503, retry_after=1), SEARCH, times=1)
    remote.proxy.inject(answer(429, retry_after=1), RETRIEVE, times=2)
    found = search_studies(session, imaging.dataowner, imaging.project_id, remote.archive)
    assert {s.study_uid for s in found} == set(remote.studies)
    report = _import(session, settings, imaging, remote.archive, [remote.two])
    assert not report.failed_studies and len(report.files.ingested) == 2
    assert [s.fault for s in remote.proxy.seen(SEARCH)] == ["answer", "pass"]
    assert [s.fault for s in remote.proxy.seen(RETRIEVE)] == ["answer", "answer", "pass"]
    # each retry waited as long as the server asked (a correctness bound, not a speed one)
    assert all(gap >= 0.9 for gap in _gaps(remote.proxy, SEARCH) + _gaps(remote.proxy, RETRIEVE))
    _assert_complete(session, settings, imaging, orthanc, remote, remote.two)


def test_a_retry_after_past_the_wait_budget_is_reported_at_once(
    session, settings, imaging, orthanc, remote
):
    remote.proxy.inject(answer(429, retry_after=3600), RETRIEVE, times=None)
    before = _stored(session, settings)
    report = _import(session, settings, imaging, remote.archive, [remote.two])
    (failed,) = report.failed_studies
    assert "busy (HTTP 429)" in failed.reason and "asked to wait 3600 s" in failed.reason
    assert NOTHING in failed.reason
    assert len(remote.proxy.seen(RETRIEVE)) == 1  # no hour-long wait, no hammering
    assert _stored(session, settings) == before
    remote.proxy.clear()
    assert not _import(session, settings, imaging, remote.archive, [remote.two]).failed_studies
    _assert_complete(session, settings, imaging, orthanc, remote, remote.two)


def test_refused_credentials_are_reported_and_not_retried(
    session, settings, imaging, orthanc, remote
):
    remote.proxy.inject(answer(401), "", times=None)
    with pytest.raises(SourceError, match=r"refused the credentials \(HTTP 401\)"):
        search_studies(session, imaging.dataowner, imaging.project_id, remote.archive)
    before = _stored(session, settings)
    report = _import(session, settings, imaging, remote.archive, [remote.two])
    (failed,) = report.failed_studies
    assert "refused the credentials (HTTP 401); check the user and password" in failed.reason
    assert PASSWORD not in failed.reason
    assert len(remote.proxy.seen(SEARCH)) == 1 and len(remote.proxy.seen(RETRIEVE)) == 1
    assert _stored(session, settings) == before


def test_a_dropped_connection_is_retried_for_a_get(session, settings, imaging, orthanc, remote):
    remote.proxy.inject(drop(), RETRIEVE, times=2)
    report = _import(session, settings, imaging, remote.archive, [remote.two])
    assert not report.failed_studies, report.failed_studies
    assert [s.fault for s in remote.proxy.seen(RETRIEVE)] == ["drop", "drop", "pass"]
    _assert_complete(session, settings, imaging, orthanc, remote, remote.two)


def test_a_stow_is_not_sent_again_after_a_drop_but_after_a_busy_answer(orthanc, remote):
    """A POST the connection dropped may have been stored: never repeated. A 503 was not."""
    source = DicomWebSource(
        remote.proxy.url("/dicom-web"), username=USER, password=PASSWORD, backoff_ms=10
    )
    ds = pydicom.dcmread(io.BytesIO(dicom_bytes(identified_dicom(seed=77))))
    stow = r"^POST /dicom-web/studies"
    remote.proxy.inject(drop(), stow, times=1)
    with pytest.raises(SourceError, match="closed the connection without answering"):
        source.store_instances([ds])
    assert [s.fault for s in remote.proxy.seen(stow)] == ["drop"]
    remote.proxy.inject(answer(503, retry_after=1), stow, times=1)
    source.store_instances([ds])
    assert [s.fault for s in remote.proxy.seen(stow)] == ["drop", "answer", "pass"]
    auth = (USER, PASSWORD)
    base = f"http://127.0.0.1:{orthanc.http_port}"
    (found,) = requests.post(
        f"{base}/tools/lookup", data=str(ds.SOPInstanceUID), auth=auth, timeout=10
    ).json()
    requests.delete(f"{base}/instances/{found['ID']}", auth=auth, timeout=10).raise_for_status()


CUT_SHORT = [
    pytest.param(
        short_body(0.5),
        1,
        r"cut off before its end \(Connection broken: IncompleteRead",
        id="less than its Content-Length",
    ),
    pytest.param(
        cut_chunked(0.5),
        1,
        r"cut off before its end \(Response ended prematurely\)",
        id="chunked, no last chunk",
    ),
    pytest.param(
        cut_multipart(parts=1),
        1,
        r"truncated: the multipart answer ended before",
        id="multipart, one whole instance of two",
    ),
    pytest.param(
        cut_multipart(keep=0.5),
        1,
        r"truncated: the multipart answer ended before",
        id="multipart, cut inside the second instance",
    ),
    pytest.param(answer(500), 1, r"answered HTTP 500", id="HTTP 500"),
    pytest.param(
        drop(),
        None,
        r"closed the connection without answering \(4 attempts\)",
        id="dropped on every attempt",
    ),
]


@pytest.mark.parametrize(("fault", "times", "reason"), CUT_SHORT)
def test_a_failed_retrieval_leaves_nothing_and_a_retry_imports_the_whole_study(
    session, settings, imaging, orthanc, remote, fault: Fault, times: int | None, reason: str
):
    """Cut-off answers are errors, never a shorter study; nothing of the study stays."""
    remote.proxy.inject(fault, RETRIEVE, times=times)
    before = _stored(session, settings)
    report = _import(session, settings, imaging, remote.archive, [remote.two])
    (failed,) = report.failed_studies
    assert re.search(reason, failed.reason), failed.reason
    assert failed.reason.endswith(NOTHING) and not report.files.outcomes
    assert _stored(session, settings) == before
    assert ledger.verify(session, imaging.owner, imaging.project_id).ok
    remote.proxy.clear()
    report = _import(session, settings, imaging, remote.archive, [remote.two])
    assert not report.failed_studies and len(report.files.ingested) == 2
    _assert_complete(session, settings, imaging, orthanc, remote, remote.two)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        pytest.param(delay(3), "too slow: no answer within the timeout", id="no answer"),
        pytest.param(stall(3), "too slow: it stopped sending within the timeout", id="stalled"),
    ],
)
def test_a_slow_archive_is_reported_as_too_slow(
    session, settings, admin, imaging, orthanc, remote, fault: Fault, reason: str
):
    source = DicomWebSource(
        remote.proxy.url("/dicom-web"), username=USER, password=PASSWORD, timeout=(2, 1)
    )
    remote.proxy.inject(fault, RETRIEVE, times=1)
    before = _stored(session, settings)
    report = import_studies(session, settings, admin, imaging.project_id, source, [remote.two])
    (failed,) = report.failed_studies
    assert reason in failed.reason and NOTHING in failed.reason
    assert len(remote.proxy.seen(RETRIEVE)) == 1  # a timeout is not retried
    assert _stored(session, settings) == before
    report = import_studies(session, settings, admin, imaging.project_id, source, [remote.two])
    assert not report.failed_studies
    _assert_complete(session, settings, imaging, orthanc, remote, remote.two)


def test_the_archive_going_down_and_coming_back(session, settings, imaging, orthanc, remote):
    uids = sorted(remote.studies)
    remote.proxy.down()
    with pytest.raises(SourceError, match=r"connection refused\); is the server running\?"):
        search_studies(session, imaging.dataowner, imaging.project_id, remote.archive)
    before = _stored(session, settings)
    report = _import(session, settings, imaging, remote.archive, uids)
    assert len(report.failed_studies) == len(uids)
    assert all("connection refused" in s.reason for s in report.failed_studies)
    assert _stored(session, settings) == before
    remote.proxy.up()
    report = _import(session, settings, imaging, remote.archive, uids)
    assert not report.failed_studies
    for study in uids:
        _assert_complete(session, settings, imaging, orthanc, remote, study)


def test_one_failing_study_does_not_stop_the_rest_and_a_retry_completes_it(
    session, settings, imaging, orthanc, remote
):
    uids = sorted(remote.studies)
    remote.proxy.inject(short_body(0.3), f"^GET /dicom-web/studies/{re.escape(remote.two)}$")
    report = _import(session, settings, imaging, remote.archive, uids)
    assert [s.study_uid for s in report.failed_studies] == [remote.two]
    assert len(report.files.ingested) == sum(len(s) for s in remote.studies.values()) - 2
    session.expire_all()
    assert not session.exec(select(CaseOrigin).where(CaseOrigin.study_uid == remote.two)).all()
    assert ledger.verify(session, imaging.owner, imaging.project_id).ok
    again = _import(session, settings, imaging, remote.archive, uids)
    assert not again.failed_studies and len(again.files.ingested) == 2
    assert len(again.files.outcomes) - 2 == len(report.files.ingested)  # the rest: duplicates
    for study in uids:
        _assert_complete(session, settings, imaging, orthanc, remote, study)
