"""CachingRangeProxy: GDAL /vsicurl/ reads a remote COG through the persistent cache, then offline."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import requests
from osgeo import gdal
from rasterio.windows import Window

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.tiles.cache import BlockCache
from idf_hr_plugin.core.tiles.cached_http import CachedHttp
from idf_hr_plugin.core.tiles.proxy import CachingRangeProxy, encode_url

GDAL_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
WIN = Window(700, 300, 600, 500)


def read(url: str, window=WIN) -> np.ndarray:
    gdal.VSICurlClearCache()  # GDAL's own in-process cache must not hide the proxy
    with rasterio.Env(**GDAL_ENV), rasterio.open(url) as ds:
        return ds.read(window=window)


def test_gdal_reads_a_remote_cog_through_the_cache_and_then_offline(cog_dir, loopback, tmp_path):
    srv = loopback(cog_dir)
    origin = f"{srv.url}/small.tif"
    with rasterio.open(cog_dir / "small.tif") as ds:
        expected = ds.read(window=WIN)
    cache_root = tmp_path / "cache"
    client = HttpClient(timeout=5, retries=1, backoff=0.01)
    with CachingRangeProxy(CachedHttp(client, BlockCache(cache_root, 100_000_000)), [srv.url]) as proxy:
        url = "/vsicurl/" + proxy.url_for(origin)
        assert url.endswith("/small.tif")
        np.testing.assert_array_equal(read(url), expected)
        first = srv.range_requests
        assert first > 0
        np.testing.assert_array_equal(read(url), expected)
        assert srv.range_requests == first  # second read: no request reached the origin
    srv.stop()  # the network is gone
    offline = CachedHttp(client, BlockCache(cache_root, 100_000_000), offline=True)
    with CachingRangeProxy(offline, [origin.rsplit("/", 1)[0]]) as proxy:
        np.testing.assert_array_equal(read("/vsicurl/" + proxy.url_for(origin)), expected)
        with pytest.raises(rasterio.errors.RasterioIOError):  # never seen: fails cleanly
            read("/vsicurl/" + proxy.url_for(origin), window=Window(0, 0, 1500, 1200))


def test_proxy_http_semantics_and_allow_list(cog_dir, loopback, tmp_path):
    srv = loopback(cog_dir)
    origin = f"{srv.url}/small.tif"
    raw = (cog_dir / "small.tif").read_bytes()
    ch = CachedHttp(HttpClient(timeout=5), BlockCache(tmp_path / "c", 100_000_000))
    with CachingRangeProxy(ch, [srv.url + "/"]) as proxy:
        url = proxy.url_for(origin)
        head = requests.head(url, timeout=5)
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(raw)
        part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=5)
        assert part.status_code == 206 and part.content == raw[1000:2000]
        assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(raw)}"
        tail = requests.get(url, headers={"Range": "bytes=-10"}, timeout=5)
        assert tail.content == raw[-10:]
        multi = requests.get(url, headers={"Range": "bytes=0-9,100-109"}, timeout=5)
        assert multi.status_code == 206 and multi.content == raw[0:110]  # coalesced into one span
        whole = requests.get(url, timeout=5)
        assert whole.status_code == 200 and whole.content == raw
        bad = requests.get(url, headers={"Range": f"bytes={len(raw) + 5}-"}, timeout=5)
        assert bad.status_code == 416
        assert requests.get(url + ".aux.xml", timeout=5).status_code == 404  # GDAL side-car probe
        evil = "http://attacker.example/x.tif"
        assert requests.get(f"{proxy.base_url}/r/{encode_url(evil)}", timeout=5).status_code == 403
        assert requests.get(f"{proxy.base_url}/r/file%3A%2F%2F", timeout=5).status_code in (403, 404)
        with pytest.raises(UserInputError, match="not under one of the imagery sources"):
            proxy.url_for(evil)
        with pytest.raises(UserInputError):
            proxy.url_for("file:///etc/passwd")
