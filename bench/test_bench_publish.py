"""Sharing benchmark: publish and load 100,000 detections to/from PostGIS; browse a results catalog of 1,000 runs.

Run with ``make bench`` (or this file alone with ``-s``). References measured in the same run on
the same data: GDAL's own ``ogr2ogr``-style copy (``PG_USE_COPY``) GeoPackage → PostGIS and back,
and reading the 1,000 item files with ``json`` alone, so the printed ratios compare like with like.
"""

from __future__ import annotations

import json
import time

from idf_hr_plugin.core.sharing import (
    ResultFilter,
    filter_runs,
    load_features,
    publish_postgis,
    publish_stac,
    read_result_layer,
    runs_from_catalog,
)
from tests.conftest import postgis  # noqa: F401 (fixture: the PostgreSQL + PostGIS server)
from tests.sharing_data import detections_gpkg

N = 100_000
RUNS = 1_000


def test_bench_publish_and_load_100k_detections_postgis(benchmark, postgis, tmp_path):  # noqa: F811
    from osgeo import gdal

    gpkg, layer = detections_gpkg(tmp_path / "big.gpkg", N, run_id="bench-100k", size_m=20_000)
    dsn = postgis.dsn()

    # reference: GDAL copies the same layer into a plain PostGIS table (COPY), and back
    gdal.SetConfigOption("PG_USE_COPY", "YES")
    t0 = time.perf_counter()
    gdal.VectorTranslate("PG:" + dsn, str(gpkg), layers=[layer], layerName="ref_copy", format="PostgreSQL")
    ref_pub = time.perf_counter() - t0
    t0 = time.perf_counter()
    gdal.VectorTranslate(str(tmp_path / "ref_back.gpkg"), "PG:" + dsn, layers=["ref_copy"], format="GPKG")
    ref_load = time.perf_counter() - t0

    run = read_result_layer(gpkg)
    t0 = time.perf_counter()
    assert publish_postgis(run, dsn, "Bench") == N
    pub = time.perf_counter() - t0
    # re-publishing replaces the run's rows in one transaction
    t0 = time.perf_counter()
    publish_postgis(run, dsn, "Bench")
    repub = time.perf_counter() - t0

    rounds = []

    def load():
        out = tmp_path / f"back_{len(rounds)}.gpkg"
        rounds.append(out)
        return load_features(dsn, "Bench", "bench-100k", out)

    benchmark.pedantic(load, rounds=2, iterations=1)
    load_s = benchmark.stats.stats.mean
    from osgeo import ogr

    ds = ogr.Open(str(rounds[-1]))
    assert ds.GetLayer(0).GetFeatureCount() == N
    del ds
    print(
        f"\n[publish] {N} detections -> PostGIS: {pub:6.2f} s = {N / pub:,.0f} rows/s "
        f"(GDAL COPY reference {ref_pub:.2f} s, ratio plugin/GDAL {pub / ref_pub:.2f}); "
        f"re-publish {repub:.2f} s"
        f"\n[load]    {N} detections PostGIS -> GeoPackage: {load_s:6.2f} s = {N / load_s:,.0f} rows/s "
        f"(GDAL reference {ref_load:.2f} s, ratio plugin/GDAL {load_s / ref_load:.2f})"
    )
    benchmark.extra_info.update(publish_s=pub, republish_s=repub, load_s=load_s, ref_publish_s=ref_pub)


def test_bench_browse_results_catalog_of_1000_runs(benchmark, tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "one.gpkg", 20, run_id="seed")
    cat = tmp_path / "results"
    item_path = publish_stac(read_result_layer(gpkg), cat, "Seed")
    template = json.loads(item_path.read_text("utf-8"))
    root = json.loads((cat / "catalog.json").read_text("utf-8"))
    partners = ["Vincennes", "Montreuil", "EPT T10", "Paris", "Saint-Denis"]
    for i in range(RUNS):  # 1,000 items as published, with other partners, runs, vintages and models
        doc = json.loads(json.dumps(template))
        partner = partners[i % len(partners)]
        doc["id"] = f"{partner.replace(' ', '-')}-run-{i:04d}"
        props = doc["properties"]
        props["idfhr:partner"], props["idfhr:run_id"] = partner, f"run-{i:04d}"
        year = 2015 + i % 10
        props["start_datetime"], props["end_datetime"] = f"{year}-01-01T00:00:00Z", f"{year}-12-31T23:59:59Z"
        props["idfhr:model"]["name"] = "pools_v2" if i % 3 == 0 else "idfhr_demo_detector"
        d = cat / doc["id"]
        d.mkdir()
        (d / f"{doc['id']}.json").write_text(json.dumps(doc), "utf-8")
        root["links"].append({"rel": "item", "href": f"./{doc['id']}/{doc['id']}.json"})
    (cat / "catalog.json").write_text(json.dumps(root), "utf-8")

    t0 = time.perf_counter()
    raw = [json.loads((cat / ln["href"]).read_text("utf-8")) for ln in root["links"] if ln["rel"] == "item"]
    ref = time.perf_counter() - t0
    assert len(raw) == RUNS + 1

    flt = ResultFilter(bbox=(2.39, 48.83, 2.42, 48.85), start="2020-01-01", model="pools", partner="Paris")

    def browse():
        return filter_runs(runs_from_catalog(str(cat)), flt)

    found = benchmark.pedantic(browse, rounds=3, iterations=1)
    assert found and all(r.partner == "Paris" and r.model == "pools_v2" for r in found)
    s = benchmark.stats.stats.mean
    print(
        f"\n[browse]  results catalog of {RUNS + 1} runs: list + filter {s * 1000:.0f} ms "
        f"({(RUNS + 1) / s:,.0f} runs/s; json.load of the same files {ref * 1000:.0f} ms, ratio {s / ref:.1f})"
    )
