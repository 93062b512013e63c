"""A republished file is not served stale: cache entries are revalidated with ETag / Last-Modified."""

from __future__ import annotations

import os

import pytest

from idf_hr_plugin.core.errors import NetworkError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.tiles.cache import BlockCache
from idf_hr_plugin.core.tiles.cached_http import CachedHttp

BS = 64 * 1024
SIZE = 300_001


def client() -> HttpClient:
    return HttpClient(timeout=5, retries=0, backoff=0.01)


@pytest.fixture
def republished(tmp_path, loopback):
    root = tmp_path / "www"
    root.mkdir()
    (root / "tile.tif").write_bytes(os.urandom(SIZE))
    srv = loopback(root)
    srv.validators = True  # ETag + Last-Modified, 304 on conditional requests
    return srv, root / "tile.tif", tmp_path / "cache"


def test_a_republished_tile_of_the_same_size_is_served_new(republished):
    srv, path, cache_root = republished
    url = f"{srv.url}/tile.tif"
    old = path.read_bytes()
    cache = BlockCache(cache_root, 50_000_000)
    ch = CachedHttp(client(), cache, block_size=BS, revalidate_after=0)  # check on every read
    assert ch.read_range(url, 0, SIZE) == old
    before = len(srv.log)
    assert ch.read_range(url, 0, SIZE) == old
    # unchanged: one conditional 1-byte request (answered 304), and no block fetched again
    assert len(srv.log) == before + 1
    assert srv.log[-1].headers.get("if-none-match") and srv.log[-1].headers["range"] == "bytes=0-0"

    new = os.urandom(SIZE)  # republished: same name, same size, new pixels
    path.write_bytes(new)
    assert ch.read_range(url, 0, SIZE) == new
    assert ch.read_range(url, 1000, 10) == new[1000:1010]


def test_fresh_entries_cost_no_request_and_an_unreachable_origin_serves_the_cache(republished):
    srv, path, cache_root = republished
    url = f"{srv.url}/tile.tif"
    data = path.read_bytes()
    CachedHttp(client(), BlockCache(cache_root, 50_000_000), block_size=BS).read_range(url, 0, SIZE)
    before = len(srv.log)
    # another session within the revalidation period (default one hour): no request at all
    again = CachedHttp(client(), BlockCache(cache_root, 50_000_000), block_size=BS)
    assert again.read_range(url, 0, SIZE) == data
    assert len(srv.log) == before
    # the origin is down when the entry is due for revalidation: the cached copy is served
    srv.stop()
    late = CachedHttp(client(), BlockCache(cache_root, 50_000_000), block_size=BS, revalidate_after=0)
    assert late.read_range(url, 0, SIZE) == data


def test_a_file_deleted_on_the_server_is_reported_not_served(republished):
    srv, path, cache_root = republished
    url = f"{srv.url}/tile.tif"
    ch = CachedHttp(client(), BlockCache(cache_root, 50_000_000), block_size=BS, revalidate_after=0)
    ch.read_range(url, 0, 10)
    path.unlink()
    with pytest.raises(NetworkError, match="HTTP 404"):
        ch.read_range(url, 0, 10)
