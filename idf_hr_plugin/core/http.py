"""One HTTP client for all of IdF HR, with pluggable transports.

Inside QGIS the transport goes through QGIS's network stack (proxies, SSL settings,
``authcfg``: see ``gis/network.py``); outside QGIS (CLI, core tests) it is ``requests``.
The client adds what every caller needs: timeouts, retries with back-off on 429/5xx
(honouring ``Retry-After``), a user agent, truncated-body detection, user-readable
errors, cancellation, and resumable downloads written atomically.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import urlencode, urlsplit

from .errors import Cancelled, NetworkError
from .i18n import tr

LOG = logging.getLogger("idf_hr.http")

USER_AGENT = "IdF-HR-QGIS-plugin (+https://github.com/idf-hr)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0

CancelCheck = Callable[[], bool]
ProgressCallback = Callable[[int, int | None], None]


@dataclass
class HttpResponse:
    """A complete HTTP response (body fully read)."""

    url: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case keys
    content: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        if "charset=" in ctype:
            charset = ctype.split("charset=", 1)[1].split(";")[0].strip() or "utf-8"
        return self.content.decode(charset, errors="replace")

    def json(self) -> Any:
        """Decode the body as JSON, or raise a :class:`NetworkError` saying the server sent garbage."""
        try:
            return json.loads(self.content.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise NetworkError(
                tr(
                    "The server at {host} did not send valid JSON. "
                    "Check that the address points to the right service."
                ).format(host=_host(self.url)),
                url=self.url,
                status=self.status,
            ) from exc


class TransportError(Exception):
    """Low-level failure raised by transports; ``kind`` is timeout|connection|truncated|other."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail


class Transport(Protocol):
    """Sends one request and returns the whole response; raises :class:`TransportError`."""

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> HttpResponse: ...


class RequestsTransport:
    """Transport over ``requests`` (used outside QGIS)."""

    def __init__(self) -> None:
        import requests  # local import keeps module import cheap in QGIS

        self._requests = requests
        self._session = requests.Session()
        self._session.trust_env = True

    def request(self, method, url, headers, body, timeout):
        rq = self._requests
        try:
            resp = self._session.request(
                method, url, headers=dict(headers), data=body, timeout=timeout, allow_redirects=True
            )
            content = resp.content
        except rq.exceptions.Timeout as exc:
            raise TransportError("timeout", str(exc)) from exc
        except rq.exceptions.ChunkedEncodingError as exc:
            raise TransportError("truncated", str(exc)) from exc
        except rq.exceptions.ConnectionError as exc:
            text = str(exc)
            kind = "truncated" if "IncompleteRead" in text else "connection"
            raise TransportError(kind, text) from exc
        except rq.exceptions.RequestException as exc:
            raise TransportError("other", str(exc)) from exc
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
        check_complete(method, hdrs, content)
        return HttpResponse(url=resp.url, status=resp.status_code, headers=hdrs, content=content)


def check_complete(method: str, headers: Mapping[str, str], content: bytes) -> None:
    """Raise a ``truncated`` :class:`TransportError` when the body is shorter than Content-Length."""
    expected = headers.get("content-length", "")
    if (
        expected.isdigit()
        and method != "HEAD"
        and "content-encoding" not in headers
        and int(expected) != len(content)
    ):
        raise TransportError("truncated", f"received {len(content)} of {expected} bytes")


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _status_advice(status: int) -> str:
    if status in (401, 403):
        return tr("Access was refused: check the authentication configuration (authcfg) of this source.")
    if status == 404:
        return tr("The address was not found: check the URL in the source settings.")
    if status == 429:
        return tr("The service is rate-limiting requests: wait a minute and try again.")
    if status >= 500:
        return tr("The service is failing on its side: try again later.")
    return tr("Check the address and parameters of this source.")


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """The client every core module uses; see module docstring."""

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        user_agent: str = USER_AGENT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.transport: Transport = transport if transport is not None else RequestsTransport()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.user_agent = user_agent
        self.default_headers = dict(headers or {})

    # -- basic requests -------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
        accept_status: tuple[int, ...] = (),
        cancel: CancelCheck | None = None,
    ) -> HttpResponse:
        """Send a request with retries; raise :class:`NetworkError` unless 2xx (or ``accept_status``)."""
        if params:
            sep = "&" if urlsplit(url).query else "?"
            url = f"{url}{sep}{urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)}"
        hdrs = {"User-Agent": self.user_agent, **self.default_headers, **(headers or {})}
        timeout = self.timeout if timeout is None else timeout
        attempt = 0
        while True:
            if cancel is not None and cancel():
                raise Cancelled()
            attempt += 1
            try:
                resp = self.transport.request(method, url, hdrs, body, timeout)
            except TransportError as exc:
                if attempt <= self.retries and exc.kind in ("timeout", "connection", "truncated"):
                    LOG.info("retrying %s after %s (%s)", url, exc.kind, exc.detail)
                    self._sleep(self.backoff * 2 ** (attempt - 1), cancel)
                    continue
                raise NetworkError(self._transport_message(url, exc, timeout), url=url) from exc
            if resp.ok or resp.status in accept_status:
                return resp
            if resp.status in RETRY_STATUSES and attempt <= self.retries:
                wait = _retry_after_seconds(resp.headers.get("retry-after"))
                if wait is None:
                    wait = self.backoff * 2 ** (attempt - 1)
                LOG.info("retrying %s after HTTP %s in %.1fs", url, resp.status, wait)
                self._sleep(min(wait, MAX_RETRY_AFTER_S), cancel)
                continue
            raise NetworkError(
                tr("The server at {host} answered HTTP {status} for {url}.").format(
                    host=_host(url), status=resp.status, url=url
                )
                + " "
                + _status_advice(resp.status),
                url=url,
                status=resp.status,
            )

    def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", url, **kwargs)

    def get_json(self, url: str, **kwargs: Any) -> Any:
        return self.get(url, **kwargs).json()

    def post_json(self, url: str, payload: Any, **kwargs: Any) -> Any:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        body = json.dumps(payload).encode("utf-8")
        return self.request("POST", url, body=body, headers=headers, **kwargs).json()

    def get_range(self, url: str, start: int, end: int, **kwargs: Any) -> HttpResponse:
        """Fetch bytes ``start..end`` inclusive (the server may answer 200 with the whole body)."""
        headers = {"Range": f"bytes={start}-{end}", **kwargs.pop("headers", {})}
        return self.get(url, headers=headers, **kwargs)

    # -- downloads ---------------------------------------------------------
    def download(
        self,
        url: str,
        dest: str | os.PathLike[str],
        *,
        sha256: str | None = None,
        chunk_size: int = 8 * 1024 * 1024,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> Path:
        """Download ``url`` to ``dest`` in ranged chunks, resumable, verified, moved into place at the end.

        A ``dest.part`` file left by an interrupted run is resumed. If ``sha256`` is given and
        does not match, nothing is kept and a :class:`NetworkError` says so.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        total: int | None = None
        with open(part, "ab") as fh:
            while total is None or have < total:
                if cancel is not None and cancel():
                    raise Cancelled(tr("Download cancelled; run it again to resume where it stopped."))
                resp = self.get_range(url, have, have + chunk_size - 1, cancel=cancel)
                if resp.status == 206:
                    total = _content_range_total(resp.headers.get("content-range"))
                    if total is None:
                        raise NetworkError(
                            tr(
                                "The server at {host} sent a partial answer without a valid Content-Range."
                            ).format(host=_host(url)),
                            url=url,
                        )
                    fh.write(resp.content)
                    have += len(resp.content)
                    if not resp.content:
                        raise NetworkError(
                            tr("The server at {host} sent an empty chunk.").format(host=_host(url)), url=url
                        )
                else:  # server ignores Range: the body is the whole file
                    fh.seek(0)
                    fh.truncate()
                    fh.write(resp.content)
                    have = total = len(resp.content)
                fh.flush()
                if progress is not None:
                    progress(have, total)
            fh.flush()
            os.fsync(fh.fileno())
        if sha256:
            digest = file_sha256(part)
            if digest.lower() != sha256.lower():
                part.unlink(missing_ok=True)
                raise NetworkError(
                    tr(
                        "The file downloaded from {host} does not match its expected checksum "
                        "(sha256 {got}… instead of {want}…). It was deleted; check the URL "
                        "and the checksum, then try again."
                    ).format(host=_host(url), got=digest[:12], want=sha256[:12]),
                    url=url,
                )
        os.replace(part, dest)
        return dest

    # -- helpers -----------------------------------------------------------
    @staticmethod
    def _transport_message(url: str, exc: TransportError, timeout: float) -> str:
        host = _host(url)
        if exc.kind == "timeout":
            return tr(
                "{host} did not answer within {timeout} s. Check your network connection or "
                "proxy, or raise the timeout in the IdF HR settings."
            ).format(host=host, timeout=round(timeout))
        if exc.kind == "truncated":
            return tr(
                "The answer from {host} was cut off before the end. Try again; if it persists the "
                "service is unstable."
            ).format(host=host)
        if exc.kind == "connection":
            return tr(
                "Could not connect to {host}. Check the address, your network connection or proxy."
            ).format(host=host)
        return tr("Request to {host} failed: {detail}").format(host=host, detail=exc.detail)

    @staticmethod
    def _sleep(seconds: float, cancel: CancelCheck | None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if cancel is not None and cancel():
                raise Cancelled()
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))


def _content_range_total(value: str | None) -> int | None:
    # "bytes 0-99/1234"
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def file_sha256(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


_default_client: HttpClient | None = None


def default_client() -> HttpClient:
    """The process-wide client; the QGIS plugin replaces it with one on QGIS's transport."""
    global _default_client
    if _default_client is None:
        _default_client = HttpClient()
    return _default_client


def set_default_client(client: HttpClient | None) -> None:
    """Install (or reset with ``None``) the process-wide client."""
    global _default_client
    _default_client = client
