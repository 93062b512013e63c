"""Every detection keeps its best class scores (``class_scores``) and the tile it came from (``tile_id``).

The decoders are checked on the real ONNX Runtime outputs of the real Ultralytics exports of
``tests/data/ultralytics`` (the class scores are read straight from the raw output), the engine
on those exports and on the bundled demo detector over a small demo region.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr

from idf_hr_plugin.core.inference import create_session, load_model_spec, run_detection
from idf_hr_plugin.core.inference.decoders import decode_detections
from idf_hr_plugin.core.inference.writer import parse_class_scores
from tests.unit.inference.test_ultralytics_exports import NAMES, _input, _noise_raster, path

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "idf_hr_plugin" / "resources" / "models" / "idfhr_demo_detector.onnx"


def _raw_class_scores(layout: str, out: np.ndarray, nc: int) -> np.ndarray:
    """(A, nc) class scores of every anchor/row of one image, read from the raw output."""
    if layout == "yolov5":
        return out[:, 5:] * out[:, 4:5]
    return out[4 : 4 + nc].T  # yolov8 / yolov8_obb / yolov8_seg: rows cx, cy, w, h, classes...


@pytest.mark.parametrize("name", ["yolov8n_detect_dyn", "yolo11n_detect", "yolov8n_obb", "yolov8n_seg"])
def test_decoders_keep_the_three_best_class_scores_of_the_raw_output(name):
    spec = load_model_spec(path(name))
    sess = create_session(spec, threads=1)[0]
    outs = sess.run(None, {spec.input.name: _input(spec)})
    dets = decode_detections(spec, outs, 0.25)
    checked = 0
    for b, det in enumerate(dets):
        raw = _raw_class_scores(spec.layout, outs[0][b], len(NAMES))
        best = raw.max(axis=1)
        kept = np.nonzero(best > 0.25)[0]  # the decoders keep the anchors in this order
        assert len(det) == len(kept)
        if not len(det):
            continue
        assert det.topk_ids.shape == det.topk_scores.shape == (len(det), 3)  # nc = 3: all of them
        np.testing.assert_array_equal(det.topk_ids[:, 0], det.class_ids)
        np.testing.assert_allclose(det.topk_scores[:, 0], det.scores, rtol=1e-6)
        assert np.all(np.diff(det.topk_scores, axis=1) <= 0)  # best first
        want = np.sort(raw[kept], axis=1)[:, ::-1]
        np.testing.assert_allclose(det.topk_scores, want, rtol=1e-6)
        np.testing.assert_allclose(
            np.take_along_axis(raw[kept], det.topk_ids.astype(int), axis=1), det.topk_scores, rtol=1e-6
        )
        checked += len(det)
    assert checked > 0


@pytest.mark.parametrize("name", ["yolov8n_detect_nms_known", "yolov8n_obb_nms", "yolo26n_e2e_known"])
def test_nms_inside_exports_write_only_the_class_they_give(name):
    """An NMS-included export gives one class and score per box: nothing else is invented."""
    spec = load_model_spec(path(name))
    sess = create_session(spec, threads=1)[0]
    dets = decode_detections(spec, sess.run(None, {spec.input.name: _input(spec)}), 0.25)
    det = next(d for d in dets if len(d)) if any(len(d) for d in dets) else dets[0]
    assert det.topk_ids.shape == (len(det), 1)
    np.testing.assert_array_equal(det.topk_ids[:, 0], det.class_ids)
    np.testing.assert_array_equal(det.topk_scores[:, 0], det.scores)


def _features(gpkg: Path, layer: str) -> list:
    ds = ogr.Open(str(gpkg))
    lyr = ds.GetLayerByName(layer)
    return [
        {
            "fid": f.GetFID(),
            "label": f["label"],
            "score": f["score"],
            "class_scores": f["class_scores"],
            "tile_id": f["tile_id"],
            "wkt": f.GetGeometryRef().ExportToWkt(),
        }
        for f in lyr
    ]


def _check_layer(feats: list, labels: set, k: int, tiles: int) -> None:
    assert feats
    for f in feats:
        pairs = parse_class_scores(f["class_scores"])
        assert len(pairs) == k, f["class_scores"]
        assert pairs[0][0] == f["label"] and pairs[0][1] == pytest.approx(f["score"], abs=1e-4)
        assert [p[1] for p in pairs] == sorted((p[1] for p in pairs), reverse=True)
        assert len({p[0] for p in pairs}) == k and {p[0] for p in pairs} <= labels
        assert json.loads(f["class_scores"])  # plain JSON, for machines
        assert 0 <= f["tile_id"] < tiles


@pytest.mark.parametrize("name", ["yolov8n_detect_dyn", "yolov8n_obb"])
def test_engine_writes_class_scores_and_tile_on_ultralytics_exports(name, tmp_path):
    raster = _noise_raster(tmp_path / "noise.tif")
    out = tmp_path / "out.gpkg"
    rep = run_detection(str(path(name)), str(raster), out_path=out, conf=0.3, threads=1)
    feats = _features(out, rep.layer)
    _check_layer(feats, set(NAMES.values()), 3, rep.tiles_total)
    assert rep.to_dict()["raster_path"] == str(raster.resolve())  # the imagery, to read it again


def test_engine_nms_export_writes_its_one_class(tmp_path):
    raster = _noise_raster(tmp_path / "noise.tif")
    rep = run_detection(str(path("yolov8n_detect_nms_known")), str(raster), out_path=tmp_path / "o.gpkg")
    feats = _features(tmp_path / "o.gpkg", rep.layer)
    _check_layer(feats, {"swimming_pool"}, 1, rep.tiles_total)


def test_bundled_model_writes_its_runner_up_classes(small_demo_region, tmp_path):
    raster = small_demo_region.vintages[2024][0]
    out = tmp_path / "d.gpkg"
    rep = run_detection(str(MODEL), str(raster), out_path=out, threads=1)
    feats = _features(out, rep.layer)
    classes = {"building", "swimming_pool", "solar_panel", "tree", "car"}
    _check_layer(feats, classes, 3, rep.tiles_total)
    assert {f["label"] for f in feats} >= {"building", "tree", "swimming_pool"}
    # the tile of each object is the plan's tile that holds the object's centre
    assert len({f["tile_id"] for f in feats}) > 1
