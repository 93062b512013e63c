"""Open-data benchmark: load a 100,000-record dataset from a loopback Opendatasoft portal, then hit the cache.

Run with ``make bench``; prints records/s of the full load (GeoJSON export + validation + GeoPackage
cache write) and the cache hit time.
"""

from __future__ import annotations

import time

from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.opendata import gpkgio
from idf_hr_plugin.core.opendata.cache import DatasetCache, make_key
from idf_hr_plugin.core.opendata.ods import OdsPortal
from tests.servers import LoopbackServer
from tests.unit.opendata.fakeportals import FakeOds, generated_dataset

N = 100_000


def test_bench_opendata_load_and_cache_hit(benchmark, tmp_path):
    ds = generated_dataset("points-generes-100k", N)
    with LoopbackServer() as srv:
        FakeOds(srv, {ds.dataset_id: ds})
        portal = OdsPortal(srv.url, HttpClient(timeout=120, retries=0))
        cache = DatasetCache(tmp_path / "cache")
        key = make_key(srv.url, ds.dataset_id)
        portal.export_geojson(ds.dataset_id, tmp_path / "warm.geojson")  # server builds its export body once

        t0 = time.perf_counter()
        res = portal.export_geojson(ds.dataset_id, tmp_path / "dl.geojson")
        t1 = time.perf_counter()
        entry = cache.put(
            key, res.path, source_url=res.source_url, dataset_id=ds.dataset_id, license=res.license
        )
        t2 = time.perf_counter()
    assert res.feature_count == N and entry.feature_count == N

    def hit():
        e = DatasetCache(tmp_path / "cache").get(key)
        return gpkgio.layer_feature_count(e.path, e.layer)

    assert benchmark(hit) == N
    load_s = t2 - t0
    print(
        f"\n[opendata] {N} records: export+validate {t1 - t0:.2f} s, cache write {t2 - t1:.2f} s, "
        f"total {load_s:.2f} s = {N / load_s:,.0f} records/s; "
        f"cache hit {benchmark.stats.stats.mean * 1000:.1f} ms (mean of {benchmark.stats.stats.rounds})"
    )
