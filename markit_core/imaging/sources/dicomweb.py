"""DICOMweb source (QIDO-RS search, WADO-RS retrieve) over dicomweb-client.

Works with Orthanc's DICOMweb plugin, Google Cloud Healthcare API, and any
vendor-neutral archive: authentication is HTTP basic (user and password) or a
bearer token (``gcloud auth print-access-token``). Requests time out, busy
servers (HTTP 429/503) are retried with exponential back-off (honouring
``Retry-After`` within a budget), and every failure becomes a ``SourceError``
that says which of the usual things went wrong: the server is down, too slow,
refused the credentials, cut its answer short, or sent something that is not
DICOM. When a retry is safe, and why a truncated answer is refused rather than
taken for a shorter study, is in :mod:`.dicomweb_transport`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
import requests.adapters
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from markit_core.errors import SourceError, ValidationError
from markit_core.imaging.sources.base import STUDY_FIELDS, check_filters, json_value
from markit_core.imaging.sources.dicomweb_transport import (
    BoundedRetry,
    StrictDICOMwebClient,
    TruncatedAnswer,
    connection_error,
    cut_off_error,
)

__all__ = ["DicomWebSource"]

T = TypeVar("T")
#: Ask for the stored transfer syntax, so compressed originals arrive untouched.
_ANY_TS = (("application/dicom", "*"),)
_RETRY_CODES = (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
_PAGE = 500
_MAX_PAGES = 200  # 100,000 results: beyond that, narrow the search


class DicomWebSource:
    """Search and retrieve over DICOMweb.

    Parameters
    ----------
    url : str
        Service root, e.g. ``http://127.0.0.1:8042/dicom-web`` (Orthanc) or
        ``https://healthcare.googleapis.com/v1/projects/P/locations/L/datasets/D/dicomStores/S/dicomWeb``.
        A user and password in the URL (``http://user:pass@host/...``) are
        used for HTTP basic authentication and removed from the URL, so they
        never appear in ``url``, ``description``, messages or case origins.
    token : str | None
        Bearer token (sent as ``Authorization: Bearer ...``).
    username, password : str | None
        HTTP basic authentication; mutually exclusive with ``token`` and with
        credentials in the URL.
    timeout : float | tuple[float, float]
        Seconds to connect and to wait for data (``(connect, read)`` or one number).
    retries : int
        Attempts for a request answered with 429 or 503, or (GET only) whose
        connection dropped before an answer (1 = no retry); a refused
        connection, a timeout, 401 and 500 are reported at once, not retried.
    backoff_ms : int
        Exponential back-off factor between attempts, in milliseconds
        (a ``Retry-After`` header from the server takes precedence).
    max_wait_s : float
        Seconds one request may wait in total between its attempts; a server
        asking for a longer ``Retry-After`` gets its answer reported at once.
    session : requests.Session | None
        A session to use (e.g. one with a proxy or client certificate).
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float | tuple[float, float] = (5.0, 60.0),
        retries: int = 4,
        backoff_ms: int = 500,
        max_wait_s: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        if not url or not url.startswith(("http://", "https://")):
            raise ValidationError(
                f"DICOMweb URL must start with http:// or https://, got {_redacted(url or '')!r}"
            )
        url, url_user, url_password = _split_credentials(url)
        if url_user is not None:
            if token or username or password:
                raise ValidationError(
                    "credentials are given both in the DICOMweb URL and as "
                    "arguments; give them only once"
                )
            username, password = url_user, url_password
        if token and (username or password):
            raise ValidationError("give either a bearer token or a user and password, not both")
        if (username is None) != (password is None):
            raise ValidationError("basic authentication needs both a user and a password")
        self.url = url.rstrip("/")
        self.description = f"dicomweb {self.url}"
        self._retries = max(1, int(retries))
        http = session or requests.Session()
        retry = BoundedRetry(
            total=self._retries - 1,
            connect=0,
            read=self._retries - 1,
            other=0,
            status=self._retries - 1,
            status_forcelist=_RETRY_CODES,
            backoff_factor=backoff_ms / 1000.0,
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
            max_wait=max_wait_s,
        )
        for prefix in ("http://", "https://"):
            http.mount(prefix, _WildcardAdapter(max_retries=retry))
        if token:
            http.headers["Authorization"] = f"Bearer {token}"
        elif username:
            http.auth = (username, password or "")
        try:
            self._client = StrictDICOMwebClient(self.url, session=http, timeout=timeout)
        except (ValueError, requests.RequestException) as e:
            raise SourceError(f"invalid DICOMweb URL {self.url!r}: {e}") from e
        # Retries live in the session (urllib3), not in dicomweb-client: its
        # `retrying` decorator also retries refused connections, which would make
        # "server down" take many seconds to report.
        self._client.set_http_retry_params(retry=False)

    # -- searching ---------------------------------------------------------------

    def search_for_studies(
        self, limit: int | None = None, offset: int | None = None, **filters: str
    ) -> list[dict[str, Any]]:
        """QIDO-RS ``/studies`` with DICOM-keyword filters (all pages when ``limit`` is None)."""
        clean = check_filters(filters) or None
        return self._paged(
            "search for studies",
            "StudyInstanceUID",
            limit,
            offset,
            lambda lim, off: self._client.search_for_studies(
                limit=lim, offset=off, fields=STUDY_FIELDS, search_filters=clean
            ),
        )

    def search_for_series(self, study_uid: str) -> list[dict[str, Any]]:
        """QIDO-RS ``/studies/{uid}/series``."""
        return self._paged(
            f"search series of study {study_uid}",
            "SeriesInstanceUID",
            None,
            None,
            lambda lim, off: self._client.search_for_series(
                study_instance_uid=study_uid, limit=lim, offset=off
            ),
        )

    def search_for_instances(
        self, study_uid: str, series_uid: str | None = None
    ) -> list[dict[str, Any]]:
        """QIDO-RS ``/studies/{uid}[/series/{uid}]/instances``."""
        return self._paged(
            f"search instances of study {study_uid}",
            "SOPInstanceUID",
            None,
            None,
            lambda lim, off: self._client.search_for_instances(
                study_instance_uid=study_uid, series_instance_uid=series_uid, limit=lim, offset=off
            ),
        )

    def _paged(
        self,
        what: str,
        key: str,
        limit: int | None,
        offset: int | None,
        fetch: Callable[[int, int], list[dict[str, Any]]],
    ) -> list[dict[str, Any]]:
        """Fetch one page (``limit`` given) or all pages, robust to servers that ignore offset.

        dicomweb-client's own ``get_remaining`` pages until an empty answer,
        which never comes from a server that ignores ``offset`` for some filters
        (Orthanc does for ``ModalitiesInStudy``): paging here stops as soon as a
        page brings nothing new.
        """
        if limit is not None:
            return self._call(what, lambda: fetch(limit, offset or 0))
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        start = offset or 0
        for _page in range(_MAX_PAGES):
            page = self._call(what, functools.partial(fetch, _PAGE, start))
            fresh = [item for item in page if json_value(item, key) not in seen]
            seen.update(json_value(item, key) for item in fresh)
            results.extend(fresh)
            if len(page) < _PAGE or not fresh:
                break
            start += len(page)
        return results

    # -- retrieving --------------------------------------------------------------

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
        """WADO-RS one instance, in its stored transfer syntax."""
        ds = self._call(
            f"retrieve instance {sop_uid}",
            lambda: self._client.retrieve_instance(
                study_uid, series_uid, sop_uid, media_types=_ANY_TS
            ),
        )
        return self._checked(ds, sop_uid)

    def retrieve_study(self, study_uid: str) -> Iterator[Dataset]:
        """WADO-RS a whole study, streamed instance by instance."""
        iterator = self._call(
            f"retrieve study {study_uid}",
            lambda: self._client.iter_study(study_uid, media_types=_ANY_TS),
        )
        while True:
            ds = self._call(f"retrieve study {study_uid}", lambda: next(iterator, None))
            if ds is None:
                return
            yield self._checked(ds, study_uid)

    # -- storing -----------------------------------------------------------------

    def store_instances(self, datasets: list[Dataset]) -> Dataset:
        """STOW-RS ``datasets``; SourceError if the server refuses any of them."""
        response = self._call(
            f"store {len(datasets)} instance(s)", lambda: self._client.store_instances(datasets)
        )
        failed = getattr(response, "FailedSOPSequence", None) or []
        if failed:
            uids = ", ".join(str(getattr(f, "ReferencedSOPInstanceUID", "?")) for f in failed)
            raise SourceError(f"{self.url} refused to store {len(failed)} instance(s): {uids}")
        return response

    # -- errors ------------------------------------------------------------------

    def _checked(self, ds: Any, what: str) -> Dataset:
        if not isinstance(ds, Dataset) or "SOPInstanceUID" not in ds:
            raise SourceError(
                f"{self.url} returned something that is not a DICOM instance for {what}"
            )
        return ds

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` and turn every client/transport failure into a clear ``SourceError``."""
        try:
            return fn()
        except requests.exceptions.ConnectTimeout as e:
            raise SourceError(
                f"cannot {what}: {self.url} did not accept a connection in time "
                "(server down or unreachable?)"
            ) from e
        except requests.exceptions.Timeout as e:
            raise SourceError(
                f"cannot {what}: {self.url} is too slow: no answer within the timeout"
            ) from e
        except requests.exceptions.SSLError as e:
            raise SourceError(f"cannot {what}: TLS error talking to {self.url}: {e}") from e
        except requests.exceptions.ConnectionError as e:
            raise connection_error(e, what, self.url, self._retries) from e
        except (requests.exceptions.ChunkedEncodingError, TruncatedAnswer) as e:
            raise cut_off_error(e, what, self.url) from e
        except requests.exceptions.HTTPError as e:
            raise SourceError(f"cannot {what}: {_http_reason(e.response, self.url)}") from e
        except SourceError:
            raise
        except Exception as e:  # noqa: BLE001 - classify the library's remaining failures
            raise _other_error(e, what, self.url, self._retries) from e


def _split_credentials(url: str) -> tuple[str, str | None, str]:
    """``(url without user info, user or None, password)`` of an http(s) URL."""
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ValidationError(f"invalid DICOMweb URL {_redacted(url)!r}: {e}") from e
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None, ""
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), unquote(user), unquote(password)


def _redacted(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (for messages)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1***@", url)


class _WildcardAdapter(requests.adapters.HTTPAdapter):
    """Sends QIDO wildcards (``*``, ``?``) and list commas unescaped.

    dicomweb-client percent-encodes every query value, and some servers
    (Orthanc 1.10 with DICOMweb 1.7, the Debian version) do not decode the
    query string, so ``PatientID=12%2A`` matches nothing. RFC 3986 allows these
    characters literally in a query, so sending them raw is correct for all servers.
    """

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = request.url or ""
        if "?" in url:
            base, _, query = url.partition("?")
            for escaped, raw in (
                ("%2A", "*"),
                ("%2a", "*"),
                ("%3F", "?"),
                ("%3f", "?"),
                ("%2C", ","),
                ("%2c", ","),
            ):
                query = query.replace(escaped, raw)
            request.url = f"{base}?{query}"
        return super().send(request, *args, **kwargs)


def _http_reason(response: requests.Response | None, url: str) -> str:
    code = response.status_code if response is not None else 0
    if code in (401, 403):
        return (
            f"{url} refused the credentials (HTTP {code}); check the user and password or the token"
        )
    if code == 404:
        return f"not found on {url} (HTTP 404): wrong URL or unknown UID"
    if code in (429, 503):
        after = (response.headers.get("Retry-After") or "").strip() if response is not None else ""
        asked = f" (its last answer asked to wait {after} s)" if after not in ("", "0") else ""
        return f"{url} is busy (HTTP {code}) and kept refusing{asked}; try again later"
    reason = response.reason if response is not None else ""
    return f"{url} answered HTTP {code} {reason}".rstrip()


def _other_error(e: Exception, what: str, url: str, attempts: int) -> SourceError:
    if isinstance(e, requests.exceptions.RetryError):  # retries used up on 429/503
        return SourceError(
            f"cannot {what}: {url} is busy and still refused after {attempts} "
            "attempts; try again later"
        )
    if isinstance(e, (InvalidDicomError, ValueError, KeyError, EOFError)):
        return SourceError(
            f"cannot {what}: {url} returned something that is not DICOM "
            f"({str(e).splitlines()[0][:200] if str(e) else type(e).__name__})"
        )
    return SourceError(f"cannot {what}: {type(e).__name__}: {e}")
