"""Decoders on exactly known tensors, and on hand-built ONNX graphs run by ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from idf_hr_plugin.core.inference import load_model_spec
from idf_hr_plugin.core.inference.decoders import (
    decode_detections,
    decode_end2end,
    decode_obb,
    decode_regression,
    decode_semantic,
    decode_yolov5,
    decode_yolov8,
    decode_yolov8_seg,
    materialise_masks,
    output_mapping,
    rbox_corners,
)


def test_yolov8_layout_filters_then_decodes():
    # (B=1, 4+nc=6, A=3): anchor 1 passes (class 1 = 0.8), others below 0.25
    p = np.zeros((1, 6, 3), np.float32)
    p[0, :4, 1] = [100, 50, 20, 10]
    p[0, 4:, 1] = [0.3, 0.8]
    p[0, 4:, 0] = [0.2, 0.1]
    d = decode_yolov8(p, conf=0.25)[0]
    assert len(d) == 1
    np.testing.assert_allclose(d.boxes[0], [90, 45, 110, 55])
    assert d.class_ids[0] == 1 and d.scores[0] == pytest.approx(0.8)


def test_yolov5_score_is_objectness_times_class():
    p = np.zeros((1, 4, 7), np.float32)
    p[0, 0] = [10, 10, 4, 4, 0.9, 0.2, 0.5]  # 0.45 class 1
    p[0, 1] = [20, 20, 4, 4, 0.3, 0.9, 0.1]  # 0.27 class 0
    p[0, 2] = [30, 30, 4, 4, 0.2, 1.0, 1.0]  # obj below conf: dropped early
    d = decode_yolov5(p, conf=0.25)[0]
    np.testing.assert_allclose(d.scores, [0.45, 0.27], rtol=1e-6)
    np.testing.assert_array_equal(d.class_ids, [1, 0])
    np.testing.assert_allclose(d.boxes[0], [8, 8, 12, 12])


def test_obb_angle_last_and_corners():
    p = np.zeros((1, 4 + 1 + 1, 2), np.float32)
    p[0, :, 0] = [50, 40, 20, 10, 0.9, np.pi / 2]
    d = decode_obb(p, conf=0.5)[0]
    np.testing.assert_allclose(d.rboxes[0], [50, 40, 20, 10, np.pi / 2], rtol=1e-6)
    # rotated by 90 degrees: the envelope is 10 wide, 20 high
    np.testing.assert_allclose(d.boxes[0], [45, 30, 55, 50], atol=1e-4)
    c = rbox_corners(np.array([[0, 0, 4, 2, 0.0]]))[0]
    np.testing.assert_allclose(sorted(map(tuple, c)), [(-2, -1), (-2, 1), (2, -1), (2, 1)])


def test_end2end_detection_and_obb():
    p = np.zeros((1, 3, 6), np.float32)
    p[0, 0] = [1, 2, 11, 22, 0.9, 3]
    p[0, 1] = [5, 5, 6, 6, 0.1, 0]
    d = decode_end2end(p, conf=0.25)[0]
    assert len(d) == 1 and d.class_ids[0] == 3
    np.testing.assert_allclose(d.boxes[0], [1, 2, 11, 22])
    q = np.zeros((1, 2, 7), np.float32)
    q[0, 0] = [50, 50, 20, 10, 0.8, 1, 0.0]
    r = decode_end2end(q, conf=0.25, obb=True)[0]
    np.testing.assert_allclose(r.rboxes[0], [50, 50, 20, 10, 0.0])
    np.testing.assert_allclose(r.boxes[0], [40, 45, 60, 55])


def test_instance_masks_cropped_to_box():
    nm, mh = 32, 16
    p = np.zeros((1, 4 + 1 + nm, 2), np.float32)
    p[0, :5, 0] = [32, 32, 32, 32, 0.9]  # box 16..48 on a 64 px input
    p[0, 5, 0] = 1.0  # coefficient on proto 0
    protos = np.full((1, nm, mh, mh), -5.0, np.float32)
    protos[0, 0, 2:14, 2:14] = 5.0  # positive over input px 8..56 (wider than the box)
    d = decode_yolov8_seg(p, protos, conf=0.5)[0]
    d = materialise_masks(d, (64, 64))
    assert d.mask_boxes[0].tolist() == [16, 16, 48, 48]
    assert d.masks[0].shape == (32, 32) and d.masks[0].all()  # cropped to the box


def test_masks_of_many_detections_match_a_per_mask_reference():
    """One proto product per chunk of detections gives the masks of the per-mask computation."""
    from idf_hr_plugin.core.inference.decoders import Detections, _resize_bilinear

    rng = np.random.default_rng(2)
    n, size, mh = 700, 320, 80  # more detections than one chunk (4 Mi floats / 6,400 = 655)
    c = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(-4, 90, (n, 2))  # some boxes inverted, some past the border: empty masks
    boxes = np.c_[c - wh / 2, c + wh / 2].astype(np.float32)
    coeffs = rng.normal(0, 1, (n, 32)).astype(np.float32)
    protos = rng.normal(0, 1, (32, mh, mh)).astype(np.float32)
    det = Detections(boxes, np.ones(n, np.float32), np.zeros(n, np.int32), coeffs=coeffs, protos=protos)
    det = materialise_masks(det, (size, size))
    mb = det.mask_boxes
    empty = (mb[:, 2] <= mb[:, 0]) | (mb[:, 3] <= mb[:, 1])
    assert len(det.masks) == n
    assert [m.size == 0 for m in det.masks] == empty.tolist() and 10 < empty.sum() < n // 2
    for k in rng.choice(n, 40, replace=False).tolist() + [0, 654, 655, 656, n - 1]:
        x0, y0, x1, y1 = det.mask_boxes[k]
        if x1 <= x0 or y1 <= y0:
            continue
        full = _resize_bilinear((coeffs[k] @ protos.reshape(32, -1)).reshape(1, mh, mh), size, size)[0]
        want = full[y0:y1, x0:x1] > 0
        assert det.masks[k].shape == want.shape and (det.masks[k] == want).mean() > 0.999


def test_semantic_sigmoid_softmax_and_smaller_output():
    sig = np.zeros((1, 1, 8, 8), np.float32)
    sig[0, 0, 2:4, 2:4] = 0.9
    soft = np.zeros((1, 3, 8, 8), np.float32)
    soft[0, 0] = 0.6
    soft[0, 1] = 0.3
    soft[0, 2] = 0.1
    soft[0, :, 5, 5] = [0.1, 0.2, 0.7]
    chmaps = [{0: (0, "a")}, {1: (1, "b"), 2: (2, "c")}]
    scores, margin = decode_semantic([sig, soft], chmaps, (8, 8))
    assert scores.shape == (1, 3, 8, 8) and margin == 0
    assert scores[0, 0, 2, 2] == pytest.approx(0.9)
    assert scores[0, 1].max() == 0.0  # channel 1 is never the argmax
    assert scores[0, 2, 5, 5] == pytest.approx(0.7) and scores[0, 2, 0, 0] == 0.0
    assert output_mapping((484, 484), (512, 512)) == ("centre", 14)
    assert output_mapping((128, 128), (512, 512)) == ("resize", 0)
    small = np.ones((1, 1, 4, 4), np.float32)
    s2, m2 = decode_semantic([small], [{0: (0, "x")}], (12, 12))  # 4 -> 12: resized
    assert s2.shape == (1, 1, 12, 12) and m2 == 0 and np.allclose(s2, 1.0)
    vals, _ = decode_regression(np.full((1, 6, 6), 2.0, np.float32), (6, 6), scaling=1.1)
    assert np.allclose(vals, 2.2)


IMG = np.full((1, 3, 256, 256), 0.5, np.float32)
IMG[0, 0, 100:120, 50:80] = 1.0
IMG[0, 1, 100:120, 50:80] = 0.0


@pytest.mark.parametrize("name", ["yolov8", "yolov5", "end2end", "yolov8_fixed_b2", "yolov8_seg"])
def test_graphs_give_the_red_box(models, name):
    spec = load_model_spec(models[name])
    sess = ort.InferenceSession(str(models[name]))
    x = np.concatenate([IMG] * (spec.fixed_batch or 1))
    dets = decode_detections(spec, sess.run(None, {spec.input.name: x}), conf=0.25)
    d = dets[0]
    assert len(d) == 1
    np.testing.assert_allclose(d.boxes[0], [50, 100, 80, 120], atol=1e-4)
    assert d.scores[0] == pytest.approx(0.9) and d.class_ids[0] == 0
    if name == "yolov8_seg":
        d = materialise_masks(d, (256, 256))
        assert d.masks[0].mean() > 0.85


@pytest.mark.parametrize("name", ["yolov8_obb", "end2end_obb"])
def test_obb_graphs(models, name):
    spec = load_model_spec(models[name])
    sess = ort.InferenceSession(str(models[name]))
    d = decode_detections(spec, sess.run(None, {spec.input.name: IMG}), conf=0.25)[0]
    assert len(d) == 1
    np.testing.assert_allclose(d.rboxes[0], [65, 110, 30, 20, 0.5], atol=1e-4)


def test_semantic_graphs_and_deepness_dummies(models, shared_data):
    for name in ("seg_sigmoid", "seg_sigmoid_squeezed", "seg_softmax", "seg_sigmoid_crop"):
        spec = load_model_spec(models[name])
        sess = ort.InferenceSession(str(models[name]))
        scores, margin = decode_semantic(
            sess.run(None, {spec.input.name: IMG}), spec.seg_output_classes, (256, 256)
        )
        mask = scores[0, 0] > 0.5
        assert mask[100:120, 50:80].all() and mask.sum() == 600, name
        assert margin == (14 if name == "seg_sigmoid_crop" else 0)
    root = shared_data / "models/deepness_dummy/dummy_segmentation_models"
    spec = load_model_spec(root / "two_outputs_softmax_bsx2x512x512.onnx")
    sess = ort.InferenceSession(str(root / "two_outputs_softmax_bsx2x512x512.onnx"))
    x = np.random.default_rng(0).random((2, 3, 512, 512), dtype=np.float32)
    scores, _ = decode_semantic(sess.run(None, {spec.input.name: x}), spec.seg_output_classes, (512, 512))
    assert scores.shape == (2, 2, 512, 512)


@pytest.mark.parametrize(
    "decode, shape",
    [
        (lambda a: decode_yolov8(a, 0.25, nc=3), (1, 9, 20)),  # 4+5 rows for 3 classes
        (lambda a: decode_obb(a, 0.25, nc=3), (1, 7, 20)),  # no angle row
        (lambda a: decode_yolov5(a, 0.25, nc=3), (1, 20, 6)),  # 5+1 columns for 3 classes
        (lambda a: decode_end2end(a, 0.25), (1, 20, 7)),  # 7 columns: an OBB row, not a box row
        (lambda a: decode_end2end(a, 0.25, obb=True), (1, 20, 6)),
    ],
)
def test_output_that_does_not_fit_the_class_count_is_refused(decode, shape):
    """Dynamic exports name their dims: the real array is checked before anything is decoded."""
    from idf_hr_plugin.core.errors import UserInputError

    a = np.random.default_rng(0).random(shape, dtype=np.float32)
    with pytest.raises(UserInputError, match=r"values per box on axis \d; its results would be wrong"):
        decode(a)
