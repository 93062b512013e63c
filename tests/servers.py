"""Real HTTP servers on 127.0.0.1 for tests.

``LoopbackServer`` serves a directory (with ``Range`` support, as GDAL ``/vsicurl/`` needs)
plus dynamic routes, and can inject faults per path: HTTP errors, 429 with ``Retry-After``,
timeouts, connection resets and truncated bodies. Opt-in: ``validators = True`` sends ``ETag`` /
``Last-Modified`` with files and answers conditional requests with 304; ``basic_auth =
(user, password)`` refuses (401) any request without those HTTP Basic credentials.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import mimetypes
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

mimetypes.add_type("image/tiff", ".tif")
mimetypes.add_type("application/geo+json", ".geojson")
mimetypes.add_type("application/geopackage+sqlite3", ".gpkg")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[0] if vals else default

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


@dataclass
class Fault:
    """A fault injected on a path: kind is status|timeout|reset|truncate|invalid."""

    kind: str
    status: int = 500
    times: int = 10**9  # how many requests it hits before the path behaves again
    retry_after: str | None = None
    delay: float = 5.0


Route = Callable[[Request], Reply]


class LoopbackServer:
    """A threaded HTTP server on a free loopback port. Use as a context manager."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root else None
        self.routes: list[tuple[re.Pattern[str], str | None, Route]] = []
        self.faults: dict[str, Fault] = {}
        self.log: list[Request] = []
        self.range_requests = 0
        self.validators = False
        self.basic_auth: tuple[str, str] | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------
    def route(self, pattern: str, func: Route, method: str | None = None) -> None:
        """Serve paths matching the regex ``pattern`` (full match) with ``func``."""
        self.routes.append((re.compile(pattern), method, func))

    def fault(self, path: str, fault: Fault) -> None:
        self.faults[path] = fault

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> LoopbackServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server._handle(self, "GET")

            def do_HEAD(self):
                server._handle(self, "HEAD")

            def do_POST(self):
                server._handle(self, "POST")

            def do_PUT(self):
                server._handle(self, "PUT")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- request handling ----------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
        )
        self.log.append(req)
        if self.basic_auth is not None:
            want = "Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode()
            if req.headers.get("authorization") != want:
                self._send_reply(
                    h, method, Reply(401, "unauthorized", {"WWW-Authenticate": 'Basic realm="t"'})
                )
                return
        fault = self.faults.get(req.path)
        if fault is not None and fault.times > 0:
            fault.times -= 1
            if self._apply_fault(h, fault):
                return
        for pattern, rmethod, func in self.routes:
            if (rmethod is None or rmethod == method) and pattern.fullmatch(req.path):
                self._send_reply(h, method, func(req))
                return
        if self.root is not None:
            self._serve_file(h, method, req)
            return
        self._send_reply(h, method, Reply(404, "not found"))

    def _apply_fault(self, h: BaseHTTPRequestHandler, fault: Fault) -> bool:
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._send_reply(h, "GET", Reply(fault.status, f"error {fault.status}", headers))
            return True
        if fault.kind == "timeout":
            time.sleep(fault.delay)
            return False
        if fault.kind == "reset":
            sock = h.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
            h.close_connection = True
            return True
        if fault.kind == "truncate":
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            h.wfile.write(b"{" + b"x" * 100)
            h.wfile.flush()
            h.close_connection = True
            return True
        if fault.kind == "invalid":
            self._send_reply(h, "GET", Reply(200, b"<<<this is not json or xml", {}, "application/json"))
            return True
        raise ValueError(fault.kind)

    def _send_reply(self, h: BaseHTTPRequestHandler, method: str, reply: Reply) -> None:
        body = reply.body
        ctype = reply.content_type
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            ctype = ctype or "application/json"
        elif isinstance(body, str):
            body = body.encode("utf-8")
            ctype = ctype or "text/plain; charset=utf-8"
        h.send_response(reply.status)
        h.send_header("Content-Type", ctype or "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(body)

    def _serve_file(self, h: BaseHTTPRequestHandler, method: str, req: Request) -> None:
        assert self.root is not None
        rel = req.path.lstrip("/")
        path = (self.root / rel).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            self._send_reply(h, method, Reply(403, "forbidden"))
            return
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            self._send_reply(h, method, Reply(404, "not found"))
            return
        stat = path.stat()
        size = stat.st_size
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if self.validators:
            etag = '"' + hashlib.sha256(path.read_bytes()).hexdigest()[:16] + '"'
            modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
            h_extra = {"ETag": etag, "Last-Modified": modified}
            inm = req.headers.get("if-none-match")
            ims = req.headers.get("if-modified-since")
            if (inm and inm == etag) or (not inm and ims and ims == modified):
                h.send_response(304)
                for k, v in h_extra.items():
                    h.send_header(k, v)
                h.end_headers()
                return
        else:
            h_extra = {}
        rng = req.headers.get("range")
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip()) if rng else None
        if m:
            self.range_requests += 1
            start_s, end_s = m.groups()
            if start_s == "":
                start = max(0, size - int(end_s))
                end = size - 1
            else:
                start = int(start_s)
                end = min(int(end_s), size - 1) if end_s else size - 1
            if start >= size:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{size}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(end - start + 1)
            h.send_response(206)
            h.send_header("Content-Type", ctype)
            h.send_header("Accept-Ranges", "bytes")
            h.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            h.send_header("Content-Length", str(len(data)))
            for k, v in h_extra.items():
                h.send_header(k, v)
            h.end_headers()
            if method != "HEAD":
                h.wfile.write(data)
            return
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(size))
        for k, v in h_extra.items():
            h.send_header(k, v)
        h.end_headers()
        if method != "HEAD":
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 16):
                    h.wfile.write(chunk)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RustacServer:
    """A real STAC API (``rustac serve``, in-memory backend) loaded with collection/item JSON files."""

    def __init__(self, files: list[str]) -> None:
        import sys

        self.files = [str(f) for f in files]
        self.exe = str(Path(sys.executable).parent / "rustac")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = None

    def __enter__(self) -> RustacServer:
        import subprocess
        from urllib.request import urlopen

        self.proc = subprocess.Popen(
            [self.exe, "serve", "-a", f"127.0.0.1:{self.port}", *self.files],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rustac serve exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                with urlopen(self.url + "collections", timeout=1) as resp:  # noqa: S310 (loopback)
                    if json.loads(resp.read()).get("collections"):
                        return self
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("rustac serve did not become ready within 30 s")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        import subprocess

        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class StacTransactionsServer(LoopbackServer):
    """The server side of STAC API publishing tests: a small STAC API with the Transactions extension
    (in memory), because ``rustac serve`` answers 405 to ``POST /collections``.

    Landing page with ``conformsTo``; ``POST /collections``; ``GET /collections/{id}``; ``POST
    /collections/{id}/items`` (409 when the id exists); ``GET``/``PUT
    /collections/{id}/items/{item}``; ``GET /collections/{id}/items`` and ``GET /search`` paged by
    ``limit`` with ``next`` links. With ``token`` set, writes without ``Authorization: Bearer
    <token>`` (or HTTP Basic ``basic`` = (user, password), when given) get 401. ``root`` (optional)
    is served as plain files (the published assets).
    """

    CONFORMS = [
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/ogcapi-features",
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction",
    ]

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        token: str = "",
        basic: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(root)
        self.token = token
        self.accepted = {f"Bearer {token}"} if token else set()
        if basic:
            self.accepted.add("Basic " + base64.b64encode(":".join(basic).encode()).decode())
        self.collections: dict[str, dict] = {}
        self.items: dict[str, dict[str, dict]] = {}
        c, i = r"/collections/([^/]+)", r"/collections/([^/]+)/items"
        self.route(r"/", self._landing, "GET")
        self.route(r"/collections", self._post_collection, "POST")
        self.route(c, self._get_collection, "GET")
        self.route(i, self._post_item, "POST")
        self.route(i, lambda r: self._page(r, [re.fullmatch(i, r.path).group(1)]), "GET")
        self.route(i + r"/([^/]+)", self._item, None)
        self.route(r"/search", lambda r: self._page(r, list(self.items)), "GET")

    def _landing(self, req: Request) -> Reply:
        links = [{"rel": "search", "href": self.url + "/search", "method": "GET"}]
        return Reply(
            200,
            {
                "type": "Catalog",
                "id": "test-tx",
                "description": "t",
                "stac_version": "1.0.0",
                "conformsTo": self.CONFORMS,
                "links": links,
            },
        )

    def _denied(self, req: Request) -> Reply | None:
        if self.accepted and req.headers.get("authorization") not in self.accepted:
            return Reply(401, {"code": "Unauthorized", "description": "a valid token is required"})
        return None

    def _post_collection(self, req: Request) -> Reply:
        denied = self._denied(req)
        if denied:
            return denied
        doc = req.json()
        if doc["id"] in self.collections:
            return Reply(409, {"code": "Conflict", "description": "collection exists"})
        self.collections[doc["id"]] = doc
        self.items[doc["id"]] = {}
        return Reply(201, doc)

    def _get_collection(self, req: Request) -> Reply:
        cid = re.fullmatch(r"/collections/([^/]+)", req.path).group(1)
        if cid not in self.collections:
            return Reply(404, {"code": "NotFound", "description": "no such collection"})
        return Reply(200, self.collections[cid])

    def _post_item(self, req: Request) -> Reply:
        denied = self._denied(req)
        if denied:
            return denied
        cid = re.fullmatch(r"/collections/([^/]+)/items", req.path).group(1)
        if cid not in self.collections:
            return Reply(404, {"code": "NotFound", "description": "no such collection"})
        doc = req.json()
        if doc["id"] in self.items[cid]:
            return Reply(409, {"code": "Conflict", "description": "item exists"})
        self.items[cid][doc["id"]] = doc
        return Reply(201, doc)

    def _item(self, req: Request) -> Reply:
        cid, iid = re.fullmatch(r"/collections/([^/]+)/items/([^/]+)", req.path).groups()
        if req.method == "PUT":
            denied = self._denied(req)
            if denied:
                return denied
            if iid not in self.items.get(cid, {}):
                return Reply(404, {"code": "NotFound", "description": "no such item"})
            self.items[cid][iid] = req.json()
            return Reply(200, self.items[cid][iid])
        if iid not in self.items.get(cid, {}):
            return Reply(404, {"code": "NotFound", "description": "no such item"})
        return Reply(200, self.items[cid][iid])

    def _page(self, req: Request, cids: list[str]) -> Reply:
        docs = [d for c in cids for d in self.items.get(c, {}).values()]
        limit = int(req.arg("limit", "10"))
        start = int(req.arg("offset", "0"))
        links = []
        if start + limit < len(docs):
            links.append(
                {"rel": "next", "href": f"{self.url}{req.path}?limit={limit}&offset={start + limit}"}
            )
        return Reply(
            200, {"type": "FeatureCollection", "features": docs[start : start + limit], "links": links}
        )
