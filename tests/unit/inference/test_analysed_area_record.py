"""A run records what it really analysed, so a later comparison reads a mask hole as "not analysed"."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from idf_hr_plugin.core.analysis import compare_detections, read_detections
from idf_hr_plugin.core.inference import run_detection

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0  # Paris, Lambert-93


def test_object_under_a_mask_hole_of_one_run_is_uncertain_not_removed(models, tmp_path):
    kept, hidden = (X0 + 20.0, Y0 - 20.0), (X0 + 100.0, Y0 - 20.0)
    r = make_raster(tmp_path / "r.tif", size=(700, 250), squares=[(x, y, 4.0) for x, y in (kept, hidden)])
    whole = run_detection(models["yolov8"], str(r), out_path=tmp_path / "before.gpkg", vintage="2024")
    # the second run leaves a hole over the second object (e.g. a cloud or a building site masked out)
    mask = [box(X0, Y0 - 50, X0 + 60, Y0), box(X0 + 120, Y0 - 50, X0 + 140, Y0)]
    holed = run_detection(
        models["yolov8"],
        str(r),
        mask=mask,
        mask_crs="EPSG:2154",
        out_path=tmp_path / "after.gpkg",
        vintage="2026",
    )
    before = read_detections(tmp_path / "before.gpkg", whole.layer)
    after = read_detections(tmp_path / "after.gpkg", holed.layer)
    assert after.analysed_area.area == pytest.approx(60 * 50 + 20 * 50, rel=1e-3)  # the mask, not the extent
    result = compare_detections(before, after, edge_m=0.0)
    found = sorted((round(g.centroid.x - X0), c) for g, c in zip(result.geometry, result.columns["change"]))
    # never "removed": the second run did not look under its mask hole
    assert found == [(round(kept[0] - X0), "unchanged"), (round(hidden[0] - X0), "uncertain")], found
