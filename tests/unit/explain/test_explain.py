""" "Why this detection?" in the core and the CLI: a real run of the bundled model on a (small) demo
region, explained object by object, with a real occlusion map and real error cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr

from idf_hr_plugin.cli import main
from idf_hr_plugin.core.errors import Cancelled
from idf_hr_plugin.core.explain import explain_feature, occlusion_map
from idf_hr_plugin.core.inference import run_detection

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "idf_hr_plugin" / "resources" / "models" / "idfhr_demo_detector.onnx"
ULTRA = ROOT / "tests" / "data" / "ultralytics" / "yolov8n_detect_dyn.onnx"


@pytest.fixture(scope="module")
def run(small_demo_region, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "detections.gpkg"
    rep = run_detection(str(MODEL), str(small_demo_region.vintages[2024][0]), out_path=out, threads=1)
    return out, rep


def _objects(gpkg: Path, layer: str) -> list:
    ds = ogr.Open(str(gpkg))
    return [
        {
            "fid": f.GetFID(),
            "label": f["label"],
            "score": f["score"],
            "tile_id": f["tile_id"],
            "env": f.GetGeometryRef().GetEnvelope(),
        }
        for f in ds.GetLayerByName(layer)
    ]


def _pick(gpkg: Path, layer: str, label: str) -> dict:
    """The best-scored object of ``label`` at least 30 m inside the region (not cut by its edge)."""
    cand = [
        o
        for o in _objects(gpkg, layer)
        if o["label"] == label and o["env"][0] > 662372 + 30 and o["env"][1] < 6855628 - 30
    ]
    return max(cand, key=lambda o: o["score"])


def test_explains_a_detection_with_its_run_scores_tile_and_model_limits(run):
    gpkg, rep = run
    obj = _pick(gpkg, rep.layer, "swimming_pool")
    exp = explain_feature(gpkg, obj["fid"], threads=1)
    assert (exp.kind, exp.label, exp.run_id) == ("detection", "swimming_pool", rep.run_id)
    assert exp.score == pytest.approx(obj["score"])
    assert exp.class_scores[0] == ("swimming_pool", pytest.approx(obj["score"], abs=1e-4))
    assert len(exp.class_scores) == 3 and exp.class_scores[1][1] < exp.class_scores[0][1]
    assert exp.run_date == rep.started_at
    card = json.loads(MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    assert exp.model["limits"] == card["limits"] and exp.model["sha256"] == card["sha256"]
    # the tile the object came from holds it
    x0, x1, y0, y1 = obj["env"]
    tb = exp.tile["bounds"]
    assert exp.tile["id"] == obj["tile_id"]
    assert tb[0] <= (x0 + x1) / 2 <= tb[2] and tb[1] <= (y0 + y1) / 2 <= tb[3]
    # the crop is one model input at the model's 20 cm, centred on the object
    v = exp.views[0]
    assert v.crop.shape == (3, 512, 512) and v.crop.dtype == np.uint8 and v.valid.all()
    assert v.bounds[2] - v.bounds[0] == pytest.approx(512 * 0.2)
    cx, cy = (v.object_box[0] + v.object_box[2]) / 2, (v.object_box[1] + v.object_box[3]) / 2
    assert abs(cx - 256) <= 1 and abs(cy - 256) <= 1
    # the model, run again on that crop, still sees a pool there
    assert v.match["label"] == "swimming_pool" and v.match["iou_with_object"] > 0.7
    assert v.match["score"] == pytest.approx(obj["score"], abs=0.1)
    assert v.match["class_scores"][0][0] == "swimming_pool"


def test_occlusion_map_shows_the_object_matters_most_and_is_bounded(run):
    gpkg, rep = run
    obj = _pick(gpkg, rep.layer, "tree")
    exp = explain_feature(gpkg, obj["fid"], threads=1)
    seen = []
    occ = occlusion_map(exp, progress=seen.append)
    assert exp.occlusion is occ
    assert 64 <= occ.runs <= 144 and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    heat = occ.heat
    assert heat.shape == (512, 512)
    tested = np.isfinite(heat)
    assert 0 < tested.mean() < 0.5  # only around the object: one crop, a bounded number of runs
    x0, y0, x1, y1 = (int(round(c)) for c in exp.views[0].object_box)
    inside = np.zeros_like(tested)
    inside[y0:y1, x0:x1] = True
    # hiding the tree itself lowers its score far more than hiding what lies around it
    assert occ.max_drop > 0.2
    assert np.nanmean(heat[inside]) > np.nanmean(heat[tested & ~inside]) + 0.1
    assert np.unravel_index(np.nanargmax(heat), heat.shape) in set(zip(*np.nonzero(inside)))


def test_occlusion_map_is_cancellable(run):
    gpkg, rep = run
    obj = _pick(gpkg, rep.layer, "building")
    exp = explain_feature(gpkg, obj["fid"], threads=1)
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        occlusion_map(exp, cancel=cancel)
    assert exp.occlusion is None and len(calls) == 3


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_cli_writes_crop_heat_map_and_json(run, tmp_path, capsys):
    gpkg, rep = run
    obj = _pick(gpkg, rep.layer, "swimming_pool")
    out = tmp_path / "why"
    code = main(
        ["explain", "--detections", str(gpkg), "--fid", str(obj["fid"]), "--occlusion", "--out", str(out)]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "crop.png",
        "explanation.json",
        "occlusion.png",
        "occlusion_zoom.png",
    ]
    data = json.loads((out / "explanation.json").read_text(encoding="utf-8"))
    assert data["label"] == "swimming_pool" and data["run_id"] == rep.run_id
    assert data["class_scores"][0]["label"] == "swimming_pool" and len(data["class_scores"]) == 3
    assert data["tile"]["id"] == obj["tile_id"] and data["known_limits"]
    assert data["occlusion"]["model_runs"] >= 64 and "Red" in data["occlusion"]["meaning"]
    import rasterio

    with rasterio.open(out / "crop.png") as src:
        img = src.read()
    assert img.shape == (3, 512, 512)
    # the object's outline is drawn in yellow around the centre of the crop
    x0, y0, x1, y1 = (int(round(c)) for c in data["views"][0]["object_box_px"])
    edge = img[:, y0, x0 + 2 : x1 - 2]
    assert (edge[0] > 200).all() and (edge[1] > 200).all() and (edge[2] < 30).all()
    assert "swimming_pool" in capsys.readouterr().out


def _cli_error(argv, capsys) -> tuple:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def test_cli_refuses_unknown_fid_and_missing_layer_with_one_sentence(run, tmp_path, capsys):
    gpkg, rep = run
    out = tmp_path / "why"
    code, err = _cli_error(
        ["explain", "--detections", str(gpkg), "--fid", "99999", "--out", str(out)], capsys
    )
    assert code == 2 and "no object with fid 99999" in err and "Traceback" not in err
    assert not out.exists()
    code, err = _cli_error(
        ["explain", "--detections", str(gpkg), "--fid", "1", "--layer", "nope", "--out", str(out)], capsys
    )
    assert code == 2 and "nope" in err and not out.exists()


def test_cli_refuses_when_the_imagery_is_gone(small_demo_region, tmp_path, capsys):
    raster = tmp_path / "img.tif"
    shutil.copy(small_demo_region.vintages[2024][0], raster)
    gpkg = tmp_path / "d.gpkg"
    rep = run_detection(str(MODEL), str(raster), out_path=gpkg, threads=1)
    raster.unlink()
    out = tmp_path / "why"
    code, err = _cli_error(["explain", "--detections", str(gpkg), "--fid", "1", "--out", str(out)], capsys)
    assert code == 2 and "img.tif" in err and "no longer there" in err and rep.run_id[:12] in err
    assert not out.exists()


def test_cli_refuses_a_model_that_changed_since_the_run(small_demo_region, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    shutil.copy(ULTRA, model)
    gpkg = tmp_path / "d.gpkg"
    run_detection(str(model), str(small_demo_region.vintages[2024][0]), out_path=gpkg, conf=0.3, threads=1)
    shutil.copy(
        ROOT / "tests" / "data" / "ultralytics" / "yolo11n_detect.onnx", model
    )  # same name, other model
    out = tmp_path / "why"
    code, err = _cli_error(["explain", "--detections", str(gpkg), "--fid", "1", "--out", str(out)], capsys)
    assert code == 2 and "has changed since run" in err and "sha256" in err and "Traceback" not in err
    assert not out.exists()


def test_change_layer_gives_before_and_after_crops(small_demo_region, tmp_path):
    from idf_hr_plugin.core.analysis import read_detections, write_change_layer
    from idf_hr_plugin.core.analysis.workflow import compare_runs

    runs = []
    for year in (2024, 2026):
        gpkg = tmp_path / f"d{year}.gpkg"
        rep = run_detection(
            str(MODEL), str(small_demo_region.vintages[year][0]), out_path=gpkg, vintage=str(year), threads=1
        )
        runs.append(read_detections(gpkg, rep.layer))
    result = compare_runs(*runs)
    assert set(result.metadata["runs"]) == {"before", "after"}
    out = tmp_path / "changes.gpkg"  # a file of its own: the runs' table is not in it
    write_change_layer(result, out, "changes")
    ds = ogr.Open(str(out))
    feats = [(f.GetFID(), f["change"], f["label"]) for f in ds.GetLayerByName("changes")]
    fid, _c, label = next(f for f in feats if f[1] == "new")
    exp = explain_feature(out, fid, threads=1)
    assert exp.kind == "change" and exp.change["change"] == "new"
    assert [(v.role, v.vintage) for v in exp.views] == [("before", "2024"), ("after", "2026")]
    after = exp.views[1]
    assert after.match is not None and after.match["label"] == label
    assert exp.views[0].bounds == after.bounds  # the same place in both vintages
    assert not np.array_equal(exp.views[0].crop, after.crop)
    assert exp.main_view == 1


def test_imagery_changed_since_the_run_is_said(small_demo_region, tmp_path):
    """The same file name with other pixels: the explanation says the object is not seen any more."""
    import rasterio
    from rasterio.windows import from_bounds

    raster = tmp_path / "img.tif"
    shutil.copy(small_demo_region.vintages[2024][0], raster)
    gpkg = tmp_path / "d.gpkg"
    rep = run_detection(str(MODEL), str(raster), out_path=gpkg, threads=1)
    obj = _pick(gpkg, rep.layer, "swimming_pool")
    assert explain_feature(gpkg, obj["fid"], threads=1).notes == []
    x0, x1, y0, y1 = obj["env"]
    with rasterio.open(raster, "r+") as dst:  # the pool painted over with lawn grey-green
        win = from_bounds(x0 - 2, y0 - 2, x1 + 2, y1 + 2, dst.transform).round_offsets().round_lengths()
        h, w = int(win.height), int(win.width)
        dst.write(np.stack([np.full((h, w), v, np.uint8) for v in (96, 110, 80)]), window=win)
    exp = explain_feature(gpkg, obj["fid"], threads=1)
    assert any("does not find this object" in n or "imagery may have changed" in n for n in exp.notes)
