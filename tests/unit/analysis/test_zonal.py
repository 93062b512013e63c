"""Statistics per zone: analysed fraction, Lambert-93 areas, one zone per object, exports."""

from __future__ import annotations

import csv

import pytest
from pyproj import Transformer
from shapely.geometry import box
from shapely.ops import transform

from idf_hr_plugin.core.analysis.errors import AnalysisError
from idf_hr_plugin.core.analysis.zonal import zonal_statistics

X0, Y0 = 652000.0, 6860000.0  # Lambert-93, east of Paris


def test_a_zone_analysed_at_12_percent_says_so_and_density_uses_analysed_km2():
    zone = box(X0, Y0, X0 + 1000, Y0 + 1000)
    analysed = box(X0, Y0, X0 + 120, Y0 + 1000)
    objs = [box(X0 + 10, Y0 + 10, X0 + 20, Y0 + 20), box(X0 + 50, Y0 + 500, X0 + 55, Y0 + 504)]
    res = zonal_statistics([zone], ["Vincennes"], objs, ["building", "building"], [analysed])
    (row,) = res.rows
    assert row["analysed_fraction"] == pytest.approx(0.12)
    assert row["count"] == 2 and row["area_m2"] == pytest.approx(120.0)
    assert row["density_per_km2"] == pytest.approx(2 / 0.12)  # per analysed km², not per zone km²
    assert res.zones[0]["analysed_fraction"] == pytest.approx(0.12)
    assert res.metadata["extrapolated"] is False


def test_zones_in_epsg4326_get_lambert93_areas():
    to_wgs = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform
    zone = box(X0, Y0, X0 + 1000, Y0 + 1000)
    res = zonal_statistics(
        [transform(to_wgs, zone)],
        ["Montreuil"],
        [box(X0 + 100, Y0 + 100, X0 + 110, Y0 + 110)],
        [1],
        [zone],
        zones_crs="EPSG:4326",
    )
    assert res.zones[0]["zone_area_km2"] == pytest.approx(1.0, rel=1e-4)  # not 1e-4 "square degrees"
    assert res.zones[0]["analysed_fraction"] == pytest.approx(1.0, rel=1e-4)
    assert res.rows[0]["count"] == 1
    assert any("EPSG:4326" in n for n in res.metadata["notes"])


def test_an_object_crossing_two_zones_is_counted_once_by_its_representative_point():
    west, east = box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 100, Y0, X0 + 200, Y0 + 100)
    crossing = box(X0 + 90, Y0 + 10, X0 + 130, Y0 + 20)  # centre at x = 110: east
    res = zonal_statistics([west, east], ["Ouest", "Est"], [crossing], ["building"], [west.union(east)])
    counts = {r["zone"]: r["count"] for r in res.rows}
    assert counts == {"Ouest": 0, "Est": 1}
    assert "representative point" in res.metadata["assignment"]


def test_change_layer_gets_counts_per_status_and_net_change():
    zone = box(X0, Y0, X0 + 100, Y0 + 100)
    objs = [box(X0 + i * 10, Y0, X0 + i * 10 + 5, Y0 + 5) for i in range(5)]
    res = zonal_statistics(
        [zone],
        ["Z"],
        objs,
        ["pool"] * 5,
        [zone],
        change=["new", "new", "new", "removed", "uncertain"],
    )
    (row,) = res.rows
    assert (row["n_new"], row["n_removed"], row["n_uncertain"], row["net_change"]) == (3, 1, 1, 2)


def test_zones_without_names_are_refused():
    with pytest.raises(AnalysisError, match="choose the field that names the zones"):
        zonal_statistics([box(0, 0, 1, 1)], None, [], [], [box(0, 0, 1, 1)])


def test_a_layer_without_crs_is_refused_with_a_sentence():
    with pytest.raises(AnalysisError, match="no coordinate system"):
        zonal_statistics([box(0, 0, 1, 1)], ["Z"], [], [], [box(0, 0, 1, 1)], zones_crs=None)


def test_empty_layer_gives_zero_counts_and_no_extrapolation():
    zone = box(X0, Y0, X0 + 100, Y0 + 100)
    res = zonal_statistics([zone], ["Z"], [], [], [zone])
    assert res.rows == [] and res.zones[0]["count"] == 0 and res.zones[0]["analysed_fraction"] == 1.0


def test_csv_and_xlsx_exports(tmp_path):
    zone = box(X0, Y0, X0 + 100, Y0 + 100)
    res = zonal_statistics([zone], ["Créteil"], [box(X0 + 1, Y0 + 1, X0 + 3, Y0 + 3)], ["car"], [zone])
    res.to_csv(tmp_path / "stats.csv")
    with open(tmp_path / "stats.csv", encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["zone"] == "Créteil" and row["count"] == "1"
    openpyxl = pytest.importorskip("openpyxl", reason="python3-openpyxl not installed")
    res.to_xlsx(tmp_path / "stats.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "stats.xlsx")
    assert wb.sheetnames == ["statistics", "zones", "metadata"]
    assert wb["statistics"]["A2"].value == "Créteil"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.csv", "stats.xlsx"]


def test_multipart_zones_and_objects_are_kept_whole():
    from shapely.geometry import MultiPolygon

    zone = MultiPolygon(
        [box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 300, Y0, X0 + 400, Y0 + 100)]
    )  # with an island
    obj = MultiPolygon([box(X0 + 310, Y0 + 10, X0 + 320, Y0 + 20), box(X0 + 330, Y0 + 10, X0 + 335, Y0 + 20)])
    res = zonal_statistics([zone], ["Île"], [obj], ["building"], [box(X0, Y0, X0 + 100, Y0 + 100)])
    assert res.zones[0]["zone_area_km2"] == pytest.approx(0.02)
    assert res.zones[0]["analysed_fraction"] == pytest.approx(0.5)
    assert res.rows[0]["count"] == 1 and res.rows[0]["area_m2"] == pytest.approx(150.0)


def test_change_result_feeds_zonal_statistics_over_the_compared_ground():
    from idf_hr_plugin.core.analysis import Detections, compare_detections

    zone = box(X0, Y0, X0 + 1000, Y0 + 1000)
    house = box(X0 + 100, Y0 + 100, X0 + 110, Y0 + 110)
    pool = box(X0 + 200, Y0 + 200, X0 + 208, Y0 + 204)
    before = Detections(
        [house], [0], [0.9], box(X0, Y0, X0 + 500, Y0 + 1000), labels=["building"], model_name="m"
    )
    after = Detections([house, pool], [0, 1], [0.9, 0.8], box(X0, Y0, X0 + 250, Y0 + 1000), model_name="m")
    ch = compare_detections(before, after)
    res = zonal_statistics(
        [zone],
        ["Z"],
        ch.geometry,
        ch.columns["class"],
        [ch.compared_area],
        labels=ch.columns["label"],
        change=ch.columns["change"],
    )
    rows = {r["class"]: r for r in res.rows}
    assert res.zones[0]["analysed_fraction"] == pytest.approx(0.25)  # only where both vintages looked
    assert (rows[0]["n_unchanged"], rows[1]["n_new"], rows[1]["net_change"]) == (1, 1, 1)
