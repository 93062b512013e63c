"""Item 4 of issue 7: boxes, rotated boxes and instance masks are clipped to the analysed area
(imagery ∩ extent ∩ mask) and their ``area_m2`` is measured on what remains."""

from __future__ import annotations

import onnx
import pytest
from osgeo import ogr
from shapely import wkb
from shapely.geometry import box

from idf_hr_plugin.core.inference import run_detection

from .conftest import make_raster, make_test_models

X0, Y0 = 652000.0, 6862000.0  # Paris, Lambert-93


def _features(path, layer) -> list:
    ds = ogr.Open(str(path))
    out = [
        (wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())), f.GetField("area_m2"))
        for f in ds.GetLayerByName(layer)
    ]
    ds = None
    return out


@pytest.fixture(scope="module")
def wide_boxes(tmp_path_factory):
    """A YOLOv8-layout model whose box is 5x the red object: it reaches far past an image edge."""
    g = make_test_models._G(3, 256, None)
    b = g.red_box()
    cx, cy, w, h = g.xywh(b)
    rows = [cx, cy, g.scaled(w, 5.0), g.scaled(h, 5.0), g.scaled(b["score"], 0.9), g.scaled(b["score"], 0.1)]
    out = g.pad_last(g.op("Concat", *rows, axis=1), 49)
    path = tmp_path_factory.mktemp("wide") / "wide_boxes.onnx"
    onnx.save(
        g.model([("output0", (out, [g.batch, 6, 50]))], make_test_models.ultra_meta("detect", 256)), str(path)
    )
    return path


def _check_inside(feats, area):
    for g, a in feats:
        assert g.difference(area).area < 1e-6, "a result reaches outside the analysed area"
        assert a == pytest.approx(g.area, abs=1e-6)


def test_box_past_the_raster_edge_is_clipped(wide_boxes, tmp_path):
    # 120 m x 60 m raster; a 4 m object 3 m from the right edge; its 20 m box reaches 7 m past it
    r = make_raster(tmp_path / "edge.tif", size=(600, 300), squares=[(X0 + 117.0, Y0 - 30.0, 4.0)])
    rep = run_detection(wide_boxes, str(r), out_path=tmp_path / "o.gpkg")
    feats = _features(tmp_path / "o.gpkg", rep.layer)
    assert len(feats) == 1
    _check_inside(feats, box(X0, Y0 - 60, X0 + 120, Y0))
    assert feats[0][1] == pytest.approx(13.0 * 20.0, rel=0.02)  # not 400 m²
    assert rep.areas_m2["red"] == pytest.approx(feats[0][1])


def test_box_past_the_extent_is_clipped(wide_boxes, tmp_path):
    r = make_raster(tmp_path / "ext.tif", size=(600, 300), squares=[(X0 + 50.0, Y0 - 30.0, 4.0)])
    ext = (X0 + 10.0, Y0 - 55.0, X0 + 55.0, Y0 - 5.0)
    rep = run_detection(wide_boxes, str(r), extent=ext, out_path=tmp_path / "o.gpkg")
    feats = _features(tmp_path / "o.gpkg", rep.layer)
    assert len(feats) == 1
    _check_inside(feats, box(*ext))
    assert feats[0][1] == pytest.approx(15.0 * 20.0, rel=0.02)


def test_rotated_box_at_the_edge_is_clipped(models, tmp_path):
    # a 4 m square rotated by 0.5 rad reaches 2.7 m from its centre: 0.5 m past the edge
    r = make_raster(tmp_path / "obb.tif", size=(600, 300), squares=[(X0 + 117.8, Y0 - 30.0, 4.0)])
    rep = run_detection(models["yolov8_obb"], str(r), out_path=tmp_path / "o.gpkg")
    feats = _features(tmp_path / "o.gpkg", rep.layer)
    assert len(feats) == 1
    _check_inside(feats, box(X0, Y0 - 60, X0 + 120, Y0))
    assert feats[0][1] < 16.0 - 0.1


@pytest.mark.parametrize("model", ["yolov8", "yolov8_seg", "yolov8_obb"])
def test_object_across_the_mask_is_cut_at_the_mask(models, tmp_path, model):
    r = make_raster(tmp_path / "m.tif", size=(600, 300), squares=[(X0 + 30.0, Y0 - 30.0, 4.0)])
    # the object's centre is inside the first polygon, 1 m of it is outside; the second polygon
    # widens the mask's extent, so the whole object is read
    left, right = box(X0, Y0 - 60, X0 + 31.0, Y0), box(X0 + 45.0, Y0 - 60, X0 + 60.0, Y0)
    rep = run_detection(
        models[model], str(r), mask=[left, right], mask_crs="EPSG:2154", out_path=tmp_path / "o.gpkg"
    )
    feats = _features(tmp_path / "o.gpkg", rep.layer)
    assert len(feats) == 1
    _check_inside(feats, left.union(right))
    if model != "yolov8_obb":
        assert feats[0][1] == pytest.approx(3.0 * 4.0, abs=0.5)  # not 16 m²
    else:
        assert feats[0][1] < 16.0 - 0.1


def test_km2_counts_only_the_imagery_under_the_mask(models, tmp_path):
    r = make_raster(tmp_path / "k.tif", size=(600, 300), squares=[(X0 + 30.0, Y0 - 30.0, 4.0)])
    mask = box(X0 - 100.0, Y0 - 40.0, X0 + 50.0, Y0 + 100.0)  # reaches far off the imagery
    rep = run_detection(models["yolov8"], str(r), mask=[mask], mask_crs="EPSG:2154")
    assert rep.km2 == pytest.approx(50.0 * 40.0 / 1e6)  # not the mask's 150 x 140 m
