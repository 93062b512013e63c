"""GeoPackage I/O: read a detection layer with its run record, write a change layer safely."""

from __future__ import annotations

import json
import sqlite3
import subprocess  # nosec B404 - the lock holder is our own child process
import sys

import pytest
from osgeo import ogr, osr
from shapely.geometry import box

from idf_hr_plugin.core.analysis.change import compare_detections
from idf_hr_plugin.core.analysis.errors import AnalysisError
from idf_hr_plugin.core.analysis.io import read_detections, read_layer_metadata, write_change_layer
from idf_hr_plugin.core.errors import Cancelled

X0, Y0 = 652000.0, 6860000.0
EXTENT = [X0, Y0, X0 + 200, Y0 + 200]


def detection_gpkg(path, layer, vintage, objs, sha="f00d"):
    """A detection GeoPackage with the inference writer's schema, written generically with OGR."""
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    lyr = ds.CreateLayer(layer, srs, ogr.wkbPolygon, options=["FID=fid"])
    for name, t in (("class_id", ogr.OFTInteger), ("label", ogr.OFTString), ("score", ogr.OFTReal)):
        lyr.CreateField(ogr.FieldDefn(name, t))
    for name in ("model", "model_sha256", "vintage", "run_id"):
        lyr.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    for cid, label, score, g in objs:
        f = ogr.Feature(lyr.GetLayerDefn())
        for k, v in zip(
            ("class_id", "label", "score", "model", "model_sha256", "vintage", "run_id"),
            (cid, label, score, "demo-yolo", sha, vintage, f"run-{vintage}"),
        ):
            f.SetField(k, v)
        f.SetGeometry(ogr.CreateGeometryFromWkb(g.wkb))
        lyr.CreateFeature(f)
    ds = None
    con = sqlite3.connect(str(path))
    con.execute(
        "CREATE TABLE idfhr_runs (fid INTEGER PRIMARY KEY, run_id TEXT, layer TEXT, report_json TEXT)"
    )
    report = {
        "run_id": f"run-{vintage}",
        "vintage": vintage,
        "parameters": {"extent": EXTENT, "extent_crs": "EPSG:2154"},
    }
    con.execute(
        "INSERT INTO idfhr_runs (run_id, layer, report_json) VALUES (?, ?, ?)",
        (f"run-{vintage}", layer, json.dumps(report)),
    )
    con.commit()
    con.close()


def layers(path):
    ds = ogr.Open(str(path))
    return sorted(ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount()))


@pytest.fixture
def two_runs(tmp_path):
    pool = box(X0 + 50, Y0 + 50, X0 + 58, Y0 + 54)
    house = box(X0 + 100, Y0 + 100, X0 + 112, Y0 + 110)
    detection_gpkg(tmp_path / "d2024.gpkg", "yolo_2024", "2024", [(0, "building", 0.9, house)])
    detection_gpkg(
        tmp_path / "d2026.gpkg",
        "yolo_2026",
        "2026",
        [(0, "building", 0.8, house), (1, "swimming_pool", 0.7, pool)],
    )
    return tmp_path


def test_read_detections_takes_model_vintage_and_analysed_area_from_the_run(two_runs):
    det = read_detections(two_runs / "d2026.gpkg")
    assert (
        len(det) == 2
        and det.classes.tolist() == [0, 1]
        and det.labels.tolist() == ["building", "swimming_pool"]
    )
    assert (det.model_name, det.model_sha256, det.vintage, det.run_id) == (
        "demo-yolo",
        "f00d",
        "2026",
        "run-2026",
    )
    assert det.crs == "EPSG:2154"
    assert det.analysed_area.bounds == tuple(EXTENT)
    assert det.scores.tolist() == pytest.approx([0.8, 0.7])


def test_change_layer_written_to_a_new_gpkg(two_runs):
    res = compare_detections(
        read_detections(two_runs / "d2024.gpkg"), read_detections(two_runs / "d2026.gpkg")
    )
    out = two_runs / "changes.gpkg"
    write_change_layer(res, out)
    ds = ogr.Open(str(out))
    lyr = ds.GetLayerByName("changes")
    rows = sorted(
        (f.GetField("label"), f.GetField("change"), f.GetField("vintage_before"), f.GetField("run_after"))
        for f in lyr
    )
    assert rows == [
        ("building", "unchanged", "2024", "run-2026"),
        ("swimming_pool", "new", "2024", "run-2026"),
    ]
    lyr.ResetReading()
    pool = [f for f in lyr if f.GetField("change") == "new"][0]
    assert pool.IsFieldNull("score_before") and pool.GetField("area_after_m2") == pytest.approx(32.0)
    assert read_layer_metadata(out, "changes")["iou_min"] == 0.3
    assert sorted(p.name for p in two_runs.iterdir()) == ["changes.gpkg", "d2024.gpkg", "d2026.gpkg"]


def test_change_layer_added_in_place_keeps_the_existing_layers(two_runs):
    res = compare_detections(
        read_detections(two_runs / "d2024.gpkg"), read_detections(two_runs / "d2026.gpkg")
    )
    write_change_layer(res, two_runs / "d2026.gpkg", "changes_2024_2026")
    assert layers(two_runs / "d2026.gpkg") == ["changes_2024_2026", "idfhr_runs", "yolo_2026"]
    assert len(read_detections(two_runs / "d2026.gpkg", "yolo_2026")) == 2
    with pytest.raises(AnalysisError, match="already has a layer"):
        write_change_layer(res, two_runs / "d2026.gpkg", "changes_2024_2026")


def test_cancelled_write_leaves_nothing_behind_and_loses_nothing(two_runs):
    res = compare_detections(
        read_detections(two_runs / "d2024.gpkg"), read_detections(two_runs / "d2026.gpkg")
    )
    with pytest.raises(Cancelled):
        write_change_layer(res, two_runs / "new.gpkg", cancel=lambda: True)
    with pytest.raises(Cancelled):
        write_change_layer(res, two_runs / "d2026.gpkg", "changes", cancel=lambda: True)
    assert sorted(p.name for p in two_runs.iterdir()) == ["d2024.gpkg", "d2026.gpkg"]
    assert layers(two_runs / "d2026.gpkg") == ["idfhr_runs", "yolo_2026"]
    assert len(read_detections(two_runs / "d2026.gpkg", "yolo_2026")) == 2


def test_reading_refuses_ambiguous_or_wrong_layers(two_runs):
    write_change_layer(
        compare_detections(
            read_detections(two_runs / "d2024.gpkg"), read_detections(two_runs / "d2026.gpkg")
        ),
        two_runs / "d2026.gpkg",
    )
    with pytest.raises(AnalysisError, match="several layers"):
        read_detections(two_runs / "d2026.gpkg")
    with pytest.raises(AnalysisError, match="is not in"):
        read_detections(two_runs / "d2026.gpkg", "nope")
    with pytest.raises(AnalysisError, match="must be a GeoPackage"):
        write_change_layer(
            compare_detections(
                read_detections(two_runs / "d2024.gpkg"), read_detections(two_runs / "d2024.gpkg")
            ),
            two_runs / "x.shp",
        )


def test_reading_a_file_that_is_not_a_geopackage_says_so(tmp_path):
    bad = tmp_path / "notes.gpkg"
    bad.write_text("not a database", encoding="utf-8")
    with pytest.raises(AnalysisError, match="cannot be opened as a vector file"):
        read_detections(bad)


def test_an_empty_comparison_writes_an_empty_but_valid_layer(tmp_path):
    area = box(*EXTENT)
    from idf_hr_plugin.core.analysis.change import Detections

    empty = Detections([], [], [], area, model_name="demo-yolo")
    write_change_layer(compare_detections(empty, empty), tmp_path / "none.gpkg")
    ds = ogr.Open(str(tmp_path / "none.gpkg"))
    lyr = ds.GetLayerByName("changes")
    assert lyr.GetFeatureCount() == 0
    assert lyr.GetLayerDefn().GetFieldIndex("confidence") >= 0


def test_change_layer_waits_for_another_writer_and_keeps_its_edit(two_runs):
    """Another program holding the GeoPackage's write lock is waited for, not failed on, and its edit is kept."""
    res = compare_detections(
        read_detections(two_runs / "d2024.gpkg"), read_detections(two_runs / "d2026.gpkg")
    )
    target = two_runs / "d2026.gpkg"
    holder = subprocess.Popen(  # nosec B603 - fixed interpreter and arguments
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); c.execute('CREATE TABLE field_notes (note TEXT)'); "
            "c.execute(\"INSERT INTO field_notes VALUES ('checked on site')\"); "
            "print('locked', flush=True); time.sleep(2); c.execute('COMMIT')",
            str(target),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        write_change_layer(res, target, "changes_2024_2026")
    finally:
        holder.wait(timeout=60)
        holder.stdout.close()
    assert {"changes_2024_2026", "idfhr_runs", "yolo_2026"} <= set(layers(target))
    con = sqlite3.connect(str(target))
    try:
        assert con.execute("SELECT note FROM field_notes").fetchall() == [("checked on site",)]
    finally:
        con.close()
    assert sorted(p.name for p in two_runs.iterdir()) == ["d2024.gpkg", "d2026.gpkg"]


def test_detection_and_change_layers_are_told_from_other_polygons():
    from idf_hr_plugin.core.analysis.io import is_result_layer
    from idf_hr_plugin.core.catalog.footprints import FOOTPRINT_FIELDS
    from idf_hr_plugin.core.inference.writer import FIELDS

    assert is_result_layer([name for name, _ in FIELDS])  # what a detection run writes
    assert is_result_layer(["fid", "change", "class", "label", "score_before", "score_after"])
    assert is_result_layer(["CLASS", "Confidence"])
    assert not is_result_layer([name for name, _ in FOOTPRINT_FIELDS])  # the catalog footprints
    assert not is_result_layer(["code", "nom"])  # zones
    assert not is_result_layer(["label"])  # a class but no score
