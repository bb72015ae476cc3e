"""DIMSE source: C-FIND to search a PACS, C-GET (or C-MOVE) to retrieve, via pynetdicom.

C-GET is preferred: the images come back on the association MarkIt opened,
so the PACS needs no route to MarkIt. MarkIt takes the storage SCP role for
the SOP classes the study holds (learned with an IMAGE-level C-FIND) and
offers one presentation context per transfer syntax, so the PACS can send
each instance exactly as stored instead of transcoding it. C-MOVE is the
fallback for archives without C-GET: MarkIt listens briefly on
``move_address`` as ``calling_aet``, which must be registered on the PACS.

Every failure is a ``SourceError`` saying what happened: the PACS is not
listening, did not answer in time, rejected the association (AE titles), or
failed the request (with its status code).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import uid_to_sop_class

from markit_core.errors import SourceError, ValidationError
from markit_core.imaging.sources.base import STUDY_FIELDS, check_filters, json_value, query_dataset

__all__ = ["DimseSource"]

TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]
#: Storage classes offered when the PACS does not say which ones a study holds.
# Study Root Query/Retrieve Information Model FIND, MOVE, GET (PS3.4 C.6.2). pynetdicom makes
# its SOP class names at import time, where a type checker cannot see them; the UIDs can.
_FIND = uid_to_sop_class("1.2.840.10008.5.1.4.1.2.2.1")
_MOVE = uid_to_sop_class("1.2.840.10008.5.1.4.1.2.2.2")
_GET = uid_to_sop_class("1.2.840.10008.5.1.4.1.2.2.3")
_STORAGE_CLASSES: list[str] = [
    cx.abstract_syntax for cx in AllStoragePresentationContexts if cx.abstract_syntax
]
_FALLBACK_CLASSES = _STORAGE_CLASSES[:120]
_SERIES_FIELDS = (
    "SeriesInstanceUID",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
)
_IMAGE_FIELDS = ("SOPInstanceUID", "SOPClassUID", "InstanceNumber")
_PENDING = (0xFF00, 0xFF01)
_MAX_CONTEXTS = 127  # 128 per association, one is the query/retrieve model


class DimseSource:
    """Search and retrieve from a PACS over DICOM networking.

    Parameters
    ----------
    host, port : str, int
        The PACS's address and DICOM port.
    called_aet : str
        The PACS's AE title.
    calling_aet : str
        MarkIt's AE title (register it on the PACS; for C-MOVE also with
        ``move_address``).
    retrieve : str
        ``"get"`` (C-GET, default) or ``"move"`` (C-MOVE to ourselves).
    move_address : tuple[str, int] | None
        Where MarkIt's temporary storage SCP listens for C-MOVE; defaults to
        ``("127.0.0.1", 11113)``.
    timeout : float
        Seconds for connecting, association negotiation and each DIMSE reply.
    """

    def __init__(
        self,
        host: str,
        port: int,
        called_aet: str,
        calling_aet: str = "MARKIT",
        *,
        retrieve: str = "get",
        move_address: tuple[str, int] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if retrieve not in ("get", "move"):
            raise ValidationError(f"retrieve must be 'get' or 'move', got {retrieve!r}")
        for label, aet in (("called", called_aet), ("calling", calling_aet)):
            if not aet or len(aet) > 16 or "\\" in aet:
                raise ValidationError(f"{label} AE title must be 1-16 characters, got {aet!r}")
        if not 0 < int(port) < 65536:
            raise ValidationError(f"invalid port {port}")
        self.host, self.port = host, int(port)
        self.called_aet, self.calling_aet = called_aet, calling_aet
        self.retrieve = retrieve
        self.move_address = move_address or ("127.0.0.1", 11113)
        self.timeout = float(timeout)
        self.description = f"dimse {called_aet}@{host}:{self.port}"

    # -- searching ---------------------------------------------------------------

    def search_for_studies(
        self, limit: int | None = None, offset: int | None = None, **filters: str
    ) -> list[dict[str, Any]]:
        """C-FIND at STUDY level with DICOM-keyword filters."""
        query = query_dataset("STUDY", STUDY_FIELDS, check_filters(filters))
        found = self._find(query, "search for studies")
        start = offset or 0
        return found[start : start + limit] if limit is not None else found[start:]

    def search_for_series(self, study_uid: str) -> list[dict[str, Any]]:
        """C-FIND at SERIES level within one study."""
        query = query_dataset("SERIES", _SERIES_FIELDS, {"StudyInstanceUID": study_uid})
        return self._find(query, f"search series of study {study_uid}")

    def search_for_instances(
        self, study_uid: str, series_uid: str | None = None
    ) -> list[dict[str, Any]]:
        """C-FIND at IMAGE level (hierarchically: each series of the study if none is given)."""
        series = (
            [series_uid]
            if series_uid
            else [json_value(s, "SeriesInstanceUID") for s in self.search_for_series(study_uid)]
        )
        found: list[dict[str, Any]] = []
        for uid in (u for u in series if u):
            query = query_dataset(
                "IMAGE", _IMAGE_FIELDS, {"StudyInstanceUID": study_uid, "SeriesInstanceUID": uid}
            )
            found += self._find(query, f"search instances of series {uid}")
        return found

    # -- retrieving --------------------------------------------------------------

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
        """C-GET/C-MOVE of one instance."""
        ident = Dataset()
        ident.QueryRetrieveLevel = "IMAGE"
        ident.StudyInstanceUID, ident.SeriesInstanceUID = study_uid, series_uid
        ident.SOPInstanceUID = sop_uid
        classes = [
            json_value(i, "SOPClassUID")
            for i in self.search_for_instances(study_uid, series_uid)
            if json_value(i, "SOPInstanceUID") == sop_uid
        ]
        got = self._retrieve(ident, [c for c in classes if c], f"instance {sop_uid}")
        if not got:
            raise SourceError(f"{self.description} sent no instance for {sop_uid}")
        return got[0]

    def retrieve_study(self, study_uid: str) -> Iterator[Dataset]:
        """Every instance of a study (retrieved on one association, then yielded)."""
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.StudyInstanceUID = study_uid
        instances = self.search_for_instances(study_uid)
        if not instances:
            raise SourceError(f"study {study_uid} not found on {self.description}")
        classes = sorted({json_value(i, "SOPClassUID") for i in instances} - {""})
        yield from self._retrieve(ident, classes, f"study {study_uid}")

    # -- DIMSE plumbing ----------------------------------------------------------

    @property
    def _hint(self) -> str:
        return (
            f"is {self.calling_aet!r} registered on the PACS and allowed to query and "
            f"retrieve? did it answer within {self.timeout:g} s?"
        )

    def _ae(self) -> AE:
        ae = AE(ae_title=self.calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        ae.connection_timeout = self.timeout
        return ae

    def _check_reachable(self, what: str) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout):
                pass
        except ConnectionRefusedError as e:
            raise SourceError(
                f"cannot {what}: {self.host}:{self.port} refused the connection "
                "(is the PACS running and is this its DICOM port?)"
            ) from e
        except TimeoutError as e:
            raise SourceError(
                f"cannot {what}: {self.host}:{self.port} did not answer within {self.timeout:g} s"
            ) from e
        except OSError as e:
            raise SourceError(
                f"cannot {what}: cannot reach {self.host}:{self.port} ({e.strerror or e})"
            ) from e

    def _associate(
        self, ae: AE, what: str, ext_neg: list | None = None, handlers: list | None = None
    ) -> Any:
        self._check_reachable(what)
        capture = _RejectCapture()
        logger = logging.getLogger("pynetdicom")
        logger.addHandler(capture)
        try:
            assoc = ae.associate(
                self.host,
                self.port,
                ae_title=self.called_aet,
                ext_neg=ext_neg,
                evt_handlers=handlers,
            )
        finally:
            logger.removeHandler(capture)
        if assoc.is_established:
            return assoc
        if assoc.is_rejected:
            raise SourceError(
                f"cannot {what}: {self.description} rejected the association"
                f"{' (' + capture.reason + ')' if capture.reason else ''}; check the called AE "
                f"title {self.called_aet!r} and that {self.calling_aet!r} is registered on the "
                "PACS"
            )
        raise SourceError(
            f"cannot {what}: {self.description} aborted the association or did "
            f"not answer within {self.timeout:g} s"
        )

    def _find(self, query: Dataset, what: str) -> list[dict[str, Any]]:
        ae = self._ae()
        ae.add_requested_context(_FIND)
        assoc = self._associate(ae, what)
        results: list[dict[str, Any]] = []
        try:
            for status, identifier in assoc.send_c_find(query, _FIND):
                code = _status(status, what, self.description, hint=self._hint)
                if code in _PENDING and identifier is not None:
                    for kw in ("QueryRetrieveLevel", "RetrieveAETitle", "SpecificCharacterSet"):
                        if kw in identifier:
                            del identifier[kw]
                    results.append(identifier.to_json_dict())
        finally:
            assoc.release()
        return results

    def _retrieve(self, ident: Dataset, classes: list[str], what: str) -> list[Dataset]:
        received: list[Dataset] = []
        lock = threading.Lock()

        def on_store(event: Any) -> int:
            ds = event.dataset
            ds.file_meta = event.file_meta
            with lock:
                received.append(ds)
            return 0x0000

        if self.retrieve == "move":
            self._move(ident, on_store, what)
        else:
            self._get(ident, classes, on_store, what)
        return received

    def _get(self, ident: Dataset, classes: list[str], on_store: Any, what: str) -> None:
        ae = self._ae()
        ae.add_requested_context(_GET)
        classes = classes or _FALLBACK_CLASSES
        per_ts = len(classes) * len(TRANSFER_SYNTAXES) <= _MAX_CONTEXTS
        for uid in classes[:_MAX_CONTEXTS]:
            if per_ts:  # one context per syntax: the PACS can send each file as stored
                for ts in TRANSFER_SYNTAXES:
                    ae.add_requested_context(uid, ts)
            else:
                ae.add_requested_context(uid, TRANSFER_SYNTAXES)
        roles = [build_role(uid, scp_role=True) for uid in classes[:_MAX_CONTEXTS]]
        assoc = self._associate(
            ae, f"retrieve {what}", ext_neg=roles, handlers=[(evt.EVT_C_STORE, on_store)]
        )
        try:
            self._drain(assoc.send_c_get(ident, _GET), f"retrieve {what}")
        finally:
            assoc.release()

    def _move(self, ident: Dataset, on_store: Any, what: str) -> None:
        scp = self._ae()
        for uid in _STORAGE_CLASSES:
            scp.add_supported_context(uid, TRANSFER_SYNTAXES)
        try:
            server = scp.start_server(
                self.move_address, block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
            )
        except OSError as e:
            raise SourceError(
                f"cannot retrieve {what}: cannot listen on "
                f"{self.move_address[0]}:{self.move_address[1]} for C-MOVE "
                f"({e.strerror or e})"
            ) from e
        if server is None:  # only a blocking server returns nothing
            raise SourceError(f"cannot retrieve {what}: the C-MOVE listener did not start")
        try:
            ae = self._ae()
            ae.add_requested_context(_MOVE)
            assoc = self._associate(ae, f"retrieve {what}")
            try:
                self._drain(assoc.send_c_move(ident, self.calling_aet, _MOVE), f"retrieve {what}")
            finally:
                assoc.release()
        finally:
            server.shutdown()

    def _drain(self, responses: Iterator[tuple[Dataset, Dataset | None]], what: str) -> None:
        last: Dataset | None = None
        for status, _ident in responses:
            _status(status, what, self.description, allow_warning=True, hint=self._hint)
            last = status
        if last is None:  # pragma: no cover - pynetdicom always yields at least once
            raise SourceError(f"cannot {what}: no answer from {self.description}")
        failed = int(last.get("NumberOfFailedSuboperations", 0) or 0)
        warned = int(last.get("NumberOfWarningSuboperations", 0) or 0)
        if int(last.Status) == 0xB000 or failed:
            raise SourceError(
                f"cannot {what}: {self.description} could not send "
                f"{failed or 'some'} "
                f"instances ({warned} with warnings); nothing from it was imported"
            )


class _RejectCapture(logging.Handler):
    """Picks the rejection reason out of pynetdicom's log for the error message."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.reason = ""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Reason: "):
            self.reason = message[len("Reason: ") :]


def _status(
    status: Dataset, what: str, source: str, allow_warning: bool = False, hint: str = ""
) -> int:
    """The status code of a DIMSE response; raises ``SourceError`` on failure or timeout."""
    if status is None or "Status" not in status:
        raise SourceError(
            f"cannot {what}: {source} aborted the request or stopped answering ({hint})"
        )
    code = int(status.Status)
    if code in _PENDING or code == 0x0000 or (allow_warning and code == 0xB000):
        return code
    if code == 0xFE00:
        raise SourceError(f"cannot {what}: {source} cancelled the request")
    comment = status.get("ErrorComment", "")
    raise SourceError(
        f"cannot {what}: {source} answered with failure status 0x{code:04X}"
        f"{' (' + str(comment) + ')' if comment else ''}"
    )
