"""Detections leave memory as the run goes: a detection no later tile can suppress is final and
written at once; the written layer is the one global NMS pass over every tile gives."""

from __future__ import annotations

import pytest
from osgeo import ogr

from idf_hr_plugin.core.inference import load_model_spec, merge_results, plan_tiles, run_detection
from idf_hr_plugin.core.inference.clip import clip_to_plan
from idf_hr_plugin.core.inference.model import create_session
from idf_hr_plugin.core.inference.reader import RasterioWindowReader
from idf_hr_plugin.core.inference.runner import run_tiles

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0
MODELS = ["yolov8", "yolov8_obb", "yolov8_seg"]


def _squares_raster(tmp_path):
    """1176 x 1406 px = 5 x 6 tiles of 256 px (26 px overlap). The test models box the red
    pixels of a tile: rows 0, 2, 4 hold a square in the middle of each tile; rows 1, 3, 5 one
    square on each of two vertical seams, seen by the two tiles (one box suppressed by NMS)."""
    g = 0.2
    squares = [(X0 + (230 * i + 128) * g, Y0 - (230 * j + 128) * g, 4.0) for j in (0, 2, 4) for i in range(5)]
    squares += [(X0 + (230 * i + 13) * g, Y0 - (230 * j + 128) * g, 3.0) for j in (1, 3, 5) for i in (1, 3)]
    return make_raster(tmp_path / "squares.tif", size=(1176, 1406), squares=squares)


def _layer(path, layer) -> list:
    ds = ogr.Open(str(path))
    out = []
    for f in ds.GetLayerByName(layer):
        g = f.GetGeometryRef()
        out.append((f.GetField("class_id"), f.GetField("score"), f.GetField("area_m2"), g.ExportToIsoWkt()))
    return out


@pytest.mark.parametrize("model", MODELS)
def test_final_detections_are_handed_out_while_the_run_goes(models, tmp_path, model):
    """Most detections leave memory long before the last tile: only those next to the tiles
    still to run wait for the cross-tile NMS."""
    r = _squares_raster(tmp_path)
    spec = load_model_spec(models[model])
    plan = plan_tiles(str(r), tile_size=256, overlap=26, gsd_m=spec.gsd_m)
    session, _info = create_session(spec)
    reader = RasterioWindowReader(str(r), plan.grid, [1, 2, 3], None)
    done = [0]
    handed = []  # (tiles run so far, detections handed out)

    def sink(final):
        handed.append((done[0], sum(len(s) for s in final.scores)))

    def progress(n, _total, _eta):
        done[0] = n

    try:
        part = run_tiles(
            spec,
            session,
            plan,
            reader,
            plan.tiles,
            batch_size=1,
            conf=0.25,
            iou=0.45,
            sink=sink,
            progress=progress,
        )
    finally:
        reader.close()
    total = len(plan.tiles)
    assert total == 30 and part.detections == 27
    assert sum(n for _d, n in handed) == part.detections  # every detection handed out once
    assert sum(len(s) for s in part.scores) == 0 and part.polys == []  # none left in the partial result
    # the first three rows' objects before the last row of tiles
    early = sum(n for d, n in handed if d <= total - 5)
    assert early >= 10, handed


@pytest.mark.parametrize("model", MODELS)
def test_streamed_layer_is_the_global_nms_result(models, tmp_path, model):
    """Written as the run goes, the layer holds exactly the features of one NMS over all tiles."""
    r = _squares_raster(tmp_path)
    rep = run_detection(models[model], str(r), out_path=tmp_path / "o.gpkg", overlap=26, batch_size=1)
    assert rep.partial.scores == [] or sum(len(s) for s in rep.partial.scores) == 0
    got = _layer(tmp_path / "o.gpkg", rep.layer)
    mem = run_detection(models[model], str(r), overlap=26, batch_size=1)  # no output: kept, merged at the end
    plan = plan_tiles(str(r), tile_size=256, overlap=26, gsd_m=load_model_spec(models[model]).gsd_m)
    ref = merge_results([mem.partial], plan.grid, iou=mem.parameters["iou"], ios=mem.parameters["ios"])
    ref = clip_to_plan(ref, plan, multipart=model == "yolov8_seg", notes=[])
    assert len(got) == len(ref.geoms) == rep.features >= 20
    assert rep.detections_before_nms == mem.detections_before_nms > len(got)
    from shapely import wkt

    want = sorted(
        (int(c), round(float(s), 5), round(g.centroid.x, 4), round(g.centroid.y, 4), g)
        for c, s, g in zip(ref.class_ids, ref.scores, ref.geoms)
    )
    have = sorted(
        (
            int(c),
            round(float(s), 5),
            round(wkt.loads(w).centroid.x, 4),
            round(wkt.loads(w).centroid.y, 4),
            wkt.loads(w),
        )
        for c, s, _a, w in got
    )
    for (c1, s1, x1, y1, g1), (c2, s2, x2, y2, g2) in zip(have, want):
        assert (c1, s1, x1, y1) == (c2, s2, x2, y2)
        assert g1.hausdorff_distance(g2) <= 1e-6


def test_a_box_reaching_past_what_streaming_relies_on_is_refused_and_nothing_written(tmp_path):
    """Streaming assumes a box reaches at most one window past its tile; a model drawing boxes
    30 times the object (1,200 px for a 256 px window) could have met detections already
    written, so the run stops with a sentence and leaves no output, rather than write a layer
    that may differ from one global NMS pass."""
    import onnx
    from make_test_models import _G, ultra_meta

    from idf_hr_plugin.core.errors import UserInputError

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
    out_gpkg = tmp_path / "out.gpkg"
    with pytest.raises(UserInputError, match="past its 256 px window"):
        run_detection(
            str(giant), str(_squares_raster(tmp_path)), out_path=str(out_gpkg), tile_size=256, conf=0.25
        )
    assert not out_gpkg.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.suffix in (".gpkg", ".tmp") or p.name.startswith(".")]
