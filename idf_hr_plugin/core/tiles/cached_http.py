"""Byte ranges and small resources over HTTP, through the persistent :class:`BlockCache`.

Remote files are read as aligned blocks of ``block_size`` bytes; missing consecutive blocks are
fetched with one ``Range`` request and stored, so a window read twice costs no network the
second time, and works offline. Cache keys include the file size and the block size, so a
remote file whose size changed is not mixed with stale blocks.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from ..errors import NetworkError
from ..http import HttpClient, HttpResponse
from ..i18n import tr
from .cache import BlockCache

LOG = logging.getLogger("idf_hr.tiles.http")

MAX_RUN_BLOCKS = 16  # at most this many blocks (4 MiB at the default size) per request


class CachedHttp:
    """Cached reads of remote resources; ``offline=True`` serves only what the cache holds."""

    def __init__(
        self,
        client: HttpClient,
        cache: BlockCache,
        block_size: int = 256 * 1024,
        *,
        offline: bool = False,
    ) -> None:
        self.client = client
        self.cache = cache
        self.block_size = int(block_size)
        self.offline = offline
        self.origin_requests = 0  # HTTP requests actually sent (for diagnostics and tests)
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- public API ------------------------------------------------------------
    def size(self, url: str) -> int:
        """Total size in bytes of the remote file (a 0-0 range request, then cached)."""
        with self._lock:
            if url in self._sizes:
                return self._sizes[url]
        key = f"size:{url}"
        raw = self.cache.get(key)
        if raw is not None and raw.isdigit():
            total = int(raw)
        else:
            self._check_online(url)
            resp = self._fetch(url, 0, 0)
            total = _total_from(resp)
            if total is None:
                raise NetworkError(
                    tr(
                        "The server at {host} did not say how large {url} is (no Content-Range or "
                        "Content-Length). It cannot be streamed; download the file instead."
                    ).format(host=_host(url), url=url),
                    url=url,
                )
            if resp.status == 200:  # the whole file came back: keep it as blocks
                self._store_blocks(url, total, 0, resp.content)
            self.cache.put(key, str(total).encode("ascii"))
        with self._lock:
            self._sizes[url] = total
        return total

    def read_range(self, url: str, start: int, length: int) -> bytes:
        """Bytes ``start .. start+length-1`` of ``url`` (clipped at the end of the file)."""
        total = self.size(url)
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
            data = self.cache.get(self._block_key(url, total, idx))
            if data is not None and len(data) == self._block_len(total, idx):
                blocks[idx] = data
            else:
                missing.append(idx)
        if missing:
            self._check_online(url)
            for run_start, run_end in _runs(missing, MAX_RUN_BLOCKS):
                blocks.update(self._fetch_blocks(url, total, run_start, run_end))
        buf = b"".join(blocks[i] for i in range(first, last + 1))
        offset = start - first * bs
        return buf[offset : offset + (end - start)]

    def get(self, url: str) -> bytes:
        """A whole small resource (thumbnail, WMTS tile, capabilities), cached by URL."""
        key = f"get:{url}"
        data = self.cache.get(key)
        if data is not None:
            return data
        self._check_online(url)
        self.origin_requests += 1
        resp = self.client.get(url)
        self.cache.put(key, resp.content)
        return resp.content

    def is_cached(self, url: str, start: int, length: int) -> bool:
        """True if the whole range is already in the cache (nothing to fetch)."""
        total = self._sizes.get(url)
        if total is None:
            raw = self.cache.get(f"size:{url}")
            if raw is None or not raw.isdigit():
                return False
            total = int(raw)
        end = min(start + length, total)
        bs = self.block_size
        return all(
            self._block_key(url, total, i) in self.cache for i in range(start // bs, (end - 1) // bs + 1)
        )

    # -- internals -----------------------------------------------------------------
    def _block_key(self, url: str, total: int, idx: int) -> str:
        return f"blk:{self.block_size}:{total}:{idx}:{url}"

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
        self.origin_requests += 1
        return self.client.get_range(url, start, end)

    def _fetch_blocks(self, url: str, total: int, first: int, last: int) -> dict[int, bytes]:
        bs = self.block_size
        start = first * bs
        end = min((last + 1) * bs, total) - 1
        resp = self._fetch(url, start, end)
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
            return self._store_blocks(url, total, start, resp.content)
        # 200: the server ignored Range and sent the whole file
        if len(resp.content) != total:
            raise NetworkError(
                tr(
                    "The server at {host} sent {got} bytes for {url}, which should be {want} bytes long. "
                    "Try again; if it persists the service is unstable."
                ).format(host=_host(url), got=len(resp.content), url=url, want=total),
                url=url,
            )
        stored = self._store_blocks(url, total, 0, resp.content)
        return {i: stored[i] for i in range(first, last + 1)}

    def _store_blocks(self, url: str, total: int, offset: int, content: bytes) -> dict[int, bytes]:
        """Cache every complete block contained in ``content`` (which starts at block-aligned ``offset``)."""
        bs = self.block_size
        out: dict[int, bytes] = {}
        idx = offset // bs
        pos = 0
        while pos < len(content):
            want = self._block_len(total, idx)
            chunk = content[pos : pos + want]
            if len(chunk) != want or want == 0:
                break
            self.cache.put(self._block_key(url, total, idx), chunk)
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
