"""``qgis_process run idfhr:opendataload`` / ``idfhr:fibrecoverage`` with the real QGIS command line.

The Opendatasoft server runs in this test process on 127.0.0.1; ``qgis_process`` reaches it over TCP.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from osgeo import ogr

from tests.unit.opendata.fakeportals import FakeOds, generated_dataset, load_shared_datasets


@pytest.fixture
def ods(loopback, shared_data):
    datasets = load_shared_datasets(shared_data)
    big = generated_dataset("points-generes-10050", 10_050)
    datasets[big.dataset_id] = big
    return FakeOds(loopback(), datasets)


def _meta(path):
    con = sqlite3.connect(str(path))
    try:
        return dict(con.execute("SELECT key, value FROM idf_hr_metadata"))
    finally:
        con.close()


def _features(path, layer=None):
    """(features as dicts, {field: OGR type}, geometry type) of a layer; the dataset is closed after."""
    ds = ogr.Open(str(path))
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    defn = lyr.GetLayerDefn()
    types = {
        defn.GetFieldDefn(i).GetName(): defn.GetFieldDefn(i).GetType() for i in range(defn.GetFieldCount())
    }
    feats = [{k: f.GetField(k) for k in types} for f in lyr]
    gtype = lyr.GetGeomType()
    ds = None
    return feats, types, gtype


def test_opendataload_all_records_where_and_past_the_cap(qgis_process, ods, shared_data, tmp_path):
    velib = json.loads(
        (shared_data / "opendata" / "velib-emplacement-des-stations.geojson").read_text("utf-8")
    )
    out = tmp_path / "velib.gpkg"
    res = qgis_process.run(
        "idfhr:opendataload",
        {"PORTAL": ods.url, "DATASET": "velib-emplacement-des-stations", "OUTPUT": str(out)},
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    feats, types, gtype = _features(out, "velib_emplacement_des_stations")
    assert len(feats) == 1003 == len(velib["features"])
    assert types["capacity"] in (ogr.OFTInteger, ogr.OFTInteger64) and gtype == ogr.wkbPoint
    meta = _meta(out)
    assert meta["license"] == "Open Database License (ODbL)" and "exports/geojson" in meta["source_url"]
    assert meta["retrieved_at"] and meta["feature_count"] == "1003"
    con = sqlite3.connect(str(out))  # QGIS layer metadata stored in the GeoPackage too
    try:
        qmd = " ".join(r[0] for r in con.execute("SELECT metadata FROM gpkg_metadata"))
    finally:
        con.close()
    assert "Open Database License (ODbL)" in qmd and "Retrieved on" in qmd

    expected = sum(1 for f in velib["features"] if f["properties"]["capacity"] > 40)
    out2 = tmp_path / "velib_big.gpkg"
    res = qgis_process.run(
        "idfhr:opendataload",
        {
            "PORTAL": ods.url,
            "DATASET": "velib-emplacement-des-stations",
            "WHERE": "capacity > 40",
            "OUTPUT": str(out2),
        },
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    assert len(_features(out2)[0]) == expected < 1003

    out3 = tmp_path / "big.gpkg"
    res = qgis_process.run(
        "idfhr:opendataload", {"PORTAL": ods.url, "DATASET": "points-generes-10050", "OUTPUT": str(out3)}
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    assert len(_features(out3)[0]) == 10_050  # beyond the 10,000 records API cap


def test_opendataload_unknown_dataset_fails_clearly(qgis_process, ods, tmp_path):
    out = tmp_path / "nope.gpkg"
    res = qgis_process.run("idfhr:opendataload", {"PORTAL": ods.url, "DATASET": "nope", "OUTPUT": str(out)})
    assert res["_returncode"] != 0
    assert "does not exist" in res["_stderr"] + res["_stdout"]
    assert not out.exists()


def test_fibrecoverage_commune_and_ept(qgis_process, shared_data, tmp_path):
    arcep, admin = shared_data / "arcep", shared_data / "admin"
    out = tmp_path / "ftth_communes.gpkg"
    res = qgis_process.run(
        "idfhr:fibrecoverage",
        {
            "FTTH": str(arcep / "ftthCommunes_IDF.csv"),
            "PREMISES": str(arcep / "communes_IDF.csv"),
            "BOUNDARIES": str(admin / "mgp_communes_with_ept.geojson"),
            "LEVEL": 0,
            "OUTPUT": str(out),
        },
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    feats, _, _ = _features(out, "ftth_coverage_commune")
    assert len(feats) == 131 * 3
    paris = next(f for f in feats if f["insee"] == "75056" and f["quarter"] == "T1 2018")
    assert paris["connectable"] == 1_484_108
    sd = next(f for f in feats if f["insee"] == "93066" and f["quarter"] == "T1 2018")
    assert sd["coverage_pct"] == pytest.approx(100 * 11571 / 49501, abs=1e-3)
    # the graduated + temporal style is stored as the GeoPackage's default style
    con = sqlite3.connect(str(out))
    try:
        qml, default = con.execute("SELECT styleQML, useAsDefault FROM layer_styles").fetchone()
    finally:
        con.close()
    assert default and 'type="graduatedSymbol"' in qml and "De 50 à 80 %" in qml
    assert 'startField="quarter_date"' in qml and 'durationUnit="mon"' in qml

    out_ept = tmp_path / "ftth_ept.gpkg"
    res = qgis_process.run(
        "idfhr:fibrecoverage",
        {
            "FTTH": str(arcep / "ftthCommunes_IDF.csv"),
            "PREMISES": str(arcep / "communes_IDF.csv"),
            "BOUNDARIES": str(admin / "mgp_communes_with_ept.geojson"),
            "LEVEL": 1,
            "QUARTER": "T1 2018",
            "OUTPUT": str(out_ept),
        },
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    feats, _, _ = _features(out_ept, "ftth_coverage_ept")
    assert len(feats) == 12 and {f["quarter"] for f in feats} == {"T1 2018"}
    t6 = next(f for f in feats if f["ept_id"] == "T6")
    assert 0 < t6["coverage_pct"] < 100


def test_fibrecoverage_unknown_quarter_fails_clearly(qgis_process, shared_data, tmp_path):
    out = tmp_path / "x.gpkg"
    res = qgis_process.run(
        "idfhr:fibrecoverage",
        {
            "FTTH": str(shared_data / "arcep" / "ftthCommunes_IDF.csv"),
            "PREMISES": str(shared_data / "arcep" / "communes_IDF.csv"),
            "BOUNDARIES": str(shared_data / "admin" / "mgp_communes_with_ept.geojson"),
            "QUARTER": "T2 2019",
            "OUTPUT": str(out),
        },
    )
    assert res["_returncode"] != 0
    assert "no figures for T2 2019" in res["_stderr"] + res["_stdout"]
    assert not out.exists()


def test_opendataload_save_to_geopackage_keeps_the_other_layers(qgis_process, ods, tmp_path):
    from tests.unit.opendata.test_gpkg_in_place import assert_user_data_kept, tables, user_gpkg

    gpkg = user_gpkg(tmp_path / "projet.gpkg")
    dest = f"ogr:dbname='{gpkg}' table=\"stations\" (geom)"  # what "Save to GeoPackage…" gives
    res = qgis_process.run(
        "idfhr:opendataload",
        {"PORTAL": ods.url, "DATASET": "velib-emplacement-des-stations", "OUTPUT": dest},
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    assert tables(gpkg) == {"mine", "stations"}
    assert len(_features(gpkg, "stations")[0]) == 1003
    assert_user_data_kept(gpkg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["projet.gpkg"]
