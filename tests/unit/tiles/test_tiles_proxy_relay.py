"""The local caching proxy is no open relay: a forged request gets 403 and the origin hears nothing.

A local process or a web page that can reach 127.0.0.1 may know the proxy's port; without the
per-process secret of its addresses, or for an origin the plugin never asked it to route, it
gets a 403 and the proxy sends nothing out.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.tiles import service
from idf_hr_plugin.core.tiles.cache import BlockCache
from idf_hr_plugin.core.tiles.cached_http import CachedHttp
from idf_hr_plugin.core.tiles.proxy import CachingRangeProxy, encode_url


def test_forged_requests_get_403_and_reach_no_origin(cog_dir, loopback, tmp_path):
    imagery, victim = loopback(cog_dir), loopback(cog_dir)
    routed_origin = f"{imagery.url}/small.tif"
    ch = CachedHttp(HttpClient(timeout=5, retries=1, backoff=0.01), BlockCache(tmp_path / "c", 100_000_000))
    # the process-wide proxy allows every http(s) origin: the secret and the routed set protect it
    with CachingRangeProxy(ch, ("http://", "https://")) as proxy:
        good = proxy.url_for(routed_origin)
        assert good.startswith(proxy.base_url + "/r/")
        port_url = "http://" + urlsplit(good).netloc  # http://127.0.0.1:<port>, what a port scan finds
        other = f"{victim.url}/small.tif"
        name = "small.tif"
        forged = [
            f"{port_url}/r/{encode_url(other)}/{name}",  # no secret (the 0.1 address form)
            f"{port_url}/r/{encode_url(routed_origin)}/{name}",  # even for a routed origin
            f"{port_url}/{'x' * 32}/r/{encode_url(other)}/{name}",  # a wrong secret
            f"{proxy.base_url}/r/{encode_url(other)}/{name}",  # right secret, origin never routed
            f"{proxy.base_url}/r/{encode_url(routed_origin + '?x=1')}/{name}",  # a variant of it
            f"{port_url}/a/u0123456789abcdef/{encode_url(other)}/{name}",
        ]
        for url in forged:
            for method in (requests.get, requests.head):
                assert method(url, timeout=5).status_code == 403, url
        assert victim.log == [] and imagery.log == []  # nothing went out
        # the real address still works
        assert requests.get(good, headers={"Range": "bytes=0-99"}, timeout=5).status_code == 206
        assert imagery.log and victim.log == []
        assert len(proxy.secret) >= 32


def test_the_secret_stays_out_of_the_origin_form(cog_dir, loopback, tmp_path):
    srv = loopback(cog_dir)
    origin = f"{srv.url}/small.tif"
    ch = CachedHttp(HttpClient(timeout=5), BlockCache(tmp_path / "c", 100_000_000))
    with CachingRangeProxy(ch, (srv.url + "/",)) as proxy:
        routed = "/vsicurl/" + proxy.url_for(origin)
        assert proxy.secret in routed
        assert service.origin_gdal_path(routed) == "/vsicurl/" + origin  # what projects and journals store
