"""One HTTP client for all of IdF HR, with pluggable transports.

Inside QGIS the transport goes through QGIS's network stack (proxies, SSL settings,
``authcfg``: see ``gis/network.py``); outside QGIS (CLI, core tests) it is ``requests``.
The client adds what every caller needs: timeouts, retries with back-off on 429/5xx
(honouring ``Retry-After``), a user agent, truncated-body detection, user-readable
errors, cancellation, and resumable downloads written atomically.

The timeout is a budget for the whole request, retries included: a retry is only made when
enough of the budget is left, so a dead or stalled server costs about the timeout the user
set, not ``(retries + 1) x timeout``. Errors say what happened: the connection was refused,
the server accepted it but sent no answer, or it stopped sending in the middle of the body.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
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
    """Low-level failure raised by transports.

    ``kind`` is one of: ``connection`` (``reason`` refused|not_found|reset|closed or empty),
    ``connect_timeout`` (no connection within the timeout), ``timeout`` (no answer within the
    timeout), ``stalled`` (the body stopped arriving), ``truncated`` (the connection closed before
    the end of the body) or ``other``. ``received``/``expected`` count body bytes when known.
    """

    def __init__(
        self,
        kind: str,
        detail: str = "",
        *,
        reason: str = "",
        received: int | None = None,
        expected: int | None = None,
    ):
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail
        self.reason = reason
        self.received = received
        self.expected = expected


RETRYABLE_KINDS = frozenset({"connection", "connect_timeout", "timeout", "stalled", "truncated"})


def connection_reason(detail: str) -> str:
    """refused|not_found|reset|closed|"" from a transport's error text (requests/urllib3 or Qt)."""
    low = detail.lower()
    if "refused" in low:
        return "refused"
    if "name or service not known" in low or "host not found" in low or "nodename nor servname" in low:
        return "not_found"
    if "reset" in low:
        return "reset"
    if "without response" in low or "remote end closed" in low or "closed" in low:
        return "closed"
    return ""


def content_length(headers: Mapping[str, str]) -> int | None:
    """The announced body size, or None when absent or compressed (decoded size would differ)."""
    value = headers.get("content-length", "")
    if value.isdigit() and "content-encoding" not in headers:
        return int(value)
    return None


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
        import urllib3

        rq = self._requests
        try:
            # streamed, so a body that stops half-way is told apart from no answer at all
            resp = self._session.request(
                method,
                url,
                headers=dict(headers),
                data=body,
                timeout=timeout,
                allow_redirects=True,
                stream=True,
            )
        except rq.exceptions.ConnectTimeout as exc:
            raise TransportError("connect_timeout", str(exc)) from exc
        except rq.exceptions.Timeout as exc:
            raise TransportError("timeout", str(exc)) from exc
        except rq.exceptions.ConnectionError as exc:
            text = str(exc)
            raise TransportError("connection", text, reason=connection_reason(text)) from exc
        except rq.exceptions.RequestException as exc:
            raise TransportError("other", str(exc)) from exc
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
        buf = bytearray()
        try:
            if method != "HEAD":
                for chunk in _body_chunks(resp, hdrs):
                    buf += chunk
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError, rq.RequestException) as exc:
            resp.close()
            text = f"{type(exc).__name__}: {exc}"
            kind = "stalled" if isinstance(exc, TimeoutError) or "timed out" in text.lower() else "truncated"
            raise TransportError(kind, text, received=len(buf), expected=content_length(hdrs)) from exc
        resp.raw.release_conn()  # body fully read: the connection goes back to the pool (keep-alive)
        content = bytes(buf)
        check_complete(method, hdrs, content)
        return HttpResponse(url=resp.url, status=resp.status_code, headers=hdrs, content=content)


def _body_chunks(resp: Any, headers: Mapping[str, str]):
    """The body as it arrives (so the bytes received before a stall are counted)."""
    fp = getattr(resp.raw, "_fp", None)  # http.client response under urllib3
    if "content-encoding" not in headers and hasattr(fp, "read1"):
        # urllib3 1.x read(n) blocks until n bytes come; read1 returns what has arrived
        while chunk := fp.read1(1 << 16):
            yield chunk
        return
    yield from resp.iter_content(1 << 16)


def check_complete(method: str, headers: Mapping[str, str], content: bytes) -> None:
    """Raise a ``truncated`` :class:`TransportError` when the body is shorter than Content-Length."""
    expected = content_length(headers)
    if expected is not None and method != "HEAD" and expected != len(content):
        raise TransportError(
            "truncated",
            f"received {len(content)} of {expected} bytes",
            received=len(content),
            expected=expected,
        )


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


SERVER_TEXT_MAX = 300


def server_error_text(resp: HttpResponse) -> str:
    """The server's own explanation of an error answer, short, or "" when it sent none.

    JSON bodies: ``message``/``description``/``detail``/``error_description``/``error``/``title``
    (Opendatasoft, STAC APIs, OGC API, data.gouv.fr), followed by ``error_code``/``code``; short
    plain-text bodies as they are. HTML error pages are not shown.
    """
    ctype = resp.headers.get("content-type", "").lower()
    text = ""
    code = ""
    try:
        doc = json.loads(resp.content.decode("utf-8-sig")) if resp.content else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    if isinstance(doc, dict):
        for key in ("message", "description", "detail", "error_description", "error", "title"):
            value = doc.get(key)
            if isinstance(value, str) and value.strip():
                text = value.strip()
                break
        raw_code = doc.get("error_code") or doc.get("code")
        if isinstance(raw_code, str) and raw_code.strip() and raw_code.strip() not in text:
            code = raw_code.strip()
    elif doc is None and ("text/plain" in ctype or not ctype) and resp.content:
        candidate = resp.text.strip()
        if candidate and "<html" not in candidate[:200].lower():
            text = candidate
    text = " ".join(text.split())
    if len(text) > SERVER_TEXT_MAX:
        text = text[: SERVER_TEXT_MAX - 1] + "…"
    return f"{text} ({code})" if text and code else text


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
        start = time.monotonic()
        deadline = start + timeout  # one budget for all attempts and the waits between them
        attempt = 0
        while True:
            if cancel is not None and cancel():
                raise Cancelled()
            attempt += 1
            try:
                remaining = max(deadline - time.monotonic(), _min_attempt(timeout))
                resp = self.transport.request(method, url, hdrs, body, remaining)
            except TransportError as exc:
                wait = self.backoff * 2 ** (attempt - 1)
                if (
                    attempt <= self.retries
                    and exc.kind in RETRYABLE_KINDS
                    and self._fits(deadline, wait, timeout)
                ):
                    LOG.info("retrying %s after %s (%s)", url, exc.kind, exc.detail)
                    self._sleep(wait, cancel)
                    continue
                message = self._transport_message(url, exc, timeout)
                raise NetworkError(message + _attempts_note(attempt, start), url=url) from exc
            if resp.ok or resp.status in accept_status:
                return resp
            if resp.status in RETRY_STATUSES and attempt <= self.retries:
                wait = _retry_after_seconds(resp.headers.get("retry-after"))
                if wait is None:
                    wait = self.backoff * 2 ** (attempt - 1)
                wait = min(wait, MAX_RETRY_AFTER_S)
                if self._fits(deadline, wait, timeout):
                    LOG.info("retrying %s after HTTP %s in %.1fs", url, resp.status, wait)
                    self._sleep(wait, cancel)
                    continue
            said = server_error_text(resp)
            error = NetworkError(
                tr("The server at {host} answered HTTP {status} for {url}.").format(
                    host=_host(url), status=resp.status, url=url
                )
                + (" " + tr("It said: “{text}”.").format(text=said) if said else "")
                + " "
                + _status_advice(resp.status)
                + _attempts_note(attempt, start),
                url=url,
                status=resp.status,
            )
            error.server_message = said
            raise error

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
    def _fits(deadline: float, wait: float, timeout: float) -> bool:
        """Whether waiting ``wait`` s still leaves a useful attempt before the deadline."""
        return time.monotonic() + wait + _min_attempt(timeout) <= deadline

    @staticmethod
    def _transport_message(url: str, exc: TransportError, timeout: float) -> str:
        host = _host(url)
        secs = f"{timeout:g}"
        if exc.kind == "timeout":
            return tr(
                "{host} did not answer within {timeout} s: the request was sent but no answer came back. "
                "The service may be overloaded: try again later, or raise the timeout in the IdF HR settings."
            ).format(host=host, timeout=secs)
        if exc.kind == "connect_timeout":
            return tr(
                "Could not connect to {host} within {timeout} s (no reply to the connection attempt). "
                "Check the address, your network connection or proxy."
            ).format(host=host, timeout=secs)
        if exc.kind in ("stalled", "truncated"):
            if exc.received is not None and exc.expected is not None:
                got = tr("received {received} of {expected} bytes").format(
                    received=exc.received, expected=exc.expected
                )
            elif exc.expected is not None:
                got = tr("{expected} bytes expected").format(expected=exc.expected)
            elif exc.received is not None:
                got = tr("received {received} bytes").format(received=exc.received)
            else:
                got = ""
            got = f" ({got})" if got else ""
            if exc.kind == "stalled":
                return tr(
                    "{host} started answering, then stopped sending for {timeout} s{got}. Try again later; "
                    "if it persists the service is unstable."
                ).format(host=host, timeout=secs, got=got)
            return tr(
                "The answer from {host} was cut off before the end{got}. Try again; if it persists the "
                "service is unstable."
            ).format(host=host, got=got)
        if exc.kind == "connection":
            if exc.reason == "refused":
                return tr(
                    "Could not connect to {host}: the connection was refused (no service listens at that "
                    "address and port). Check the address and that the service is running."
                ).format(host=host)
            if exc.reason == "not_found":
                return tr(
                    "Could not connect to {host}: the host name is unknown. Check the address, your "
                    "network connection or proxy."
                ).format(host=host)
            if exc.reason in ("reset", "closed"):
                return tr(
                    "{host} accepted the connection, then closed it without answering. Try again; if it "
                    "persists the service is failing."
                ).format(host=host)
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


def _min_attempt(timeout: float) -> float:
    """Shortest time worth giving one more attempt."""
    return min(1.0, 0.25 * timeout)


def _attempts_note(attempts: int, start: float) -> str:
    if attempts <= 1:
        return ""
    return " " + tr("({n} attempts in {s} s.)").format(n=attempts, s=round(time.monotonic() - start, 1))


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
