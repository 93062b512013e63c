"""Oriented-box (OBB) benchmarks (``make bench``): end to end vs bare ONNX Runtime, rotated NMS.

Two YOLOv8n-sized nets with the same backbone and the same candidate density (~10 % of the
8,400 anchors of a 640 px tile above the threshold, boxes of 2-4 strides around their anchor):
one with a detection head ``(B, 4+15, 8400)``, one with an OBB head ``(B, 4+15+1, 8400)`` (15
classes, like DOTA's yolo11n-obb). The OBB ratio is printed next to the detection one, on the
same tiles through the same overhead routine as ``test_bench_inference``. Asserts only catch
gross regressions; the numbers are read from the printout (the machines are shared).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_test_models  # noqa: E402
from test_bench_inference import X0, Y0, _base_tile, _overhead, _repeating_vrt  # noqa: E402

NC = 15
SIZE = 640
STRIDES = (8, 16, 32)
CLASS_SHIFT = 4.0  # added to the class logits: ~10 % of the anchors score above 0.25


def _anchors(size: int = SIZE) -> tuple:
    """Anchor centres and strides of the three levels, in Ultralytics' order."""
    xs, ys, st = [], [], []
    for s in STRIDES:
        n = size // s
        gy, gx = np.mgrid[0:n, 0:n]
        xs.append((gx.ravel() + 0.5) * s)
        ys.append((gy.ravel() + 0.5) * s)
        st.append(np.full(n * n, s))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(st).astype(np.float64)


def _head_model(obb: bool):
    """yolov8n_sized's conv stack with a realistic head: boxes around anchors, spread scores."""
    import onnx
    from onnx import helper, numpy_helper

    c = 4 + NC + 1  # both twins share these weights; the detection one drops the angle row
    model = make_test_models.yolov8n_sized(size=SIZE, nc=c - 4)
    graph = model.graph
    sig = [n for n in graph.node if n.op_type == "Sigmoid"][-1]
    ax, ay, st = _anchors()
    a = ax.size
    shift_in = np.zeros((1, c, 1), np.float32)
    shift_in[0, :4] = 6.0  # the stack's logits sit near -6: centre the box channels on 0
    shift_in[0, 4 : 4 + NC] = CLASS_SHIFT
    shift_in[0, -1] = 6.0
    scale = np.ones((1, c, a), np.float32)
    offset = np.zeros((1, c, a), np.float32)
    scale[0, 0], offset[0, 0] = 4 * st, ax - 2 * st  # cx within 2 strides of the anchor
    scale[0, 1], offset[0, 1] = 4 * st, ay - 2 * st
    scale[0, 2] = scale[0, 3] = 8 * st  # sides around 4 strides
    scale[0, -1], offset[0, -1] = 2 * math.pi, -math.pi  # angle
    graph.initializer.extend(
        [
            numpy_helper.from_array(shift_in, "bench_shift_in"),
            numpy_helper.from_array(scale, "bench_scale"),
            numpy_helper.from_array(offset, "bench_offset"),
        ]
    )
    logits, probs = sig.input[0], sig.output[0]
    sig.input[0] = "bench_logits"
    nodes = list(graph.node)
    at = nodes.index(sig)
    nodes.insert(at, helper.make_node("Add", [logits, "bench_shift_in"], ["bench_logits"]))
    ident = next(n for n in nodes if n.op_type == "Identity" and probs in n.input)
    nodes.insert(nodes.index(ident), helper.make_node("Mul", [probs, "bench_scale"], ["bench_scaled"]))
    nodes.insert(
        nodes.index(ident), helper.make_node("Add", ["bench_scaled", "bench_offset"], ["bench_head"])
    )
    ident.input[0] = "bench_head"
    if not obb:
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array([0], np.int64), "bench_from"),
                numpy_helper.from_array(np.array([4 + NC], np.int64), "bench_to"),
                numpy_helper.from_array(np.array([1], np.int64), "bench_axis"),
            ]
        )
        nodes.insert(
            nodes.index(ident),
            helper.make_node("Slice", ["bench_head", "bench_from", "bench_to", "bench_axis"], ["bench_det"]),
        )
        ident.input[0] = "bench_det"
        out = graph.output[0].type.tensor_type.shape.dim[1]
        out.dim_value = 4 + NC
    del graph.node[:]
    graph.node.extend(nodes)
    meta = {p.key: p.value for p in model.metadata_props}
    meta["task"] = "obb" if obb else "detect"
    meta["names"] = str({i: f"c{i}" for i in range(NC)})
    del model.metadata_props[:]
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="module")
def twin_models(tmp_path_factory):
    import onnx

    d = tmp_path_factory.mktemp("bench_obb")
    out = {}
    for kind in ("detect", "obb"):
        out[kind] = d / f"yolov8n_sized_{kind}.onnx"
        onnx.save(_head_model(kind == "obb"), str(out[kind]))
    return out


@pytest.fixture(scope="module")
def vrt(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_obb_raster")
    return _repeating_vrt(_base_tile(d / "base.tif"), d / "big.vrt", 2)


def test_obb_overhead_vs_bare_onnxruntime_next_to_detection(twin_models, vrt):
    """Same tiles, same candidate density: the OBB ratio must stay near the detection one."""
    extent = (X0, Y0 - 256.0, X0 + 256.0, Y0)  # 1280 x 1280 px: 9 tiles of 640 with overlap
    det = _overhead(twin_models["detect"], str(vrt), extent, "YOLOv8n-sized detect, 15 classes")
    obb = _overhead(twin_models["obb"], str(vrt), extent, "YOLOv8n-sized OBB, 15 classes")
    print(f"\n[bench] throughput ratio vs bare session.run: detection {det:.3f}, OBB {obb:.3f}")
    assert obb >= 0.5 * det  # before vectorising: OBB ~20x slower end to end


def _tile_candidates(clustered: bool, seed: int = 0) -> tuple:
    """8,400 rotated candidates of one 640 px tile: one per anchor, or piled up on 60 objects."""
    ax, ay, st = _anchors()
    rng = np.random.default_rng(seed)
    n = ax.size
    if clustered:  # what a trained head gives at a low threshold: many boxes per object
        obj = np.c_[rng.uniform(0, SIZE, (60, 2)), rng.uniform(15, 80, (60, 2)), rng.uniform(-1.5, 1.5, 60)]
        rb = obj[rng.integers(0, 60, n)] + np.c_[rng.normal(0, 4, (n, 4)), rng.normal(0, 0.15, n)]
        rb[:, 2:4] = np.abs(rb[:, 2:4]) + 1
    else:
        rb = np.stack(
            [
                ax + rng.uniform(-2, 2, n) * st,
                ay + rng.uniform(-2, 2, n) * st,
                rng.uniform(2, 6, n) * st,
                rng.uniform(2, 6, n) * st,
                rng.uniform(-math.pi, math.pi, n),
            ],
            axis=1,
        )
    return rb, rng.random(n), rng.integers(0, 3 if clustered else NC, n)


@pytest.mark.parametrize("clustered", [False, True], ids=["spread", "clustered"])
def test_rotated_nms_on_8400_candidates(clustered):
    """Rotated vs axis-aligned NMS on every anchor of one 640 px tile (before: 84 s clustered)."""
    from idf_hr_plugin.core.inference.decoders import rbox_corners
    from idf_hr_plugin.core.inference.nms import nms

    rb, scores, cls = _tile_candidates(clustered)
    corners = rbox_corners(rb)
    env = np.concatenate([corners.min(1), corners.max(1)], 1)
    t_axis, t_rot = [], []
    for _ in range(3):
        t = time.perf_counter()
        keep_axis = nms(env, scores, cls, iou_thr=0.45)
        t_axis.append(time.perf_counter() - t)
        t = time.perf_counter()
        keep_rot = nms(env, scores, cls, iou_thr=0.45, rboxes=rb)
        t_rot.append(time.perf_counter() - t)
    print(
        f"\n[bench] NMS on {len(rb)} {'clustered' if clustered else 'spread'} candidates of one {SIZE} px "
        f"tile: axis-aligned {min(t_axis):.3f} s ({len(keep_axis)} kept), rotated {min(t_rot):.3f} s "
        f"({len(keep_rot)} kept) -> rotated/axis {min(t_rot) / max(min(t_axis), 1e-6):.1f}x"
    )
    assert min(t_rot) < 30 * max(min(t_axis), 0.01)
