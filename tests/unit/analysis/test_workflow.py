"""The change chain: cancel leaves nothing, empty runs give an empty valid layer, outputs are checked first."""

from __future__ import annotations

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
