"""End-to-end runs on real GeoTIFFs: georeferencing, seams, masks, bad inputs, cancel, jobs, CLI."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from osgeo import ogr
from pyproj import Transformer

from idf_hr_plugin import cli
from idf_hr_plugin.core.errors import Cancelled, UserInputError
from idf_hr_plugin.core.inference import load_model_spec, merge_results, plan_tiles, run_detection, split_plan
from idf_hr_plugin.core.inference.writer import read_runs

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0  # Paris, Lambert-93


def layers(path):
    ds = ogr.Open(str(path))
    return sorted(ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount()))


def features(path, layer):
    ds = ogr.Open(str(path))
    lyr = ds.GetLayerByName(layer)
    out = []
    for f in lyr:
        c = f.GetGeometryRef().Centroid()
        out.append(
            {
                **{
                    k: f.GetField(k)
                    for k in ("class_id", "label", "score", "area_m2", "model", "model_sha256", "run_id")
                },
                "x": c.GetX(),
                "y": c.GetY(),
            }
        )
    return out


def leftovers(folder):
    return [p for p in os.listdir(folder) if ".tmp" in p or p.startswith(".idfhr")]


def test_detection_lands_at_true_l93_coordinate(models, tmp_path):
    true = [(X0 + 30.0, Y0 - 50.0), (X0 + 95.0, Y0 - 20.0)]
    r = make_raster(
        tmp_path / "l93.tif", origin=(X0, Y0), size=(600, 400), squares=[(x, y, 4.0) for x, y in true]
    )
    out = tmp_path / "out.gpkg"
    seen = []
    rep = run_detection(models["yolov8"], str(r), out_path=out, progress=lambda d, t, e: seen.append((d, t)))
    feats = features(out, rep.layer)
    assert len(feats) == 2
    for x, y in true:
        assert any(abs(f["x"] - x) <= 0.1 and abs(f["y"] - y) <= 0.1 for f in feats)
    f = feats[0]
    assert f["label"] == "red" and f["score"] == pytest.approx(0.9) and f["area_m2"] == pytest.approx(16.0)
    assert f["model_sha256"] == rep.model_sha256 and f["run_id"] == rep.run_id
    assert seen[-1][0] == seen[-1][1] == rep.tiles_total
    assert (
        rep.counts == {"red": 2}
        and rep.cpu_s > 0
        and rep.energy_wh > 0
        and "W per busy core" in rep.energy_method
    )
    stored = read_runs(out)
    assert stored[-1]["run_id"] == rep.run_id and stored[-1]["providers"] == rep.providers
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("crs, gsd", [("EPSG:3857", 0.3), ("EPSG:32631", 0.2), ("EPSG:4326", 2.5e-6)])
def test_georeferencing_in_other_crs(models, tmp_path, crs, gsd):
    """A red square at a known Lambert-93 point, imagery in another CRS, results asked in 2154."""
    px, py = X0 + 40.0, Y0 - 30.0
    to = Transformer.from_crs("EPSG:2154", crs, always_xy=True)
    cx, cy = to.transform(px, py)
    side = 20 * gsd
    origin = (cx - 150 * gsd, cy + 150 * gsd)  # the point sits exactly on a pixel corner
    r = make_raster(
        tmp_path / "img.tif", crs=crs, origin=origin, gsd=gsd, size=(300, 300), squares=[(cx, cy, side)]
    )
    out = tmp_path / "out.gpkg"
    rep = run_detection(models["yolov8"], str(r), out_path=out, out_crs="EPSG:2154")
    feats = features(out, rep.layer)
    assert len(feats) == 1
    ground_px = 0.2 if crs != "EPSG:3857" else 0.3 * 0.66  # half a (ground) pixel
    assert abs(feats[0]["x"] - px) <= ground_px / 2 + 0.05 and abs(feats[0]["y"] - py) <= ground_px / 2 + 0.05
    if crs == "EPSG:4326":
        assert any("geographic" in n for n in rep.notes)


def test_geographic_raster_can_be_refused(models, tmp_path):
    r = make_raster(tmp_path / "geo.tif", crs="EPSG:4326", origin=(2.35, 48.85), gsd=2.5e-6, size=(300, 300))
    with pytest.raises(UserInputError, match="geographic"):
        plan_tiles(str(r), tile_size=256, overlap=20, geographic="error")


def test_resampled_to_model_gsd(models, tmp_path):
    m = tmp_path / "m.onnx"
    shutil.copy(models["yolov8"], m)
    m.with_suffix(".json").write_text(json.dumps({"gsd_m": 0.25}), encoding="utf-8")
    r = make_raster(tmp_path / "img.tif", size=(500, 500), gsd=0.1, squares=[(X0 + 20.0, Y0 - 20.0, 4.0)])
    rep = run_detection(m, str(r), out_path=tmp_path / "o.gpkg")
    assert rep.parameters["gsd_m"] == 0.25 and any("resampled" in n for n in rep.notes)
    f = features(tmp_path / "o.gpkg", rep.layer)
    assert len(f) == 1 and abs(f[0]["x"] - (X0 + 20)) <= 0.125 and abs(f[0]["y"] - (Y0 - 20)) <= 0.125


@pytest.mark.parametrize("model", ["yolov8", "yolov8_obb", "yolov8_seg", "seg_sigmoid"])
def test_object_across_a_seam_found_once(models, tmp_path, model):
    # tiles of 256 px with 26 px overlap: starts at 0, 230, ...; the object straddles x = 256 px
    cx = X0 + 256 * 0.2
    r = make_raster(tmp_path / "seam.tif", size=(700, 200), squares=[(cx, Y0 - 20.0, 4.0)])
    rep = run_detection(models[model], str(r), out_path=tmp_path / "o.gpkg", overlap=26)
    feats = features(tmp_path / "o.gpkg", rep.layer)
    assert rep.tiles_total == 3 and len(feats) == 1
    assert abs(feats[0]["x"] - cx) <= 0.1
    if model != "seg_sigmoid":
        assert rep.detections_before_nms >= 2  # both tiles saw it


def test_mask_mode_skips_tiles_and_drops_outside(models, tmp_path):
    from shapely.geometry import box

    inside = (X0 + 20.0, Y0 - 20.0)
    edge = (X0 + 70.0, Y0 - 20.0)  # in a tile touching the mask, centre outside the mask
    far = (X0 + 150.0, Y0 - 20.0)  # in a tile between the two mask polygons: never run
    r = make_raster(
        tmp_path / "m.tif", size=(1400, 250), squares=[(x, y, 4.0) for x, y in (inside, edge, far)]
    )
    mask = [box(X0, Y0 - 50, X0 + 60, Y0), box(X0 + 240, Y0 - 50, X0 + 260, Y0)]
    rep = run_detection(
        models["yolov8"], str(r), mask=mask, mask_crs="EPSG:2154", out_path=tmp_path / "o.gpkg"
    )
    feats = features(tmp_path / "o.gpkg", rep.layer)
    assert len(feats) == 1 and abs(feats[0]["x"] - inside[0]) < 0.1
    assert rep.tiles_skipped_mask == 3 and rep.tiles_run + rep.tiles_skipped_mask == rep.tiles_total == 6
    assert rep.dropped_outside_mask == 1
    assert rep.km2 == pytest.approx((60 * 50 + 20 * 50) / 1e6)


def test_small_image_is_padded(models, tmp_path):
    r = make_raster(tmp_path / "s.tif", size=(100, 80), squares=[(X0 + 10.0, Y0 - 8.0, 2.0)])
    rep = run_detection(models["yolov8"], str(r), out_path=tmp_path / "o.gpkg")
    assert rep.tiles_run == 1 and rep.features == 1 and any("padded" in n for n in rep.notes)


def test_rgba_and_extent_in_other_crs(models, tmp_path):
    r = make_raster(
        tmp_path / "a.tif",
        size=(600, 600),
        alpha=True,
        squares=[(X0 + 30.0, Y0 - 30.0, 4.0), (X0 + 100.0, Y0 - 100.0, 4.0)],
    )
    to = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    lon0, lat0 = to.transform(X0 + 10, Y0 - 50)
    lon1, lat1 = to.transform(X0 + 50, Y0 - 10)
    rep = run_detection(
        models["yolov8"],
        str(r),
        extent=(lon0, lat0, lon1, lat1),
        extent_crs="EPSG:4326",
        out_path=tmp_path / "o.gpkg",
    )
    assert rep.features == 1 and rep.parameters["band_map"] == [1, 2, 3]


def test_jobs_merge_to_the_same_result(models, tmp_path):
    squares = [(X0 + 20.0 + 51.2 * k, Y0 - 20.0, 4.0) for k in range(6)]
    r = make_raster(tmp_path / "j.tif", size=(1600, 200), squares=squares)
    whole = run_detection(models["yolov8"], str(r))
    spec = load_model_spec(models["yolov8"])
    plan = plan_tiles(str(r), tile_size=256, overlap=26)
    jobs = split_plan(plan, n_jobs=3)
    assert [j.stop - j.start for j in jobs] == [3, 3, 1] and jobs[-1].stop == len(plan.tiles)
    parts = [run_detection(spec, str(r), job=j).partial for j in jobs]
    merged = merge_results(parts, plan.grid, iou=spec.iou)
    assert len(merged.geoms) == whole.features == 6


def test_deepness_red_detector_finds_the_red_marks(shared_data, tmp_path):
    import rasterio

    raster = shared_data / "imagery/dummy_fotomap_small.tif"
    model = shared_data / "models/deepness_dummy/one_output_sigmoid_red_detector.onnx"
    out = tmp_path / "red.gpkg"
    rep = run_detection(model, str(raster), out_path=out, seg_thresh=0.6)
    assert rep.features > 0 and rep.task == "semantic_segmentation"
    with rasterio.open(raster) as src:
        a = src.read()
        t = src.transform
    red = (a[0] > 200) & (a[1] < 80) & (a[2] < 80)
    rows, cols = np.nonzero(red)
    assert rows.size > 50
    from shapely.geometry import Point
    from shapely.ops import unary_union

    ds = ogr.Open(str(out))
    from shapely import wkb

    union = unary_union(
        [wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())) for f in ds.GetLayerByName(rep.layer)]
    )
    pick = np.linspace(0, rows.size - 1, 200).astype(int)
    hits = sum(union.contains(Point(*(t * (c + 0.5, r + 0.5)))) for r, c in zip(rows[pick], cols[pick]))
    assert hits / len(pick) > 0.9


# ------------------------------------------------------------------ bad inputs: message, nothing left


def test_one_channel_model_on_rgb(models, tmp_path):
    r = make_raster(tmp_path / "rgb.tif", size=(300, 300))
    with pytest.raises(UserInputError, match="expects 1 channel"):
        run_detection(models["one_channel"], str(r), out_path=tmp_path / "o.gpkg")
    assert not (tmp_path / "o.gpkg").exists() and leftovers(tmp_path) == []
    rep = run_detection(models["one_channel"], str(r), band_map=[1])  # explicit mapping works
    assert rep.tiles_run == 4


def test_extent_outside_raster(models, tmp_path):
    r = make_raster(tmp_path / "r.tif", size=(300, 300))
    with pytest.raises(UserInputError, match="does not overlap the raster"):
        run_detection(models["yolov8"], str(r), extent=(0, 0, 100, 100), out_path=tmp_path / "o.gpkg")
    assert not (tmp_path / "o.gpkg").exists()


def test_all_nodata(models, tmp_path):
    r = make_raster(tmp_path / "nd.tif", size=(300, 300), nodata=0, fill=0)
    with pytest.raises(UserInputError, match="no data"):
        run_detection(models["yolov8"], str(r), out_path=tmp_path / "o.gpkg")
    assert not (tmp_path / "o.gpkg").exists() and leftovers(tmp_path) == []


def test_unwritable_output(models, tmp_path):
    r = make_raster(tmp_path / "r.tif", size=(300, 300))
    with pytest.raises(UserInputError, match="does not exist"):
        run_detection(models["yolov8"], str(r), out_path=tmp_path / "nope" / "o.gpkg")
    with pytest.raises(UserInputError, match="Cannot write"):
        run_detection(models["yolov8"], str(r), out_path="/proc/idfhr_out.gpkg")
    with pytest.raises(UserInputError, match=".gpkg"):
        run_detection(models["yolov8"], str(r), out_path=tmp_path / "o.shp")


def test_cancel_keeps_earlier_layers(models, tmp_path):
    r = make_raster(tmp_path / "r.tif", size=(900, 900), squares=[(X0 + 20.0, Y0 - 20.0, 4.0)])
    out = tmp_path / "o.gpkg"
    first = run_detection(models["yolov8"], str(r), out_path=out, layer_name="first_run")
    before = layers(out)
    bytes_before = out.read_bytes()
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        run_detection(models["yolov8"], str(r), out_path=out, cancel=cancel, batch_size=1)
    assert layers(out) == before and "first_run" in before and out.read_bytes() == bytes_before
    assert leftovers(tmp_path) == []
    second = run_detection(models["yolov8"], str(r), out_path=out, layer_name="first_run")
    assert second.layer == "first_run_2" and set(layers(out)) == {"first_run", "first_run_2", "idfhr_runs"}
    assert [x["run_id"] for x in read_runs(out)] == [first.run_id, second.run_id]
    with pytest.raises(Cancelled):
        run_detection(models["yolov8"], str(r), out_path=tmp_path / "new.gpkg", cancel=lambda: True)
    assert not (tmp_path / "new.gpkg").exists()


def test_cli_detect(models, tmp_path, capsys):
    r = make_raster(tmp_path / "r.tif", size=(400, 400), squares=[(X0 + 20.0, Y0 - 20.0, 4.0)])
    out = tmp_path / "cli.gpkg"
    code = cli.main(
        [
            "detect",
            "--model",
            str(models["yolov8"]),
            "--raster",
            str(r),
            "--out",
            str(out),
            "--extent",
            f"{X0},{Y0 - 60},{X0 + 60},{Y0}:2154",
            "--conf",
            "0.5",
        ]
    )
    txt = capsys.readouterr()
    assert code == 0 and "1 object(s) found" in txt.out and "Wh" in txt.out and "tiles" in txt.err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    assert (
        cli.main(["detect", "--model", str(bad), "--raster", str(r), "--out", str(tmp_path / "x.gpkg")]) == 2
    )
    assert "not a readable ONNX model" in capsys.readouterr().err
    assert not (tmp_path / "x.gpkg").exists()
    assert (
        cli.main(
            [
                "detect",
                "--model",
                str(models["yolov8"]),
                "--raster",
                str(r),
                "--out",
                str(out),
                "--extent",
                "1,2,3",
            ]
        )
        == 2
    )


def test_gdal_block_cache_bounded_during_a_run(models, tmp_path):
    """GDAL's block cache (5 % of RAM by default) made memory grow with the extent: bounded, then restored."""
    from osgeo import gdal

    from idf_hr_plugin.core.inference.runner import GDAL_CACHE_BYTES

    r = make_raster(tmp_path / "r.tif", size=(600, 600), squares=[(X0 + 20.0, Y0 - 20.0, 4.0)])
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(4 * GDAL_CACHE_BYTES)  # what a machine with 8 GB of RAM gets
    try:
        during = []
        rep = run_detection(
            models["yolov8"],
            str(r),
            progress=lambda d, t, e: during.append(gdal.GetCacheMax()),
            bound_gdal_cache=True,  # the CLI's default; inside QGIS (as here, under pytest-qgis) it is left alone
        )
        assert rep.features == 1 and during and max(during) <= GDAL_CACHE_BYTES
        assert gdal.GetCacheMax() == 4 * GDAL_CACHE_BYTES
    finally:
        gdal.SetCacheMax(before)


def test_gdal_block_cache_left_to_qgis_inside_qgis(models, tmp_path, qgis_app):
    """Inside QGIS the cache is QGIS's: shrinking it would evict blocks its rendering threads use."""
    from osgeo import gdal

    from idf_hr_plugin.core.inference.runner import GDAL_CACHE_BYTES

    r = make_raster(tmp_path / "r.tif", size=(600, 600), squares=[(X0 + 20.0, Y0 - 20.0, 4.0)])
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(4 * GDAL_CACHE_BYTES)
    try:
        during = []
        run_detection(models["yolov8"], str(r), progress=lambda d, t, e: during.append(gdal.GetCacheMax()))
        assert during and set(during) == {4 * GDAL_CACHE_BYTES}
    finally:
        gdal.SetCacheMax(before)


def test_run_report_is_serialised_without_copying_the_results(models, tmp_path):
    """The report written with the layer is built without copying the run's features (a copy of
    a 400,000-polygon segmentation cost 18 s and as much memory again)."""
    import threading

    r = make_raster(tmp_path / "r.tif", squares=[(652030.0, 6861970.0, 6.0)])
    rep = run_detection(models["yolov8"], str(r))
    rep.partial.polys.append(threading.Lock())  # cannot be copied: the serialiser must not try
    d = rep.to_dict()
    assert "partial" not in d and d["features"] == rep.features == 1
    assert json.loads(rep.to_json())["run_id"] == rep.run_id
