"""CachedHttp against a real loopback server: ranges, retries, truncation, offline mode."""

from __future__ import annotations

import os

import pytest

from idf_hr_plugin.core.errors import NetworkError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.tiles.cache import BlockCache
from idf_hr_plugin.core.tiles.cached_http import CachedHttp
from tests.servers import Fault

BS = 64 * 1024


@pytest.fixture
def site(tmp_path, loopback):
    root = tmp_path / "www"
    root.mkdir()
    blob = os.urandom(1_000_003)
    (root / "file.bin").write_bytes(blob)
    (root / "thumb.png").write_bytes(b"\x89PNG fake thumbnail bytes")
    srv = loopback(root)
    return srv, blob, tmp_path / "cache"


def client() -> HttpClient:
    return HttpClient(timeout=5, retries=2, backoff=0.01)


def test_ranges_are_assembled_from_cached_blocks(site):
    srv, blob, cache_dir = site
    ch = CachedHttp(client(), BlockCache(cache_dir, 50_000_000), block_size=BS)
    url = f"{srv.url}/file.bin"
    assert ch.size(url) == len(blob)
    for start, length in [(0, 10), (BS - 5, 10), (123_456, 300_000), (len(blob) - 7, 100), (5, 0)]:
        assert ch.read_range(url, start, length) == blob[start : start + length]
    sent = ch.origin_requests
    assert ch.read_range(url, 100_000, 400_000) == blob[100_000:500_000]
    assert ch.origin_requests == sent + 1  # only the blocks not read before, in one request
    before = len(srv.log)
    again = CachedHttp(client(), BlockCache(cache_dir, 50_000_000), block_size=BS)  # after a restart
    assert again.read_range(url, 123_456, 300_000) == blob[123_456:423_456]
    assert len(srv.log) == before and again.origin_requests == 0


def test_429_with_retry_after_is_retried(site):
    srv, blob, cache_dir = site
    srv.fault("/file.bin", Fault("status", 429, times=1, retry_after="0"))
    ch = CachedHttp(client(), BlockCache(cache_dir, 50_000_000), block_size=BS)
    assert ch.read_range(f"{srv.url}/file.bin", 70_000, 1000) == blob[70_000:71_000]
    assert [r.path for r in srv.log].count("/file.bin") == 3  # 429, size probe, block


def test_truncated_body_is_never_cached(site):
    srv, blob, cache_dir = site
    url = f"{srv.url}/file.bin"
    cache = BlockCache(cache_dir, 50_000_000)
    ch = CachedHttp(client(), cache, block_size=BS)
    ch.size(url)
    srv.fault("/file.bin", Fault("truncate"))  # every answer cut short
    with pytest.raises(NetworkError, match="cut off"):
        ch.read_range(url, 0, 1000)
    assert cache.stats().entries == 1  # only the size, no block
    srv.faults.clear()
    assert ch.read_range(url, 0, 1000) == blob[:1000]
    srv.fault("/file.bin", Fault("truncate", times=1))  # once: the retry gets it whole
    assert ch.read_range(url, 500_000, 1000) == blob[500_000:501_000]


def test_offline_mode_serves_the_cache_and_says_what_is_missing(site):
    srv, blob, cache_dir = site
    url, thumb = f"{srv.url}/file.bin", f"{srv.url}/thumb.png"
    online = CachedHttp(client(), BlockCache(cache_dir, 50_000_000), block_size=BS)
    online.read_range(url, 0, 200_000)
    assert online.get(thumb) == b"\x89PNG fake thumbnail bytes"
    srv.stop()
    offline = CachedHttp(client(), BlockCache(cache_dir, 50_000_000), block_size=BS, offline=True)
    assert offline.read_range(url, 10, 150_000) == blob[10:150_010]
    assert offline.get(thumb) == b"\x89PNG fake thumbnail bytes"
    assert offline.is_cached(url, 0, 200_000) and not offline.is_cached(url, 0, 300_000)
    with pytest.raises(NetworkError, match="not in the local cache"):
        offline.read_range(url, 600_000, 10)
    with pytest.raises(NetworkError, match="offline"):
        offline.get(thumb.replace("thumb", "other"))
