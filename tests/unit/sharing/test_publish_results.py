"""Publishing results (STAC item + PostGIS), browsing and loading them back: real GDAL, real PostgreSQL/PostGIS."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from idf_hr_plugin.core.errors import NetworkError, UserInputError
from idf_hr_plugin.core.sharing import (
    ResultFilter,
    filter_runs,
    load_features,
    publish_postgis,
    publish_result,
    publish_stac,
    read_result_layer,
    runs_from_catalog,
    runs_from_postgis,
)
from tests.postgis import OTHER_WRITER, READER
from tests.sharing_data import change_gpkg, detections_gpkg

RUSTAC = shutil.which("rustac") or str(Path(__import__("sys").executable).parent / "rustac")


def _features(gpkg, layer) -> dict:
    """fid -> (attributes, WKT) of a GeoPackage layer."""
    from osgeo import ogr

    ds = ogr.Open(str(gpkg))
    lyr = ds.GetLayerByName(layer)
    out = {f.GetFID(): (f.items(), f.GetGeometryRef().ExportToIsoWkt()) for f in lyr}
    del lyr, ds
    return out


def _rustac_validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([RUSTAC, "validate", str(path)], capture_output=True, text=True, timeout=60)


def test_stac_item_is_valid_and_the_objects_come_back_identical(tmp_path):
    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 60)
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 test report\n")
    out = publish_result(gpkg, "Vincennes", catalog_dir=tmp_path / "results", report_pdf=report)
    item_path = out.item
    res = _rustac_validate(item_path)
    assert res.returncode == 0, res.stdout + res.stderr
    item = json.loads(item_path.read_text("utf-8"))
    props = item["properties"]
    # what a partner reads: when the imagery was taken, which model, what it cost, what was found
    assert props["start_datetime"] == "2021-01-01T00:00:00Z" and props["end_datetime"].startswith(
        "2021-12-31"
    )
    assert (
        props["idfhr:model"]["name"] == "idfhr_demo_detector" and props["idfhr:model"]["sha256"] == "a" * 64
    )
    assert props["idfhr:run"]["cpu_s"] == 12.5 and props["idfhr:run"]["km2"] == pytest.approx(0.16)
    assert props["idfhr:run"]["energy_wh"] == 0.05 and props["idfhr:run"]["parameters"]["conf"] == 0.3
    assert sum(props["idfhr:counts"].values()) == 60 and props["idfhr:partner"] == "Vincennes"
    # geometry = the analysed area (400 m square in Vincennes), in lon/lat
    x0, y0, x1, y1 = item["bbox"]
    assert 2.39 < x0 < x1 < 2.42 and 48.83 < y0 < y1 < 48.85
    assert set(item["assets"]) == {"objects", "report"}
    root = json.loads((tmp_path / "results" / "catalog.json").read_text("utf-8"))
    assert [ln["href"] for ln in root["links"] if ln["rel"] == "item"] == [
        f"./{item['id']}/{item['id']}.json"
    ]

    (run,) = runs_from_catalog(str(tmp_path / "results"))
    assert run.partner == "Vincennes" and run.run_id == "run-0001" and run.features == 60
    assert Path(run.objects_href).is_file() and Path(run.report_href).read_bytes().startswith(b"%PDF")
    assert _features(run.objects_href, run.layer) == _features(gpkg, layer)
    # the run record travels with the objects
    from idf_hr_plugin.core.inference.writer import read_runs

    assert [r["run_id"] for r in read_runs(run.objects_href)] == ["run-0001"]


def test_republishing_is_idempotent_and_partners_do_not_overwrite_each_other(tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 10)
    run = read_result_layer(gpkg)
    cat = tmp_path / "results"
    first = publish_stac(run, cat, "Vincennes")
    before = first.read_bytes()
    publish_stac(run, cat, "Vincennes", now="2026-11-29T00:00:00Z")
    other = publish_stac(run, cat, "EPT T10")
    links = [
        ln["href"]
        for ln in json.loads((cat / "catalog.json").read_text("utf-8"))["links"]
        if ln["rel"] == "item"
    ]
    assert len(links) == 2 and first.parent != other.parent
    assert json.loads(first.read_text("utf-8"))["properties"]["idfhr:partner"] == "Vincennes"
    assert json.loads(before)["id"] == json.loads(first.read_text("utf-8"))["id"]
    assert sorted(r.partner for r in runs_from_catalog(str(cat))) == ["EPT T10", "Vincennes"]


def test_browse_filters_by_extent_date_model_class_and_partner(tmp_path):
    cat = tmp_path / "results"
    a, _ = detections_gpkg(tmp_path / "a.gpkg", 5, run_id="run-a", vintage="2018")
    b, _ = detections_gpkg(tmp_path / "b.gpkg", 5, run_id="run-b", vintage="2021-06-15", model="pools_v2")
    c, _ = change_gpkg(tmp_path / "c.gpkg")
    publish_stac(read_result_layer(a), cat, "Vincennes")
    publish_stac(read_result_layer(b), cat, "EPT T10")
    publish_stac(read_result_layer(c), cat, "Vincennes")
    runs = runs_from_catalog(str(cat))
    assert len(runs) == 3

    def ids(**kw) -> set:
        return {r.run_id for r in filter_runs(runs, ResultFilter(**kw))}

    assert ids(partner="ept t10") == {"run-b"}
    assert ids(model="pools") == {"run-b"}
    assert ids(start="2020-01-01") == {"run-b", next(r.run_id for r in runs if r.kind == "changes")}
    assert ids(end="2019-12-31") == {"run-a", next(r.run_id for r in runs if r.kind == "changes")}
    assert ids(class_name="pool") == {r.run_id for r in runs}  # the change layer counts "pool: new" etc.
    assert ids(class_name="car") == set()
    assert ids(bbox=(2.39, 48.83, 2.42, 48.85)) == {r.run_id for r in runs}
    assert ids(bbox=(2.0, 48.0, 2.1, 48.1)) == set()


def test_a_catalog_json_that_is_not_a_catalog_is_refused_and_kept(tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 3)
    cat = tmp_path / "results"
    cat.mkdir()
    (cat / "catalog.json").write_text('{"hello": 1}', "utf-8")
    with pytest.raises(UserInputError, match="is not a STAC catalog"):
        publish_result(gpkg, "Vincennes", catalog_dir=cat)
    assert sorted(p.name for p in cat.iterdir()) == ["catalog.json"]
    assert (cat / "catalog.json").read_text("utf-8") == '{"hello": 1}'


def test_postgis_round_trip_features_and_attributes_identical(postgis, tmp_path):
    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 80, run_id="rt-1")
    out = publish_result(gpkg, "Vincennes", dsn=postgis.dsn())
    assert out.rows == 80
    (run,) = [r for r in runs_from_postgis(postgis.dsn()) if r.run_id == "rt-1"]
    assert run.partner == "Vincennes" and run.features == 80 and run.model == "idfhr_demo_detector"
    assert run.start.startswith("2021-01-01") and run.cost["cpu_s"] == 12.5
    # read with the SELECT-only role, as a partner browsing would
    back = load_features(postgis.dsn(READER), "Vincennes", "rt-1", tmp_path / "back.gpkg")
    assert back == layer
    assert _features(tmp_path / "back.gpkg", back) == _features(gpkg, layer)

    # limited to an extent: only the objects that touch it
    bbox = (656_000, 6_860_000, 656_100, 6_860_100)
    part = load_features(postgis.dsn(), "Vincennes", "rt-1", tmp_path / "part.gpkg", bbox=bbox)
    got = _features(tmp_path / "part.gpkg", part)
    from osgeo import ogr

    def touches(wkt: str) -> bool:
        x0, x1, y0, y1 = ogr.CreateGeometryFromWkt(wkt).GetEnvelope()
        return x0 <= bbox[2] and x1 >= bbox[0] and y0 <= bbox[3] and y1 >= bbox[1]

    expected = {k: v for k, v in _features(gpkg, layer).items() if touches(v[1])}
    assert 0 < len(got) < 80 and got == expected


def test_postgis_change_layer_keeps_its_own_columns_and_types(postgis, tmp_path):
    gpkg, layer = change_gpkg(tmp_path / "chg.gpkg", 25)
    run = read_result_layer(gpkg)
    assert publish_postgis(run, postgis.dsn(), "Vincennes") == 25
    back = load_features(postgis.dsn(), "Vincennes", run.run_id, tmp_path / "back.gpkg")
    assert _features(tmp_path / "back.gpkg", back) == _features(gpkg, layer)
    (row,) = [r for r in runs_from_postgis(postgis.dsn()) if r.run_id == run.run_id]
    assert row.kind == "changes" and row.start.startswith("2018-01-01") and row.end.startswith("2021-12-31")


def _count(postgis, sql: str) -> int:
    return int(postgis.psql("idfhr_shared", sql).strip())


def test_postgis_republish_is_idempotent_and_never_touches_another_partner(postgis, tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 30, run_id="idem-1")
    run = read_result_layer(gpkg)
    publish_postgis(run, postgis.dsn(), "Vincennes")
    publish_postgis(run, postgis.dsn(OTHER_WRITER), "Montreuil")  # same run id, another partner
    publish_postgis(run, postgis.dsn(), "Vincennes")  # again
    q = "SELECT count(*) FROM idfhr_results WHERE run_id = 'idem-1' AND partner = '{}'"
    assert _count(postgis, q.format("Vincennes")) == 30
    assert _count(postgis, q.format("Montreuil")) == 30
    assert _count(postgis, "SELECT count(*) FROM idfhr_runs WHERE run_id = 'idem-1'") == 2

    # a run of partner Vincennes cannot be replaced by another database role
    with pytest.raises(UserInputError, match="was published by the database role 'partner_writer'"):
        publish_postgis(run, postgis.dsn(OTHER_WRITER), "Vincennes")
    assert _count(postgis, q.format("Vincennes")) == 30


def test_postgis_select_only_role_is_refused_and_nothing_changes(postgis, tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 12, run_id="ro-1")
    run = read_result_layer(gpkg)
    publish_postgis(run, postgis.dsn(), "Vincennes")  # the tables exist, with rows
    before = postgis.psql("idfhr_shared", "SELECT partner, run_id, features FROM idfhr_runs ORDER BY 1, 2")
    other, _ = detections_gpkg(tmp_path / "other.gpkg", 7, run_id="ro-2")
    with pytest.raises(UserInputError) as err:
        publish_result(other, "Vincennes", dsn=postgis.dsn(READER))
    msg = str(err.value)
    assert "may not write the shared results" in msg and "nothing was published" in msg and "grant" in msg
    assert (
        postgis.psql("idfhr_shared", "SELECT partner, run_id, features FROM idfhr_runs ORDER BY 1, 2")
        == before
    )
    assert _count(postgis, "SELECT count(*) FROM idfhr_results WHERE run_id = 'ro-2'") == 0


def test_unreachable_database_is_a_clear_error_and_nothing_is_written(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 3)
    cat = tmp_path / "results"
    dsn = f"host=127.0.0.1 port={port} dbname=shared user=me password=s3cret-pw connect_timeout=5"
    with pytest.raises(NetworkError) as err:
        publish_result(gpkg, "Vincennes", dsn=dsn, catalog_dir=cat)
    msg = str(err.value)
    assert (
        "cannot be reached" in msg
        and "nothing was published" in msg
        and "Check that the server is running" in msg
    )
    assert "s3cret-pw" not in msg and "me@127.0.0.1" in msg  # named without its secret
    assert not cat.exists()  # the catalog was not written either


def test_bad_partner_name_and_non_result_layer_are_refused(tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 3)
    with pytest.raises(UserInputError, match="partner name"):
        publish_result(gpkg, "  ", catalog_dir=tmp_path / "c")
    from osgeo import ogr, osr

    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "roads.gpkg"))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    lyr = ds.CreateLayer("roads", srs, ogr.wkbLineString)
    lyr.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    del lyr, ds
    with pytest.raises(UserInputError, match="detection, change or zone-statistics"):
        publish_result(tmp_path / "roads.gpkg", "Vincennes", catalog_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_item_links_the_model_mlm_item_when_the_model_came_from_a_catalog(tmp_path):
    model = tmp_path / "models" / "pools_v2.onnx"
    model.parent.mkdir()
    model.write_bytes(b"onnx")
    mlm_item = "https://partners.example/models/pools_v2-aaaaaaaa/pools_v2-aaaaaaaa.json"
    card = {"name": "pools_v2", "sha256": "a" * 64, "source": {"kind": "stac-mlm", "item": mlm_item}}
    model.with_suffix(".json").write_text(json.dumps(card), "utf-8")
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 5, model="pools_v2", model_path=str(model))
    out = publish_result(gpkg, "Vincennes", catalog_dir=tmp_path / "results")
    item = json.loads(out.item.read_text("utf-8"))
    assert item["properties"]["idfhr:model"]["item"] == mlm_item
    assert [ln["href"] for ln in item["links"] if ln["rel"] == "derived_from"] == [mlm_item]
    (run,) = runs_from_catalog(str(tmp_path / "results"))
    assert run.model_item == mlm_item


def test_zone_statistics_layer_publishes_with_its_zones_and_totals(postgis, tmp_path):
    from tests.sharing_data import zones_gpkg

    gpkg, layer = zones_gpkg(tmp_path / "zones.gpkg")
    out = publish_result(gpkg, "EPT T10", catalog_dir=tmp_path / "results", dsn=postgis.dsn())
    assert out.run.kind == "zonal" and out.rows == 2 and out.run.counts == {"all": 17}
    item = json.loads(out.item.read_text("utf-8"))
    assert item["properties"]["idfhr:kind"] == "zonal"
    assert _rustac_validate(out.item).returncode == 0
    # re-publishing the same layer is recognised (its id is derived from its content)
    assert publish_result(gpkg, "EPT T10", dsn=postgis.dsn()).run.run_id == out.run.run_id
    assert _count(postgis, f"SELECT count(*) FROM idfhr_runs WHERE run_id = '{out.run.run_id}'") == 1
    back = load_features(postgis.dsn(), "EPT T10", out.run.run_id, tmp_path / "back.gpkg")
    assert _features(tmp_path / "back.gpkg", back) == _features(gpkg, layer)


def test_a_bad_catalog_folder_is_refused_before_anything_reaches_postgis(postgis, tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 4, run_id="both-1")
    first, _ = detections_gpkg(tmp_path / "first.gpkg", 2, run_id="both-0")
    publish_postgis(read_result_layer(first), postgis.dsn(), "Vincennes")  # the shared tables exist
    cat = tmp_path / "results"
    cat.mkdir()
    (cat / "catalog.json").write_text("not json", "utf-8")
    with pytest.raises(UserInputError, match="not a readable STAC catalog"):
        publish_result(gpkg, "Vincennes", catalog_dir=cat, dsn=postgis.dsn())
    assert _count(postgis, "SELECT count(*) FROM idfhr_results WHERE run_id = 'both-1'") == 0


def test_results_catalog_browsed_over_http_gives_asset_urls_gdal_reads(loopback, tmp_path):
    from osgeo import ogr

    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 8, run_id="http-1")
    publish_stac(read_result_layer(gpkg), tmp_path / "results", "Vincennes")
    srv = loopback(tmp_path / "results")
    (run,) = runs_from_catalog(srv.url + "/catalog.json")
    assert run.objects_href.startswith(srv.url) and run.objects_href.endswith("/objects.gpkg")
    ds = ogr.Open("/vsicurl/" + run.objects_href)
    assert ds is not None and ds.GetLayerByName(run.layer).GetFeatureCount() == 8
