"""Tiles benchmarks (``make bench``): plugin read path vs plain GDAL, time to first imagery, packs.

A synthetic 1 km² RGB COG at 20 cm (5000 × 5000 px, 512 px JPEG tiles, overviews) is built in
a temporary folder and served by a loopback HTTP server with Range support. Every number below
is measured in the same run, so the ratios compare like with like on this machine.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from rasterio.transform import from_origin
from rasterio.windows import Window

from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.tiles.cache import BlockCache
from idf_hr_plugin.core.tiles.cached_http import CachedHttp
from idf_hr_plugin.core.tiles.offline import download_pack
from idf_hr_plugin.core.tiles.proxy import CachingRangeProxy
from tests.servers import LoopbackServer

SIZE = 5000  # 1 km at 20 cm
X0, Y0 = 652000.0, 6863000.0
ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
ROUNDS = 3


def make_cog(folder: Path) -> Path:
    tmp, out = folder / "raw.tif", folder / "ortho_20cm.tif"
    rng = np.random.default_rng(42)
    prof = dict(
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(X0, Y0, 0.2, 0.2),
        tiled=True,
        blockxsize=512,
        blockysize=512,
    )
    with rasterio.open(tmp, "w", **prof) as dst:
        for r0 in range(0, SIZE, 500):
            yy, xx = np.mgrid[r0 : r0 + 500, 0:SIZE].astype(np.float32)
            base = np.stack(
                [
                    128 + 60 * np.sin(xx / 37) * np.cos(yy / 53),
                    120 + 50 * np.sin((xx + yy) / 71),
                    100 + 40 * np.cos(xx / 19 - yy / 29),
                ]
            )
            noisy = base + rng.normal(0, 10, base.shape).astype(np.float32)
            dst.write(np.clip(noisy, 0, 255).astype(np.uint8), window=Window(0, r0, SIZE, 500))
    opts = ["BLOCKSIZE=512", "COMPRESS=JPEG", "QUALITY=85", "OVERVIEW_RESAMPLING=AVERAGE"]
    gdal.Translate(str(out), str(tmp), options=gdal.TranslateOptions(format="COG", creationOptions=opts))
    tmp.unlink()
    return out


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench_cog")
    cog = make_cog(folder)
    with LoopbackServer(folder) as srv:
        yield srv, f"{srv.url}/{cog.name}", cog


def read_full(url: str) -> np.ndarray:
    gdal.VSICurlClearCache()  # no help from GDAL's in-process cache between runs
    with rasterio.Env(**ENV), rasterio.open(url) as ds:
        return ds.read()


def first_imagery(url: str) -> np.ndarray:
    gdal.VSICurlClearCache()
    with rasterio.Env(**ENV), rasterio.open(url) as ds:
        return ds.read(out_shape=(ds.count, 1024, 1024))  # served by an overview


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def proxied(tmp: Path, srv, origin_url: str) -> tuple[CachingRangeProxy, str]:
    cache = BlockCache(tmp, 2 * 1024**3)
    proxy = CachingRangeProxy(CachedHttp(HttpClient(), cache), [srv.url])
    return proxy, "/vsicurl/" + proxy.url_for(origin_url)


def test_read_1km2_plugin_vs_gdal(origin, tmp_path, benchmark):
    """(a) 1 km² at 20 cm: GDAL /vsicurl/ direct vs through CachingRangeProxy, cold and warm."""
    srv, url, cog = origin
    direct = "/vsicurl/" + url
    t_direct, t_cold = [], []
    for i in range(ROUNDS):
        t_direct.append(timed(read_full, direct))
        proxy, purl = proxied(tmp_path / f"cold{i}", srv, url)  # empty cache every round
        with proxy:
            t_cold.append(timed(read_full, purl))
    proxy, purl = proxied(tmp_path / "cold0", srv, url)  # the cache filled above
    with proxy:
        before = srv.range_requests
        benchmark.pedantic(read_full, args=(purl,), rounds=ROUNDS, iterations=1)
        assert srv.range_requests == before  # warm: not one request reached the origin
        t_warm = list(benchmark.stats.stats.data)
        np.testing.assert_array_equal(read_full(purl), read_full(direct))
    d, c, w = (statistics.median(t) for t in (t_direct, t_cold, t_warm))
    mb = cog.stat().st_size / 1e6
    print(
        f"\n[bench tiles] 1 km² @20 cm ({SIZE}x{SIZE} px, COG {mb:.1f} MB) median of {ROUNDS}:"
        f"\n  GDAL direct /vsicurl/       {d:6.3f} s"
        f"\n  plugin proxy, cold cache    {c:6.3f} s   ratio plugin/GDAL = {c / d:.2f}"
        f"\n  plugin proxy, warm cache    {w:6.3f} s   ratio plugin/GDAL = {w / d:.2f}"
    )
    benchmark.extra_info.update(direct_s=d, cold_s=c, warm_s=w, cold_ratio=c / d, warm_ratio=w / d)


def test_time_to_first_imagery_from_cache(origin, tmp_path, benchmark):
    """(b) open + read a 1024×1024 overview-level view through the warm proxy."""
    srv, url, _ = origin
    proxy, purl = proxied(tmp_path / "c", srv, url)
    with proxy:
        first_imagery(purl)  # warm the cache
        before = srv.range_requests
        benchmark.pedantic(first_imagery, args=(purl,), rounds=5, iterations=1)
        assert srv.range_requests == before
    t_cache = statistics.median(benchmark.stats.stats.data)
    t_direct = statistics.median(timed(first_imagery, "/vsicurl/" + url) for _ in range(5))
    print(
        f"\n[bench tiles] time to first imagery (1024x1024 overview view): from cache {t_cache * 1000:.0f} ms,"
        f" GDAL direct from the loopback origin {t_direct * 1000:.0f} ms"
    )
    benchmark.extra_info.update(
        first_imagery_cache_ms=t_cache * 1000, first_imagery_direct_ms=t_direct * 1000
    )


def test_offline_pack_throughput(origin, tmp_path, benchmark):
    """(c) download_pack of the 1 km² (native 20 cm → COG DEFLATE with overviews) via the warm proxy."""
    srv, url, _ = origin
    proxy, purl = proxied(tmp_path / "c", srv, url)
    extent = (X0, Y0 - 1000, X0 + 1000, Y0)
    with proxy:
        read_full(purl)  # warm the cache: the pack measures disk + decode + encode, not the network
        n = {"i": 0}

        def run():
            n["i"] += 1
            return download_pack(purl, extent, "EPSG:2154", tmp_path / f"pack{n['i']}.tif")

        res = benchmark.pedantic(run, rounds=2, iterations=1)
    secs = statistics.median(benchmark.stats.stats.data)
    raw_mb = res.pixels * res.bands / 1e6
    print(
        f"\n[bench tiles] offline pack 1 km² @20 cm: {secs:.2f} s, {raw_mb / secs:.1f} MB/s of pixels,"
        f" {res.pixels / 1e6 / secs:.1f} Mpx/s, output {res.bytes / 1e6:.1f} MB"
    )
    assert res.pixels == SIZE * SIZE
    benchmark.extra_info.update(pack_s=secs, pack_mb_s=raw_mb / secs, pack_mpx_s=res.pixels / 1e6 / secs)
