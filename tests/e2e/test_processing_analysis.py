"""``qgis_process run idfhr:changedetection`` / ``idfhr:zonalstatistics`` with the real QGIS command line."""

from __future__ import annotations

import csv
import sqlite3

from osgeo import ogr

from tests.e2e.test_processing_detect import qgis_process_ort  # noqa: F401  (fixture)
from tests.unit.analysis.test_cli_analysis import _runs, _zones_4326

MODEL = "idf_hr_plugin/resources/models/idfhr_demo_detector.onnx"


def _rows(path, layer, *fields):
    ds = ogr.Open(str(path))
    rows = sorted(tuple(f.GetField(k) for k in fields) for f in ds.GetLayerByName(layer))
    ds = None
    return rows


def _default_style(path, layer):
    con = sqlite3.connect(str(path))
    try:
        row = con.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name = ? AND useAsDefault = 1", (layer,)
        ).fetchone()
    finally:
        con.close()
    return row[0] if row else ""


def _change_layers(qgis_process, before, after, out):
    params = {"BEFORE": f"{before}|layername=yolo_2024", "AFTER": f"{after}|layername=yolo_2026"}
    return qgis_process.run("idfhr:changedetection", {**params, "OUTPUT": str(out)})


def test_changedetection_from_two_detection_layers(qgis_process, tmp_path):
    before, after = _runs(tmp_path)
    out = tmp_path / "changes.gpkg"
    res = _change_layers(qgis_process, before, after, out)
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    # the car of 2026 is left out by default, and the run says so
    assert _rows(out, "changes", "label", "change") == [("building", "unchanged"), ("swimming_pool", "new")]
    assert "Classes left out: car" in res["_stdout"] + res["_stderr"]
    style = _default_style(out, "changes")
    assert 'type="categorizedSymbol"' in style and "Nouveau" in style and "Incertain" in style


def test_changedetection_refuses_two_models_and_writes_nothing(qgis_process, tmp_path):
    before, after = _runs(tmp_path, sha_after="beef")
    out = tmp_path / "changes.gpkg"
    res = _change_layers(qgis_process, before, after, out)
    assert res["_returncode"] != 0
    assert "different models" in res["_stderr"] + res["_stdout"]
    assert not out.exists()


def test_changedetection_runs_the_model_on_two_images_then_compares(qgis_process_ort, shared_data, tmp_path):  # noqa: F811
    img = shared_data / "imagery" / "ign_ortho_20cm_rgb_l93.tif"
    out = tmp_path / "changes.gpkg"
    res = qgis_process_ort.run(
        "idfhr:changedetection",
        {
            "BEFORE_RASTER": str(img),
            "AFTER_RASTER": str(img),
            "MODEL": MODEL,
            "EXTENT": "770549.8,770600.2,6277549.8,6277600.2 [EPSG:2154]",
            "VINTAGES": "2023,2024",
            "EXCLUDE": "",
            "OUTPUT": str(out),
        },
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    rows = _rows(out, "changes", "change", "vintage_before", "vintage_after")
    # the same image twice: whatever the model found is found again, nothing new or removed
    assert rows and {r[0] for r in rows} <= {"unchanged", "uncertain"}
    assert {r[1:] for r in rows} == {("2023", "2024")}
    assert (tmp_path / "changes_runs" / "detections_2023.gpkg").exists()


def test_zonalstatistics_asks_for_a_name_then_maps_the_analysed_share(qgis_process, tmp_path):
    before, after = _runs(tmp_path)
    zones = _zones_4326(tmp_path / "zones.gpkg")
    table, out = tmp_path / "stats.csv", tmp_path / "zones_stats.gpkg"
    params = {
        "INPUT": f"{after}|layername=yolo_2026",
        "ZONES": 3,
        "ZONES_LAYER": f"{zones}|layername=zones",
        "INDICATOR": 1,
        "TABLE": str(table),
        "OUTPUT": str(out),
    }
    res = qgis_process.run("idfhr:zonalstatistics", params)
    assert res["_returncode"] != 0
    assert "choose one of its fields: fid, code." in res["_stderr"] + res["_stdout"]
    assert not table.exists() and not out.exists()

    res = qgis_process.run("idfhr:zonalstatistics", {**params, "NAME_FIELD": "code"})
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    assert _rows(out, "zone_statistics", "zone", "analysed_label", "count") == [
        ("E", "analysé à 100 %", 1),
        ("W", "analysé à 29 %", 2),  # zones in EPSG:4326, areas in Lambert-93
    ]
    rows = list(csv.DictReader(open(table, encoding="utf-8")))
    assert {r["zone"] for r in rows} == {"W", "E"}
    style = _default_style(out, "zone_statistics")
    assert 'type="graduatedSymbol"' in style and 'attr="density_per_km2"' in style


def test_zonalstatistics_per_commune_from_a_local_boundaries_file(qgis_process, shared_data, tmp_path):
    _before, after = _runs(tmp_path)
    table, out = tmp_path / "communes.csv", tmp_path / "communes.gpkg"
    res = qgis_process.run(
        "idfhr:zonalstatistics",
        {
            "INPUT": f"{after}|layername=yolo_2026",
            "ZONES": 0,
            "BOUNDARIES": str(shared_data / "admin" / "mgp_communes_with_ept.geojson"),
            "TABLE": str(table),
            "OUTPUT": str(out),
        },
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    assert (
        res["results"]["ANALYSED"] == "Paris: 3 objects, analysed at 0.038 %; 130 zones not analysed at all"
    )
    rows = {r[0]: r[1:] for r in _rows(out, "zone_statistics", "zone", "analysed_label", "count")}
    assert (
        len(rows) == 131
        and rows["Paris"] == ("analysé à 0,038 %", 3)
        and rows["Montreuil"] == ("analysé à 0 %", 0)
    )
