"""A local caching range proxy, so GDAL ``/vsicurl/`` reads remote COGs through the tile cache.

QGIS and rasterio open ``/vsicurl/http://127.0.0.1:<port>/r/<b64>/<name>``; the proxy answers
``HEAD``/``GET`` with ``Range`` from :class:`CachedHttp`, so imagery viewed once opens again
fast and offline. ``<b64>`` is the URL-safe base64 of the origin URL (no padding); the trailing
``/<name>`` repeats the origin file name so GDAL sees the real extension, and makes GDAL's
side-car probes (``.aux.xml``, ``.ovr``, ``.msk``) cheap 404s. Only origins under one of the
allowed prefixes are proxied (others get 403), and the server listens on 127.0.0.1 only.

It is no open relay for other local processes or for web pages that can reach 127.0.0.1: every
proxy address starts with a per-process secret (``http://127.0.0.1:<port>/<secret>/r/...``,
:attr:`CachingRangeProxy.base_url` includes it), and only the origin URLs the plugin asked
:meth:`CachingRangeProxy.url_for` to route are served. Any other request gets 403 and causes
no outbound request. The secret lives in memory only: what is saved (projects, journals) is the
origin form (:func:`parse_proxy_url`, ``service.origin_gdal_path``).

Authenticated origins are served under ``/a/<ctx>/<b64>/<name>``: ``<ctx>`` is ``q<authcfg id>``
(a QGIS authentication configuration, applied by the client the proxy gets from
``client_for_authcfg``) or ``u<random token>`` standing for the user:password an origin URL
carried, kept in memory only. The credentials themselves never appear in proxy URLs, cache
keys, the cache index or logs: the origin URL is stripped of them before anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import NetworkError, UserInputError
from ..http import HttpClient
from ..i18n import tr
from .cached_http import CachedHttp

LOG = logging.getLogger("idf_hr.tiles.proxy")

_RANGE = re.compile(r"(\d*)-(\d*)")
STREAM_CHUNK = 1 << 20


def encode_url(url: str) -> str:
    """URL-safe base64 of ``url`` without padding."""
    return base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def decode_url(token: str) -> str:
    """Inverse of :func:`encode_url`; raises ``ValueError`` on garbage."""
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``(url without user:password@, (user, password) or None)``."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (unquote(parts.username or ""), unquote(parts.password or ""))


_PROXY_URL = re.compile(  # the secret segment is absent in the addresses of IdF HR 0.1
    r"http://127\.0\.0\.1:\d+(?:/[A-Za-z0-9_-]{16,})?/(?:r|a/(?P<ctx>[A-Za-z0-9]+))/"
    r"(?P<token>[A-Za-z0-9_-]+)(?:/[A-Za-z0-9._-]*)?"
)


def parse_proxy_url(url: str) -> tuple[str, str] | None:
    """``(origin URL, authcfg)`` for a URL of any IdF HR proxy (any port), else ``None``."""
    m = _PROXY_URL.fullmatch(url)
    if not m:
        return None
    try:
        origin = decode_url(m.group("token"))
    except ValueError:
        return None
    ctx = m.group("ctx") or ""
    return origin, ctx[1:] if ctx.startswith("q") else ""


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


def _basename(url: str) -> str:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "data"


class CachingRangeProxy:
    """Serve ``GET/HEAD /r/<b64>[/<name>]`` with Range support from a :class:`CachedHttp`."""

    def __init__(
        self,
        cached_http: CachedHttp,
        allowed_prefixes: Iterable[str],
        *,
        start: bool = True,
        client_for_authcfg: Callable[[str], HttpClient] | None = None,
    ):
        self.cached_http = cached_http
        self.allowed_prefixes = tuple(allowed_prefixes)
        self.client_for_authcfg = client_for_authcfg
        self.requests = 0
        # unguessable first path segment of every address this proxy serves (memory only)
        self.secret = secrets.token_urlsafe(24)
        self._routed: set[str] = set()  # the origin URLs url_for was asked to route
        self._contexts: dict[str, CachedHttp] = {}  # "q<authcfg>" / "u<token>" -> authenticated reader
        self._by_credentials: dict[tuple[str, str], str] = {}
        # the scheme://host:port each context may be used for: credentials never go to another server
        self._context_origins: dict[str, set[str]] = {}
        self._ctx_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> CachingRangeProxy:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread (idempotent)."""
        if self._httpd is not None:
            return self
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                if LOG.isEnabledFor(logging.DEBUG):  # the request line carries the secret: never logged
                    LOG.debug("proxy: %s", (fmt % args).replace(proxy.secret, "<secret>"))

            def do_GET(self):
                proxy._handle(self, head=False)

            def do_HEAD(self):
                proxy._handle(self, head=True)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="idfhr-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> CachingRangeProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/<secret>``: the prefix of every address this proxy serves."""
        if self._httpd is None:
            raise RuntimeError("proxy not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{self.secret}"

    # -- public API ---------------------------------------------------------------
    def allows(self, origin_url: str) -> bool:
        """True if ``origin_url`` is http(s) and under one of the allowed prefixes."""
        scheme = urlsplit(origin_url).scheme.lower()
        return scheme in ("http", "https") and any(origin_url.startswith(p) for p in self.allowed_prefixes)

    def url_for(self, origin_url: str, authcfg: str = "") -> str:
        """The proxy URL serving ``origin_url`` (prefix it with ``/vsicurl/`` for GDAL).

        ``authcfg``: QGIS authentication configuration to read the origin with. A
        ``user:password@`` in ``origin_url`` is used as HTTP Basic credentials instead.
        """
        origin_url, credentials = split_credentials(origin_url)
        if not self.allows(origin_url):
            raise UserInputError(
                tr(
                    "{url} is not under one of the imagery sources configured in IdF HR, so it is not "
                    "read through the local cache. Add its source in the settings first."
                ).format(url=origin_url)
            )
        tail = f"{encode_url(origin_url)}/{_basename(origin_url)}"
        with self._ctx_lock:
            self._routed.add(origin_url)
        if credentials is not None:
            return (
                f"{self.base_url}/a/{self._bind(self._credentials_context(credentials), origin_url)}/{tail}"
            )
        if authcfg:
            if not re.fullmatch(r"[A-Za-z0-9]+", authcfg):
                raise UserInputError(
                    tr("'{id}' is not a QGIS authentication configuration id.").format(id=authcfg)
                )
            if self.client_for_authcfg is None:
                raise UserInputError(
                    tr(
                        "{url} needs the QGIS authentication configuration {id}, which only QGIS can "
                        "apply. Open it in QGIS, or give the credentials in the address "
                        "(https://user:password@host/...)."
                    ).format(url=origin_url, id=authcfg)
                )
            with self._ctx_lock:
                if "q" + authcfg not in self._contexts:
                    client = self.client_for_authcfg(authcfg)
                    self._contexts["q" + authcfg] = self.cached_http.view(client, f"authcfg={authcfg}")
            return f"{self.base_url}/a/{self._bind('q' + authcfg, origin_url)}/{tail}"
        return f"{self.base_url}/r/{tail}"

    def _bind(self, ctx: str, origin_url: str) -> str:
        with self._ctx_lock:
            self._context_origins.setdefault(ctx, set()).add(_site(origin_url))
        return ctx

    def _credentials_context(self, credentials: tuple[str, str]) -> str:
        with self._ctx_lock:
            ctx = self._by_credentials.get(credentials)
            if ctx is None:
                ctx = "u" + secrets.token_hex(8)
                basic = base64.b64encode(":".join(credentials).encode("utf-8")).decode("ascii")
                base = self.cached_http.client
                client = HttpClient(
                    base.transport,
                    timeout=base.timeout,
                    retries=base.retries,
                    backoff=base.backoff,
                    user_agent=base.user_agent,
                    headers={**base.default_headers, "Authorization": f"Basic {basic}"},
                )
                # one scope per user name, so two accounts never share cached bytes
                scope = "basic=" + hashlib.sha256(credentials[0].encode("utf-8")).hexdigest()[:12]
                self._contexts[ctx] = self.cached_http.view(client, scope)
                self._by_credentials[credentials] = ctx
        return ctx

    # -- request handling --------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        self.requests += 1
        parts = urlsplit(h.path).path.split("/")
        # ["", secret, "r", ...] or ["", secret, "a", ...]: without the secret, nothing is fetched
        if len(parts) < 3 or not secrets.compare_digest(parts[1].encode(), self.secret.encode()):
            return self._error(h, 403, "forbidden")
        parts = parts[:1] + parts[2:]
        # ["", "r", token] or ["", "r", token, name]; ["", "a", ctx, token, name]
        reader, reader_ctx = self.cached_http, ""
        if len(parts) == 5 and parts[1] == "a":
            with self._ctx_lock:
                found = self._contexts.get(parts[2])
            if found is None:
                return self._error(h, 404, "unknown authentication context")
            reader, reader_ctx = found, parts[2]
            parts = ["", "r", parts[3], parts[4]]
        if len(parts) not in (3, 4) or parts[1] != "r":
            return self._error(h, 404, "not found")
        try:
            origin = decode_url(parts[2])
        except ValueError:
            return self._error(h, 404, "not found")
        if len(parts) == 4 and parts[3] != _basename(origin):
            return self._error(h, 404, "not found")  # side-car probe (.aux.xml, .ovr, ...)
        with self._ctx_lock:
            routed = origin in self._routed
        if not routed or not self.allows(origin):
            return self._error(h, 403, "origin not allowed")
        if reader is not self.cached_http:
            with self._ctx_lock:
                sites = self._context_origins.get(reader_ctx, set())
            if _site(origin) not in sites:
                return self._error(h, 403, "these credentials are not for this server")
        ctype = mimetypes.guess_type(_basename(origin))[0] or "application/octet-stream"
        try:
            total = reader.size(origin)
            rng = h.headers.get("Range")
            span = _parse_range(rng, total) if rng else None
            if rng and span is None:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{total}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return None
            if span is not None:
                start, end = span
                body = b"" if head else reader.read_range(origin, start, end - start + 1)
                h.send_response(206)
                h.send_header("Content-Range", f"bytes {start}-{end}/{total}")
                self._headers(h, ctype, end - start + 1)
                if not head:
                    h.wfile.write(body)
                return None
            h.send_response(200)
            self._headers(h, ctype, total)
            if not head:
                for pos in range(0, total, STREAM_CHUNK):
                    h.wfile.write(reader.read_range(origin, pos, STREAM_CHUNK))
        except NetworkError as exc:
            LOG.info("proxy: %s", exc)
            if exc.status in (401, 403, 404, 410):
                return self._error(h, exc.status, str(exc))  # the origin's answer, as is
            return self._error(h, 504 if reader.offline else 502, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        return None

    @staticmethod
    def _headers(h: BaseHTTPRequestHandler, ctype: str, length: int) -> None:
        h.send_header("Content-Type", ctype)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(length))
        h.end_headers()

    @staticmethod
    def _error(h: BaseHTTPRequestHandler, status: int, text: str) -> None:
        body = text.encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", "text/plain; charset=utf-8")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True


def _parse_range(value: str, total: int) -> tuple[int, int] | None:
    """``bytes=a-b[,c-d...]`` → one inclusive (start, end) span covering them all, or None if unsatisfiable.

    Several ranges are coalesced into one span, which RFC 9110 allows a server to do.
    """
    value = value.strip()
    if not value.startswith("bytes="):
        return None
    starts, ends = [], []
    for part in value[6:].split(","):
        m = _RANGE.fullmatch(part.strip())
        if not m:
            return None
        a, b = m.groups()
        if a == "":
            if not b:
                return None
            start, end = max(0, total - int(b)), total - 1
        else:
            start = int(a)
            end = min(int(b), total - 1) if b else total - 1
        if start >= total or start > end:
            continue
        starts.append(start)
        ends.append(end)
    if not starts:
        return None
    return min(starts), max(ends)
