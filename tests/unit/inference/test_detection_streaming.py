"""Detections leave memory as the run goes, and the written layer is still exactly what one
global NMS pass over every tile gives — whatever reach the model's boxes have (real Ultralytics
exports draw boxes far past their window: a group already written is taken back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr

from idf_hr_plugin.core.inference import load_model_spec, merge_results, plan_tiles, run_detection
from idf_hr_plugin.core.inference.clip import clip_to_plan

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0
ULTRA = Path(__file__).resolve().parents[2] / "data" / "ultralytics"


def _squares_raster(tmp_path):
    """1176 x 1406 px = 5 x 6 tiles of 256 px (26 px overlap): rows 0, 2, 4 hold a square in the
    middle of each tile; rows 1, 3, 5 one square on each of two vertical seams."""
    g = 0.2
    squares = [(X0 + (230 * i + 128) * g, Y0 - (230 * j + 128) * g, 4.0) for j in (0, 2, 4) for i in range(5)]
    squares += [(X0 + (230 * i + 13) * g, Y0 - (230 * j + 128) * g, 3.0) for j in (1, 3, 5) for i in (1, 3)]
    return make_raster(tmp_path / "squares.tif", size=(1176, 1406), squares=squares)


def _noise_raster(p: Path, size: int = 900) -> Path:
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(11)
    data = (rng.random((3, size, size)) * 255).astype(np.uint8)
    profile = dict(
        driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs="EPSG:2154",
        transform=Affine(0.2, 0, X0, 0, -0.2, Y0),
    )  # fmt: skip
    with rasterio.open(p, "w", **profile) as dst:
        dst.write(data)
    return p


def _layer(path, layer) -> list:
    from shapely import wkb

    ds = ogr.Open(str(path))
    return [
        (f.GetField("class_id"), f.GetField("score"), f.GetField("area_m2"), f.GetField("tile_id"),
         f.GetField("class_scores"), wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())))
        for f in ds.GetLayerByName(layer)
    ]  # fmt: skip


def _same_as_global_nms(model, raster, tmp_path, **kw) -> object:
    """Run with an output (streamed) and without (kept, one NMS at the end): same features."""
    rep = run_detection(str(model), str(raster), out_path=tmp_path / "o.gpkg", **kw)
    got = _layer(tmp_path / "o.gpkg", rep.layer)
    mem = run_detection(str(model), str(raster), **kw)
    spec = load_model_spec(str(model))
    plan = mem.plan
    ref = merge_results([mem.partial], plan.grid, iou=mem.parameters["iou"], ios=mem.parameters["ios"])
    ref = clip_to_plan(ref, plan, multipart=spec.task == "instance_segmentation", notes=[])
    assert len(got) == len(ref.geoms) == rep.features
    assert rep.detections_before_nms == mem.detections_before_nms
    assert rep.counts == mem.counts
    for lab, a in mem.areas_m2.items():
        assert rep.areas_m2[lab] == pytest.approx(a, rel=1e-9)

    def key(c, s, g):
        return (int(c), round(float(s), 6), round(g.centroid.x, 4), round(g.centroid.y, 4), round(g.area, 4))

    have = sorted((key(c, s, g), a, t, g) for c, s, a, t, _cs, g in got)
    want = sorted(
        (key(c, s, g), a, int(t), g)
        for c, s, a, t, g in zip(ref.class_ids, ref.scores, ref.areas_m2, ref.tile_ids, ref.geoms)
    )
    for (k1, a1, t1, g1), (k2, a2, t2, g2) in zip(have, want):
        assert k1 == k2 and t1 == t2 and abs(a1 - a2) <= 1e-6
        assert g1.hausdorff_distance(g2) <= 1e-6
    return rep


@pytest.mark.parametrize("model", ["yolov8", "yolov8_obb", "yolov8_seg"])
def test_streamed_layer_is_the_global_nms_result(models, tmp_path, model):
    rep = _same_as_global_nms(models[model], _squares_raster(tmp_path), tmp_path, overlap=26, batch_size=1)
    assert rep.features >= 20 and rep.detections_before_nms > rep.features


@pytest.mark.parametrize("name", ["yolov8n_detect_dyn", "yolov10n_e2e", "yolov8n_seg", "yolov8n_obb"])
def test_real_ultralytics_exports_far_reaching_boxes_same_as_global_nms(tmp_path, name):
    """Untrained real exports draw boxes far past their 160 px window: settled groups that a
    later box reaches are taken back, so the layer is still the global pass's."""
    rep = _same_as_global_nms(ULTRA / f"{name}.onnx", _noise_raster(tmp_path / "n.tif"), tmp_path, conf=0.25)
    assert rep.tiles_run >= 36 and rep.features > 20


def test_giant_boxes_take_settled_groups_back(tmp_path):
    """A model drawing boxes 60 times its object (thousands of px for a 256 px window): settled
    groups are reached by later boxes and taken back; the layer equals the global NMS pass."""
    import onnx
    from make_test_models import _G, ultra_meta

    g = _G(3, 256, None)
    b = g.red_box()
    cx, cy, w, h = g.xywh(b)
    rows = [
        cx,
        cy,
        g.scaled(w, 60.0),
        g.scaled(h, 60.0),
        g.scaled(b["score"], 0.9),
        g.scaled(b["score"], 0.1),
    ]
    out = g.pad_last(g.op("Concat", *rows, axis=1), 49)
    giant = tmp_path / "giant.onnx"
    onnx.save(g.model([("output0", (out, [g.batch, 6, 50]))], ultra_meta("detect", 256)), str(giant))
    # small objects in the first two rows of tiles (boxes of 180 px), large ones below (1,200 px):
    # the first rows settle, then the large boxes reach back up to them
    gsd = 0.2
    squares = [
        (X0 + (230 * i + 128) * gsd, Y0 - (230 * j + 128) * gsd, 0.6) for j in (0, 1) for i in range(5)
    ]
    squares += [
        (X0 + (230 * i + 128) * gsd, Y0 - (230 * j + 128) * gsd, 4.0) for j in (3, 4, 5) for i in (0, 2, 4)
    ]
    r = make_raster(tmp_path / "mixed.tif", size=(1176, 1406), squares=squares)
    rep = _same_as_global_nms(giant, r, tmp_path, tile_size=256, conf=0.25, batch_size=1)
    assert rep.timings["taken_back"] >= 5 and rep.features >= 2


def test_detections_leave_memory_as_the_run_goes(models, tmp_path):
    """Most detections are written long before the last tile: the stream holds a few rows."""
    from idf_hr_plugin.core.inference.model import create_session
    from idf_hr_plugin.core.inference.reader import RasterioWindowReader
    from idf_hr_plugin.core.inference.runner import run_tiles
    from idf_hr_plugin.core.inference.stream import DetectionStream
    from idf_hr_plugin.core.inference.writer import StagedFeatures

    r = _squares_raster(tmp_path)
    spec = load_model_spec(models["yolov8"])
    plan = plan_tiles(str(r), tile_size=256, overlap=26, gsd_m=spec.gsd_m)
    session, _info = create_session(spec)
    reader = RasterioWindowReader(str(r), plan.grid, [1, 2, 3], None)
    staged = StagedFeatures(tmp_path / "o.gpkg", plan.grid.crs.to_wkt(), multipolygon=False)
    done, written, held = [0], [], []

    def write(sel, group):
        written.append((done[0], sel.n))

    stream = DetectionStream(staged, write, width=plan.grid.width, iou=0.45, ios=0.7, agnostic=False)

    def progress(n, _total, _eta):
        done[0] = n
        held.append(len(stream.pool))

    try:
        part = run_tiles(
            spec, session, plan, reader, plan.tiles, batch_size=1, conf=0.25, iou=0.45, stream=stream,
            progress=progress,
        )  # fmt: skip
    finally:
        reader.close()
        staged.discard()
    total = len(plan.tiles)
    assert total == 30 and part.boxes == [] and len(stream.pool) == 0
    # 15 squares inside tiles + 6 on seams, each seen by two tiles (27 boxes), kept once each
    assert stream.n0 == 27 and sum(n for _d, n in written) == 21
    assert sum(n for d, n in written if d <= total - 5) >= 10, written  # before the last row of tiles
    assert max(held) <= 12  # about two rows of tiles' detections at most
