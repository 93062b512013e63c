"""core.tiles.service: the stored (origin) form of GDAL paths and their routing through the proxy."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.tiles import service
from idf_hr_plugin.core.tiles.cache import BlockCache
from idf_hr_plugin.core.tiles.cached_http import CachedHttp
from idf_hr_plugin.core.tiles.proxy import CachingRangeProxy, encode_url

ORIGIN = "https://imagery.example.org/thr/2026/tile_12.tif"


@pytest.fixture
def proxy(tmp_path):
    service.stop()
    p = CachingRangeProxy(CachedHttp(HttpClient(), BlockCache(tmp_path / "c", 10_000_000)), ["https://"])
    service.install(p)
    yield p
    service.stop()


def test_proxy_urls_of_a_dead_session_are_stored_and_routed_by_their_origin(proxy):
    dead = f"/vsicurl/http://127.0.0.1:1/r/{encode_url(ORIGIN)}/tile_12.tif"  # a project of IdF HR 0.1
    assert service.origin_gdal_path(dead) == "/vsicurl/" + ORIGIN
    routed = service.cached_gdal_path(dead)
    assert routed.startswith(f"/vsicurl/{proxy.base_url}/r/") and service.origin_gdal_path(routed) == (
        "/vsicurl/" + ORIGIN
    )
    with_auth = f"/vsicurl/http://127.0.0.1:1/a/qab12cd3/{encode_url(ORIGIN)}/tile_12.tif"
    assert service.origin_gdal_path(with_auth) == f"/vsicurl/{ORIGIN}#authcfg=ab12cd3"


def test_credentials_are_redacted_and_local_paths_start_nothing(tmp_path):
    service.stop()
    assert service.redact("/vsicurl/https://u:p%40ss@h.example/x.tif") == "/vsicurl/https://h.example/x.tif"
    local = str(tmp_path / "ortho.tif")
    assert service.cached_gdal_path(local) == local
    assert service.current() is None  # no proxy (thread, cache index) for a local file
