"""Byte ranges and small resources over HTTP, through the persistent :class:`BlockCache`.

Remote files are read as aligned blocks of ``block_size`` bytes; missing consecutive blocks are
fetched with one ``Range`` request and stored, so a window read twice costs no network the
second time, and works offline.

Each remote file has one ``meta:`` entry: its size, ``ETag``, ``Last-Modified`` and when it was
last checked. Block keys include a version derived from those, so blocks of two versions of a
file are never mixed. An entry checked more than ``revalidate_after`` seconds ago (default one
hour, the same in QGIS and on the command line) is revalidated with one conditional request
(``If-None-Match`` / ``If-Modified-Since`` on a 1-byte range): ``304`` keeps the cached blocks,
a new version drops them. If the origin cannot be reached the cached copy is served (that is
what offline work needs) and the check is retried after ``revalidate_after`` again. A server
that sends neither validator is only compared by size.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
from urllib.parse import urlsplit

from ..errors import NetworkError
from ..http import HttpClient, HttpResponse
from ..i18n import tr
from .cache import BlockCache

LOG = logging.getLogger("idf_hr.tiles.http")

MAX_RUN_BLOCKS = 16  # at most this many blocks (4 MiB at the default size) per request
REVALIDATE_AFTER_S = 3600.0


class _Shared:
    """State shared by a :class:`CachedHttp` and its :meth:`CachedHttp.view` copies."""

    def __init__(self, offline: bool) -> None:
        self.offline = offline
        self.origin_requests = 0
        self.lock = threading.Lock()
        self.meta: dict[str, dict] = {}


class CachedHttp:
    """Cached reads of remote resources; ``offline=True`` serves only what the cache holds."""

    def __init__(
        self,
        client: HttpClient,
        cache: BlockCache,
        block_size: int = 256 * 1024,
        *,
        offline: bool = False,
        revalidate_after: float = REVALIDATE_AFTER_S,
        scope: str = "",
    ) -> None:
        self.client = client
        self.cache = cache
        self.block_size = int(block_size)
        self.revalidate_after = float(revalidate_after)
        self.scope = scope  # namespaces the keys of one authentication context (never a secret)
        self._shared = _Shared(offline)

    @property
    def offline(self) -> bool:
        return self._shared.offline

    @offline.setter
    def offline(self, value: bool) -> None:
        self._shared.offline = bool(value)

    @property
    def origin_requests(self) -> int:
        """HTTP requests actually sent (for diagnostics and tests), all views included."""
        return self._shared.origin_requests

    def view(self, client: HttpClient, scope: str) -> CachedHttp:
        """The same cache read with another client (e.g. one that authenticates), keys under ``scope``."""
        other = copy.copy(self)
        other.client = client
        other.scope = scope
        return other

    # -- public API ------------------------------------------------------------
    def size(self, url: str) -> int:
        """Total size in bytes of the remote file (revalidated as the module docstring says)."""
        return int(self._meta_for(url)["size"])

    def read_range(self, url: str, start: int, length: int) -> bytes:
        """Bytes ``start .. start+length-1`` of ``url`` (clipped at the end of the file)."""
        meta = self._meta_for(url)
        total = int(meta["size"])
        end = min(start + length, total)  # exclusive
        if start < 0 or length < 0:
            raise ValueError("negative range")
        if start >= end:
            return b""
        bs = self.block_size
        first, last = start // bs, (end - 1) // bs
        blocks: dict[int, bytes] = {}
        missing: list[int] = []
        for idx in range(first, last + 1):
            data = self.cache.get(self._block_key(url, meta, idx))
            if data is not None and len(data) == self._block_len(total, idx):
                blocks[idx] = data
            else:
                missing.append(idx)
        if missing:
            self._check_online(url)
            for run_start, run_end in _runs(missing, MAX_RUN_BLOCKS):
                blocks.update(self._fetch_blocks(url, meta, run_start, run_end))
        buf = b"".join(blocks[i] for i in range(first, last + 1))
        offset = start - first * bs
        return buf[offset : offset + (end - start)]

    def get(self, url: str) -> bytes:
        """A whole small resource (thumbnail, WMTS tile, capabilities), cached by URL."""
        key = f"get:{self._key(url)}"
        data = self.cache.get(key)
        if data is not None:
            return data
        self._check_online(url)
        self._shared.origin_requests += 1
        resp = self.client.get(url)
        self.cache.put(key, resp.content)
        return resp.content

    def is_cached(self, url: str, start: int, length: int) -> bool:
        """True if the whole range is already in the cache (nothing to fetch)."""
        meta = self._stored_meta(url)
        if meta is None:
            return False
        total = int(meta["size"])
        end = min(start + length, total)
        bs = self.block_size
        return all(
            self._block_key(url, meta, i) in self.cache for i in range(start // bs, (end - 1) // bs + 1)
        )

    # -- versions and revalidation ----------------------------------------------------
    def _key(self, url: str) -> str:
        return f"{self.scope}|{url}" if self.scope else url

    def _stored_meta(self, url: str) -> dict | None:
        key = self._key(url)
        with self._shared.lock:
            meta = self._shared.meta.get(key)
        if meta is not None:
            return meta
        raw = self.cache.get(f"meta:{key}")
        if raw is None:
            return None
        try:
            meta = json.loads(raw.decode("utf-8"))
            int(meta["size"]), float(meta["checked"]), str(meta["ver"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None
        return meta

    def _remember(self, url: str, meta: dict, persist: bool = True) -> None:
        key = self._key(url)
        with self._shared.lock:
            self._shared.meta[key] = meta
        if persist:
            self.cache.put(f"meta:{key}", json.dumps(meta).encode("utf-8"))

    def _forget(self, url: str) -> None:
        key = self._key(url)
        with self._shared.lock:
            self._shared.meta.pop(key, None)
        self.cache.delete(f"meta:{key}")

    def _meta_for(self, url: str) -> dict:
        """Size and version of ``url``: from the cache while fresh, else revalidated with the origin."""
        meta = self._stored_meta(url)
        now = time.time()
        if meta is not None and (self.offline or now - float(meta["checked"]) < self.revalidate_after):
            self._remember(url, meta, persist=False)
            return meta
        if meta is None:
            self._check_online(url)
            fresh = self._probe(url, None)
        else:
            try:
                fresh = self._probe(url, meta)
            except NetworkError as exc:
                if exc.status is not None and exc.status < 500:
                    raise  # the server answered: gone (404) or refused (401/403) is not "offline"
                LOG.warning("could not revalidate %s (%s); serving the cached copy", url, exc)
                self._remember(url, dict(meta, checked=now), persist=False)
                return meta
            if fresh["ver"] != meta["ver"]:
                LOG.info("%s changed on the server: its cached blocks are dropped", url)
                self._drop_blocks(url, meta)
        body = fresh.pop("_body", None)
        if body is not None:  # the server sent the whole file: keep it as blocks
            self._store_blocks(url, fresh, 0, body)
        self._remember(url, fresh)
        return fresh

    def _probe(self, url: str, meta: dict | None) -> dict:
        """One 1-byte range request, conditional when ``meta`` has validators; returns the new meta."""
        headers = {}
        if meta is not None and meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta is not None and meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
        self._shared.origin_requests += 1
        resp = self.client.get_range(url, 0, 0, headers=headers, accept_status=(304,))
        now = time.time()
        if resp.status == 304 and meta is not None:
            return dict(meta, checked=now)
        total = _total_from(resp)
        if total is None:
            raise NetworkError(
                tr(
                    "The server at {host} did not say how large {url} is (no Content-Range or "
                    "Content-Length). It cannot be streamed; download the file instead."
                ).format(host=_host(url), url=url),
                url=url,
            )
        etag = resp.headers.get("etag", "")
        modified = resp.headers.get("last-modified", "")
        ver = hashlib.sha256(f"{total}|{etag}|{'' if etag else modified}".encode()).hexdigest()[:16]
        fresh = {"size": total, "etag": etag, "last_modified": modified, "ver": ver, "checked": now}
        if resp.status == 200:
            fresh["_body"] = resp.content
        return fresh

    def _drop_blocks(self, url: str, meta: dict) -> None:
        total = int(meta["size"])
        for idx in range(-(-total // self.block_size)):
            self.cache.delete(self._block_key(url, meta, idx))

    # -- internals -----------------------------------------------------------------
    def _block_key(self, url: str, meta: dict, idx: int) -> str:
        return f"blk:{self.block_size}:{meta['ver']}:{idx}:{self._key(url)}"

    def _block_len(self, total: int, idx: int) -> int:
        return max(0, min(self.block_size, total - idx * self.block_size))

    def _check_online(self, url: str) -> None:
        if self.offline:
            raise NetworkError(
                tr(
                    "{url} is not in the local cache and IdF HR is working offline. Reconnect (or "
                    "turn offline mode off) and view or download this imagery once to use it offline."
                ).format(url=url),
                url=url,
            )

    def _fetch(self, url: str, start: int, end: int) -> HttpResponse:
        self._shared.origin_requests += 1
        return self.client.get_range(url, start, end)

    def _fetch_blocks(self, url: str, meta: dict, first: int, last: int) -> dict[int, bytes]:
        bs = self.block_size
        total = int(meta["size"])
        start = first * bs
        end = min((last + 1) * bs, total) - 1
        resp = self._fetch(url, start, end)
        etag = resp.headers.get("etag", "")
        if (etag and meta.get("etag") and etag != meta["etag"]) or _total_from(resp) != total:
            self._forget(url)
            raise NetworkError(
                tr(
                    "{url} changed on the server while it was being read. Run the operation again "
                    "to read the new version."
                ).format(url=url),
                url=url,
            )
        if resp.status == 206:
            got_start = _range_start(resp.headers.get("content-range"))
            if got_start != start or len(resp.content) != end - start + 1:
                raise NetworkError(
                    tr(
                        "The server at {host} sent {got} bytes at offset {at} instead of {want} bytes "
                        "at offset {start} for {url}. Try again; if it persists the service is unstable."
                    ).format(
                        host=_host(url),
                        got=len(resp.content),
                        at=got_start,
                        want=end - start + 1,
                        start=start,
                        url=url,
                    ),
                    url=url,
                )
            return self._store_blocks(url, meta, start, resp.content)
        # 200: the server ignored Range and sent the whole file
        stored = self._store_blocks(url, meta, 0, resp.content)
        return {i: stored[i] for i in range(first, last + 1)}

    def _store_blocks(self, url: str, meta: dict, offset: int, content: bytes) -> dict[int, bytes]:
        """Cache every complete block contained in ``content`` (which starts at block-aligned ``offset``)."""
        bs = self.block_size
        total = int(meta["size"])
        out: dict[int, bytes] = {}
        idx = offset // bs
        pos = 0
        while pos < len(content):
            want = self._block_len(total, idx)
            chunk = content[pos : pos + want]
            if len(chunk) != want or want == 0:
                break
            self.cache.put(self._block_key(url, meta, idx), chunk)
            out[idx] = chunk
            pos += want
            idx += 1
        return out


def _runs(indices: list[int], max_len: int) -> list[tuple[int, int]]:
    """Group sorted indices into (first, last) runs of consecutive values, at most ``max_len`` long."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1 and i - runs[-1][0] < max_len:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _range_start(value: str | None) -> int | None:
    # "bytes 0-99/1234"
    try:
        return int(value.split()[1].split("-")[0]) if value else None
    except (IndexError, ValueError):
        return None


def _total_from(resp: HttpResponse) -> int | None:
    if resp.status == 206:
        cr = resp.headers.get("content-range") or ""
        tail = cr.rsplit("/", 1)[-1].strip() if "/" in cr else ""
        return int(tail) if tail.isdigit() else None
    return len(resp.content)
