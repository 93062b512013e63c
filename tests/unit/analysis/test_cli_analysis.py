"""CLI ``changes`` and ``stats``: what a user typing them sees and gets."""

from __future__ import annotations

import csv

import pytest
from osgeo import ogr, osr
from pyproj import Transformer
from shapely.geometry import Polygon, box
from shapely.ops import transform

from idf_hr_plugin.cli import main
from idf_hr_plugin.core.analysis.io import read_layer_metadata

from .test_io import X0, Y0, detection_gpkg

HOUSE = box(X0 + 100, Y0 + 100, X0 + 112, Y0 + 110)
POOL = box(X0 + 50, Y0 + 50, X0 + 58, Y0 + 54)
CAR = box(X0 + 20, Y0 + 150, X0 + 24.5, Y0 + 152)


def _runs(tmp_path, sha_after="f00d"):
    detection_gpkg(tmp_path / "d2024.gpkg", "yolo_2024", "2024", [(0, "building", 0.9, HOUSE)])
    detection_gpkg(
        tmp_path / "d2026.gpkg",
        "yolo_2026",
        "2026",
        [(0, "building", 0.8, HOUSE), (1, "swimming_pool", 0.7, POOL), (4, "car", 0.9, CAR)],
        sha=sha_after,
    )
    return str(tmp_path / "d2024.gpkg"), str(tmp_path / "d2026.gpkg")


def _changes(path, layer="changes"):
    ds = ogr.Open(str(path))
    return sorted((f.GetField("label"), f.GetField("change")) for f in ds.GetLayerByName(layer))


def test_changes_writes_the_layer_and_leaves_cars_out_unless_asked(tmp_path, capsys):
    before, after = _runs(tmp_path)
    out = tmp_path / "changes.gpkg"
    assert main(["changes", "--before", before, "--after", after, "--out", str(out)]) == 0
    assert _changes(out) == [("building", "unchanged"), ("swimming_pool", "new")]
    text = capsys.readouterr().out
    assert "new 1" in text and "Classes left out: car" in text
    assert read_layer_metadata(out, "changes")["excluded_classes"] == ["car"]

    assert (
        main(
            [
                "changes",
                "--before",
                before,
                "--after",
                after,
                "--out",
                str(out),
                "--layer",
                "all",
                "--exclude",
                "",
            ]
        )
        == 0
    )
    assert ("car", "new") in _changes(out, "all")
    assert _changes(out) == [("building", "unchanged"), ("swimming_pool", "new")]  # first layer kept


def test_changes_refuses_runs_of_different_models_in_one_sentence(tmp_path, capsys):
    before, after = _runs(tmp_path, sha_after="beef")
    out = tmp_path / "changes.gpkg"
    assert main(["changes", "--before", before, "--after", after, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different models" in err and "Traceback" not in err
    assert not out.exists()


def test_changes_without_inputs_says_what_to_give(tmp_path, capsys):
    assert main(["changes", "--out", str(tmp_path / "c.gpkg")]) == 2
    assert "--before-raster" in capsys.readouterr().err


def _zones_4326(path, name_field=None):
    """Two zones over the runs' extent, in WGS84 (the west one half analysed)."""
    to_wgs = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lyr = ds.CreateLayer("zones", srs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("code", ogr.OFTString))
    if name_field:
        lyr.CreateField(ogr.FieldDefn(name_field, ogr.OFTString))
    for code, name, geom in (
        ("W", "Ouest", Polygon.from_bounds(X0 - 200, Y0, X0 + 80, Y0 + 200)),
        ("E", "Est", Polygon.from_bounds(X0 + 80, Y0, X0 + 200, Y0 + 200)),
    ):
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetField("code", code)
        if name_field:
            f.SetField(name_field, name)
        f.SetGeometry(ogr.CreateGeometryFromWkb(transform(to_wgs, geom).wkb))
        lyr.CreateFeature(f)
    ds = None
    return str(path)


def test_stats_asks_for_a_name_field_then_reports_the_analysed_fraction(tmp_path, capsys):
    before, after = _runs(tmp_path)
    out = tmp_path / "stats.csv"
    zones = _zones_4326(tmp_path / "zones.gpkg")
    assert main(["stats", after, "--zones", zones, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "code" in err and "Traceback" not in err and not out.exists()

    assert main(["stats", after, "--zones", zones, "--name-field", "code", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "W: 2 objects, analysed at 29 %" in text  # 80 m of 280 m analysed, areas in Lambert-93
    assert "E: 1 objects, analysed at 100 %" in text
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    pools = [r for r in rows if r["zone"] == "W" and r["label"] == "swimming_pool"]
    assert pools[0]["count"] == "1" and abs(float(pools[0]["analysed_km2"]) - 0.016) < 1e-4


def test_stats_of_a_change_layer_counts_new_and_removed_per_zone(tmp_path, capsys):
    before, after = _runs(tmp_path)
    changes = tmp_path / "changes.gpkg"
    assert main(["changes", "--before", before, "--after", after, "--out", str(changes)]) == 0
    zones = _zones_4326(tmp_path / "zones.gpkg", name_field="nom")
    out = tmp_path / "stats.csv"
    assert main(["stats", f"{changes}:changes", "--zones", zones, "--out", str(out)]) == 0
    rows = {(r["zone"], r["label"]): r for r in csv.DictReader(open(out, encoding="utf-8"))}
    assert rows[("Ouest", "swimming_pool")]["n_new"] == "1"
    assert rows[("Est", "building")]["n_unchanged"] == "1" and rows[("Est", "building")]["net_change"] == "0"


def test_stats_per_commune_never_reads_zero_when_a_sliver_was_analysed(tmp_path, capsys, shared_data):
    _before, after = _runs(tmp_path)
    communes = str(shared_data / "admin" / "mgp_communes_with_ept.geojson")
    out = tmp_path / "communes.xlsx"
    assert main(["stats", after, "--zones", "commune", "--boundaries", communes, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # 0.04 km² of Paris's 105 km² analysed: said as such, not rounded to 0, not extrapolated
    assert lines[0] == "Paris: 3 objects, analysed at 0.038 %"
    assert lines[1] == "130 zones not analysed at all"
    from openpyxl import load_workbook

    sheet = load_workbook(out)["zones"]
    header = [c.value for c in sheet[1]]
    paris = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] == "Paris")
    assert paris[header.index("analysed_km2")] == pytest.approx(0.04, rel=1e-3)
