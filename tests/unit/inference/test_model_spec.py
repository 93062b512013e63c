"""Model loading: Deepness / Ultralytics metadata, sidecar cards, integrity checks, sessions."""

from __future__ import annotations

import json
import shutil

import pytest

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.inference import available_providers, create_session, load_model_spec
from idf_hr_plugin.core.inference.model import physical_cores, sha256_file, stable_color

DEEPNESS = "models/deepness_dummy"


@pytest.mark.parametrize(
    "rel, task, layout, classes",
    [
        (
            "dummy_segmentation_models/one_output_sigmoid_bsx1x512x512.onnx",
            "semantic_segmentation",
            "seg_maps",
            ["Coffee"],
        ),
        (
            "dummy_segmentation_models/two_outputs_sigmoid_bsx1x512x512.onnx",
            "semantic_segmentation",
            "seg_maps",
            ["Coffee", "Juice"],
        ),
        (
            "dummy_segmentation_models/two_outputs_softmax_bsx2x512x512.onnx",
            "semantic_segmentation",
            "seg_maps",
            ["Tea", "Beer"],
        ),
        (
            "dummy_segmentation_models/one_output_sigmoid_bsx512x512.onnx",
            "semantic_segmentation",
            "seg_maps",
            ["Coffee"],
        ),
        (
            "dummy_segmentation_models/different_output_size_512_to_484.onnx",
            "semantic_segmentation",
            "seg_maps",
            ["class_0"],
        ),
        ("dummy_regression_models/dummy_regression_model.onnx", "regression", "regression_map", None),
        ("dummy_superresolution_model.onnx", "superresolution", "image", None),
        ("one_output_sigmoid_red_detector.onnx", "semantic_segmentation", "seg_maps", ["class_0"]),
    ],
)
def test_deepness_models_are_typed(shared_data, rel, task, layout, classes):
    spec = load_model_spec(shared_data / DEEPNESS / rel)
    assert (spec.task, spec.layout) == (task, layout)
    if classes is not None:
        assert list(spec.class_names.values()) == classes
        assert all(c.startswith("#") and len(c) == 7 for c in spec.class_colors.values())


def test_deepness_metadata_values(shared_data):
    spec = load_model_spec(
        shared_data / DEEPNESS / "dummy_regression_models/dummy_regression_model_batched.onnx"
    )
    assert spec.convention == "deepness"
    assert spec.gsd_m == pytest.approx(0.055)
    assert spec.tile_size == 256
    assert spec.seg_thresh == pytest.approx(0.3) and spec.seg_small_segment_px == 13
    assert spec.conf == pytest.approx(0.6) and spec.iou == pytest.approx(0.44)
    assert spec.dynamic_batch and spec.input_size == (512, 512)
    fixed = load_model_spec(shared_data / DEEPNESS / "dummy_regression_models/dummy_regression_model.onnx")
    assert not fixed.dynamic_batch and fixed.fixed_batch == 1


def test_ultralytics_metadata_and_override(models):
    spec = load_model_spec(models["yolov8"])
    assert spec.convention == "ultralytics"
    assert spec.class_names == {0: "red", 1: "other"}
    assert spec.input_size == (256, 256) and spec.channels == 3
    forced = load_model_spec(models["yolov8"], task="detection", layout="yolov5")
    assert forced.layout == "yolov5"
    assert load_model_spec(models["yolov8_obb"]).task == "obb"
    assert load_model_spec(models["yolov8_seg"]).layout == "yolov8_seg"
    assert load_model_spec(models["end2end"]).layout == "end2end"
    assert load_model_spec(models["end2end_obb"]).layout == "end2end_obb"
    assert load_model_spec(models["yolov5"]).layout == "yolov5"
    assert load_model_spec(models["yolov8_fixed_b2"]).fixed_batch == 2


def test_sidecar_card(models, tmp_path):
    m = tmp_path / "buildings.onnx"
    shutil.copy(models["yolov8"], m)
    card = {
        "name": "Bâtiments IdF",
        "licence": "EUPL-1.2",
        "training_data": "synthetic demo region",
        "gsd_m": 0.2,
        "classes": [{"id": 0, "name": "building", "color": "#ff0000"}, {"id": 1, "name": "pool"}],
        "accuracy": {"f1": 0.8},
        "sha256": sha256_file(m),
    }
    m.with_suffix(".json").write_text(json.dumps(card), encoding="utf-8")
    spec = load_model_spec(m)
    assert spec.name == "Bâtiments IdF" and spec.gsd_m == 0.2
    assert spec.class_names == {0: "building", 1: "pool"}
    assert spec.class_colors[0] == "#ff0000" and spec.class_colors[1] == stable_color(1)
    assert spec.to_dict()["card"]["licence"] == "EUPL-1.2"


def test_sha256_mismatch_is_refused(models, tmp_path):
    with pytest.raises(UserInputError, match="sha256"):
        load_model_spec(models["yolov8"], expected_sha256="0" * 64)
    assert load_model_spec(models["yolov8"], expected_sha256=sha256_file(models["yolov8"])).sha256


def test_non_onnx_file_is_refused(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("this is not a protobuf", encoding="utf-8")
    with pytest.raises(UserInputError, match="not a readable ONNX model"):
        load_model_spec(bad)
    with pytest.raises(UserInputError, match="does not exist"):
        load_model_spec(tmp_path / "missing.onnx")


def test_session_reports_provider_and_threads(models):
    sess, info = create_session(load_model_spec(models["yolov8"]))
    assert "CPUExecutionProvider" in available_providers()
    assert info.providers[-1] == "CPUExecutionProvider"
    assert info.intra_threads == physical_cores() >= 1
    with pytest.raises(UserInputError, match="not available"):
        create_session(load_model_spec(models["yolov8"]), providers=["NoSuchExecutionProvider"])


def _retagged(src, dst, meta: dict):
    """A copy of a real ONNX model with its metadata replaced."""
    import onnx

    model = onnx.load(str(src))
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, meta)
    onnx.save(model, str(dst))
    return dst


@pytest.mark.parametrize(
    "det_type, names, fits",
    [
        ("yolo_ultralytics", ["a", "b", "c"], True),  # (1, 4+3, 525)
        ("yolo_ultralytics", ["a", "b", "c", "d", "e"], False),  # 5 names for 3 class rows
        ("yolo_ultralytics_obb", ["a", "b", "c"], False),  # an OBB head of 3 classes has 8 rows
    ],
)
def test_deepness_class_names_and_det_type_must_fit_the_outputs(tmp_path, det_type, names, fits):
    from pathlib import Path

    real = Path(__file__).resolve().parents[2] / "data" / "ultralytics" / "yolo11n_detect.onnx"
    meta = {
        "model_type": json.dumps("Detector"),
        "det_type": json.dumps(det_type),
        "class_names": json.dumps({str(i): n for i, n in enumerate(names)}),
    }
    model = _retagged(real, tmp_path / "deepness_detector.onnx", meta)
    if fits:
        spec = load_model_spec(model)
        assert (spec.task, spec.layout, spec.num_classes) == ("detection", "yolov8", 3)
        return
    with pytest.raises(UserInputError, match="disagree") as exc:
        load_model_spec(model)
    assert "(1, 7, 525)" in str(exc.value) and "deepness_detector.onnx" in str(exc.value)
