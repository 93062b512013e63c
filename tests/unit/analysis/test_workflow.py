"""The change chain: cancel leaves nothing, empty runs give an empty valid layer, outputs are checked first."""

from __future__ import annotations

import sqlite3

import pytest
from osgeo import ogr

from idf_hr_plugin.cli import main
from idf_hr_plugin.core.analysis.workflow import detect_vintages
from idf_hr_plugin.core.errors import Cancelled
from idf_hr_plugin.demo.change_accuracy import MODEL

from .test_cli_analysis import _runs
from .test_io import detection_gpkg

IGN_EXTENT = (770549.8, 6277549.8, 770600.2, 6277600.2)


def test_cancel_during_the_second_run_leaves_no_file(shared_data, tmp_path):
    img = str(shared_data / "imagery" / "ign_ortho_20cm_rgb_l93.tif")
    calls = []

    def progress(fraction, message):
        calls.append(message)

    def cancel():  # the first run completes, the second is cancelled
        return any("b" in m for m in calls)

    with pytest.raises(Cancelled):
        detect_vintages(
            MODEL,
            [img, img],
            ["a", "b"],
            tmp_path / "runs",
            extent=IGN_EXTENT,
            progress=progress,
            cancel=cancel,
        )
    assert any(m.endswith("a") for m in calls)  # the first run did happen
    assert list(tmp_path.iterdir()) == []  # neither the finished run nor a temporary folder is left


def test_two_runs_over_the_same_image_come_back_complete(shared_data, tmp_path):
    img = str(shared_data / "imagery" / "ign_ortho_20cm_rgb_l93.tif")
    before, after = detect_vintages(MODEL, [img, img], ["2023", "2024"], tmp_path / "runs", extent=IGN_EXTENT)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "detections_2023.gpkg",
        "detections_2024.gpkg",
    ]
    assert (before.vintage, after.vintage) == ("2023", "2024") and before.model_sha256 == after.model_sha256
    assert before.analysed_area.area == pytest.approx(50.4 * 50.4, rel=1e-3)
    with pytest.raises(Exception, match="already exists"):
        detect_vintages(MODEL, [img, img], ["2023", "2024"], tmp_path / "runs", extent=IGN_EXTENT)


def test_runs_without_any_object_give_an_empty_valid_change_layer(tmp_path, capsys):
    detection_gpkg(tmp_path / "a.gpkg", "yolo_2024", "2024", [])
    detection_gpkg(tmp_path / "b.gpkg", "yolo_2026", "2026", [])
    out = tmp_path / "changes.gpkg"
    assert (
        main(
            [
                "changes",
                "--before",
                str(tmp_path / "a.gpkg"),
                "--after",
                str(tmp_path / "b.gpkg"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "0 objects compared" in capsys.readouterr().out
    ds = ogr.Open(str(out))
    assert ds.GetLayerByName("changes").GetFeatureCount() == 0
    ds = None


def test_an_output_layer_that_exists_is_refused_before_any_work(tmp_path, capsys):
    before, after = _runs(tmp_path)
    out = tmp_path / "changes.gpkg"
    assert main(["changes", "--before", before, "--after", after, "--out", str(out)]) == 0
    argv = ["changes", "--model", str(MODEL), "--before-raster", "x.tif", "--after-raster", "y.tif"]
    argv += ["--extent", "0,0,10,10", "--out", str(out)]
    assert main(argv) == 2
    assert "already has a layer 'changes'" in capsys.readouterr().err
    assert not (tmp_path / "changes_runs").exists()


def test_runs_in_different_crs_are_reprojected_and_the_user_is_told(tmp_path, capsys):
    from osgeo import gdal

    before, after = _runs(tmp_path)
    moved = tmp_path / "d2026_3857.gpkg"
    gdal.VectorTranslate(str(moved), after, options="-t_srs EPSG:3857 -f GPKG yolo_2026")
    con = sqlite3.connect(str(moved))  # keep the run record (extent in Lambert-93)
    con.execute("ATTACH ? AS src", (after,))
    con.execute("CREATE TABLE idfhr_runs AS SELECT * FROM src.idfhr_runs")
    con.commit()
    con.close()
    out = tmp_path / "changes.gpkg"
    assert main(["changes", "--before", before, "--after", str(moved), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "reprojected from EPSG:3857 to Lambert-93" in captured.err
    assert "unchanged 1" in captured.out and "new 1" in captured.out  # same objects found again


def test_commune_ept_and_mgp_zones_come_from_the_offline_boundaries(shared_data):
    from idf_hr_plugin.core.analysis.workflow import boundary_zones
    from idf_hr_plugin.core.opendata.boundaries import Boundaries

    b = Boundaries.from_file(shared_data / "admin" / "mgp_communes_with_ept.geojson")
    geoms, names, crs = boundary_zones("commune", b)
    assert len(geoms) == len(names) == 131 and "Montreuil" in names and crs == "EPSG:4326"
    assert len(boundary_zones("ept", b)[1]) == 12
    geoms, names, _ = boundary_zones("mgp", b)
    assert names == ["Métropole du Grand Paris"] and len(geoms) == 1


def test_two_segmentation_runs_are_overlaid_gained_and_lost():
    from shapely.geometry import box

    from idf_hr_plugin.core.analysis import Detections
    from idf_hr_plugin.core.analysis.workflow import compare_runs

    area = box(0, 0, 100, 100)
    rec = {"task": "semantic_segmentation"}
    kw = dict(analysed_area=area, model_name="seg", run_record=rec)
    before = Detections([box(0, 0, 50, 50)], ["water"], [1.0], vintage="2024", **kw)
    after = Detections([box(0, 0, 50, 60)], ["water"], [1.0], vintage="2026", **kw)
    result = compare_runs(before, after)
    assert result.columns["change"].tolist() == ["gained"]
    assert result.columns["area_m2"].tolist() == [500.0]
