"""The bundled demo detector: loads, matches its card, and finds the demo ground truth at the F1 it claims."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from idf_hr_plugin.core.inference import create_session, load_model_spec
from idf_hr_plugin.core.inference.model import sha256_file

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "resources" / "models" / "idfhr_demo_detector.onnx"
CARD = MODEL.with_suffix(".json")
CLASSES = ["building", "swimming_pool", "solar_panel", "tree", "car"]
TOLERANCE = 0.05
MIN_SAMPLES = 30  # a class is checked on its own when the held-out area has at least this many objects


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(CARD.read_text(encoding="utf-8"))


def test_bundled_model_loads_with_its_card(card):
    assert MODEL.stat().st_size < 10 * 1024 * 1024
    assert card["sha256"] == sha256_file(MODEL)
    spec = load_model_spec(MODEL)  # verifies the card's sha256 too
    assert (spec.task, spec.layout) == ("detection", "yolov8")
    assert spec.name == "idfhr_demo_detector"
    assert spec.class_names == dict(enumerate(CLASSES))
    assert spec.class_colors[0] == "#d95f02" and spec.class_colors[4] == "#e7298a"
    assert spec.gsd_m == pytest.approx(0.2)
    assert spec.input_size == (512, 512) and spec.dynamic_batch and spec.channels == 3
    assert spec.conf == pytest.approx(card["conf"])
    for key in ("licence", "training_data", "accuracy", "limits", "held_out", "evaluation", "training"):
        assert card[key], key
    assert "NOT real imagery" in card["training_data"]
    assert card["accuracy"]["macro"]["f1"] >= 0.6  # the demo model really works on the demo region


def test_bundled_model_metadata_follows_both_conventions():
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(MODEL), load_external_data=False).metadata_props}
    assert meta["task"] == "detect"
    assert ast.literal_eval(meta["names"]) == dict(enumerate(CLASSES))
    assert ast.literal_eval(meta["imgsz"]) == [512, 512]
    assert json.loads(meta["resolution"]) == 20  # Deepness: cm/px
    assert json.loads(meta["class_names"]) == {str(i): c for i, c in enumerate(CLASSES)}
    # without its sidecar card, the metadata alone still gives the engine the 20 cm GSD
    spec = load_model_spec(MODEL, card={})
    assert spec.gsd_m == pytest.approx(0.2) and spec.layout == "yolov8"


def test_bundled_model_reaches_its_card_f1_on_the_held_out_tiles(demo_region, card):
    from demo_model.evaluate import evaluate_raster, pooled

    names = set(card["evaluation"]["held_out_tiles"])
    tiles = [(p, y) for y, ps in sorted(demo_region.vintages.items()) for p in ps if p.name in names]
    assert len(tiles) == len(names) == 2
    session = create_session(str(MODEL))
    runs = []
    for path, year in tiles:
        det, gt, report = evaluate_raster(MODEL, path, demo_region.ground_truth, year, session=session)
        assert report.parameters["gsd_m"] == pytest.approx(0.2)
        runs.append((det, gt))
    got = pooled(runs)
    claimed = card["accuracy"]
    counts = card["evaluation"]["counts"]
    assert got["macro"]["f1"] == pytest.approx(claimed["macro"]["f1"], abs=TOLERANCE)
    for c in CLASSES:
        assert got[c]["ground_truth"] == counts[c]["ground_truth"], c
        if counts[c]["ground_truth"] >= MIN_SAMPLES:
            assert got[c]["f1"] == pytest.approx(claimed[c]["f1"], abs=TOLERANCE), c
