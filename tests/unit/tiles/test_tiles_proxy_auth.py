"""Imagery behind HTTP Basic authentication is read through the cache; credentials are kept nowhere."""

from __future__ import annotations

import base64
import logging

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from rasterio.windows import Window

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.tiles.cache import BlockCache
from idf_hr_plugin.core.tiles.cached_http import CachedHttp
from idf_hr_plugin.core.tiles.proxy import CachingRangeProxy

USER, PASSWORD = "technicien", "s3cret-Pw"
WIN = Window(100, 100, 300, 200)


def read(url: str) -> np.ndarray:
    gdal.VSICurlClearCache()
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(url) as ds:
        return ds.read(window=WIN)


def test_basic_auth_origin_is_read_through_the_cache_and_credentials_are_kept_nowhere(
    cog_dir, loopback, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    srv = loopback(cog_dir)
    srv.basic_auth = (USER, PASSWORD)
    with rasterio.open(cog_dir / "small.tif") as ds:
        expected = ds.read(window=WIN)
    cache_root = tmp_path / "cache"
    secret_url = f"http://{USER}:{PASSWORD}@{srv.url.removeprefix('http://')}/small.tif"
    ch = CachedHttp(HttpClient(timeout=5, retries=0), BlockCache(cache_root, 100_000_000))
    with CachingRangeProxy(ch, [srv.url]) as proxy:
        anonymous = "/vsicurl/" + proxy.url_for(f"{srv.url}/small.tif")
        with pytest.raises(rasterio.errors.RasterioIOError):
            read(anonymous)  # the server refuses it: credentials are needed
        url = "/vsicurl/" + proxy.url_for(secret_url)
        np.testing.assert_array_equal(read(url), expected)
        sent = srv.range_requests
        np.testing.assert_array_equal(read(url), expected)
        assert srv.range_requests == sent  # cached

    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, basic, USER):
        assert secret not in url
        assert secret not in caplog.text
        for f in cache_root.rglob("*"):  # the SQLite index (and its WAL), payload file names
            assert secret not in f.name
            if f.is_file() and f.suffix != ".bin":
                assert secret.encode() not in f.read_bytes(), f


def test_authcfg_outside_qgis_is_a_clear_error(cog_dir, loopback, tmp_path):
    srv = loopback(cog_dir)
    ch = CachedHttp(HttpClient(timeout=5), BlockCache(tmp_path / "c", 100_000_000))
    with CachingRangeProxy(ch, [srv.url]) as proxy:
        with pytest.raises(UserInputError, match="only QGIS can apply"):
            proxy.url_for(f"{srv.url}/small.tif", authcfg="abc1234")


def test_credentials_of_one_server_are_never_sent_to_another(cog_dir, loopback, tmp_path):
    import requests

    from idf_hr_plugin.core.tiles.proxy import encode_url

    srv, other = loopback(cog_dir), loopback(cog_dir)
    ch = CachedHttp(HttpClient(timeout=5, retries=0), BlockCache(tmp_path / "c", 100_000_000))
    with CachingRangeProxy(ch, ["http://"]) as proxy:
        secret_url = f"http://{USER}:{PASSWORD}@{srv.url.removeprefix('http://')}/small.tif"
        ctx = proxy.url_for(secret_url).split("/a/", 1)[1].split("/", 1)[0]
        # anyone on this machine could forge a proxy URL pointing the context at another server
        forged = f"{proxy.base_url}/a/{ctx}/{encode_url(other.url + '/small.tif')}/small.tif"
        assert requests.get(forged, headers={"Range": "bytes=0-9"}, timeout=5).status_code == 403
    assert not any("authorization" in r.headers for r in other.log)
