#!/usr/bin/env python3
"""Build small ONNX models whose outputs are known exactly, for the engine's tests and benches.

Detection graphs find the red object of a tile ("red" = R - G > 0.5 on 0..1 inputs): its exact
pixel bounding box (x1, y1 = top-left pixel edge; x2, y2 = bottom-right pixel edge) in the
layout of each exporter, on anchor 0, all other anchors zero. Scores: class 0 = 0.9, class 1 =
0.1 when red is present. Segmentation graphs output sigmoid(20 * (R - G - 0.5)).

    python scripts/make_test_models.py OUT_DIR      # writes every model into OUT_DIR
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18


class _G:
    """Tiny graph builder."""

    def __init__(self, channels: int = 3, size: int = 256, batch=None):
        self.nodes, self.inits, self.k = [], [], 0
        self.size = size
        b = batch if batch else "batch"
        self.input = helper.make_tensor_value_info("images", TensorProto.FLOAT, [b, channels, size, size])
        self.batch = b

    def const(self, arr, dtype=np.float32) -> str:
        self.k += 1
        name = f"c{self.k}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs, **attrs) -> str:
        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def model(self, outputs: list, metadata: dict | None = None) -> onnx.ModelProto:
        outs = []
        for name, (tensor, shape) in outputs:
            self.nodes.append(helper.make_node("Identity", [tensor], [name]))
            outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        graph = helper.make_graph(self.nodes, "test", [self.input], outs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        for k, v in (metadata or {}).items():
            p = m.metadata_props.add()
            p.key, p.value = k, v
        onnx.checker.check_model(m)
        return m

    # -- building blocks
    def channel(self, c: int) -> str:
        return self.op(
            "Slice",
            "images",
            self.const([c], np.int64),
            self.const([c + 1], np.int64),
            self.const([1], np.int64),
        )

    def red_mask(self) -> str:
        d = self.op("Sub", self.channel(0), self.channel(1))
        k = self.op("Mul", self.op("Sub", d, self.const(0.5)), self.const(100.0))
        return self.op("Clip", k, self.const(0.0), self.const(1.0))  # (B,1,T,T) in [0, 1]

    def red_box(self) -> dict:
        """Bounding box of the red pixels -> dict of (B,1,1) tensors x1 y1 x2 y2 score."""
        T = self.size
        m = self.red_mask()
        mb = self.op("Ceil", m)
        xs = np.arange(T, dtype=np.float32)
        X0 = self.const((T - xs).reshape(1, 1, 1, T))  # T - left edge
        X1 = self.const((xs + 1).reshape(1, 1, 1, T))  # right edge
        Y0 = self.const((T - xs).reshape(1, 1, T, 1))
        Y1 = self.const((xs + 1).reshape(1, 1, T, 1))
        axes = self.const([1, 2, 3], np.int64)
        shp = self.const([-1, 1, 1], np.int64)

        def rmax(t):
            return self.op("Reshape", self.op("ReduceMax", t, axes, keepdims=1), shp)

        tt = self.const(float(T))
        x1 = self.op("Sub", tt, rmax(self.op("Mul", mb, X0)))
        y1 = self.op("Sub", tt, rmax(self.op("Mul", mb, Y0)))
        x2 = rmax(self.op("Mul", mb, X1))
        y2 = rmax(self.op("Mul", mb, Y1))
        score = rmax(m)
        return {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "score": score, "mask": m}

    def xywh(self, b: dict) -> list:
        half = self.const(0.5)
        cx = self.op("Mul", self.op("Add", b["x1"], b["x2"]), half)
        cy = self.op("Mul", self.op("Add", b["y1"], b["y2"]), half)
        w = self.op("Sub", b["x2"], b["x1"])
        h = self.op("Sub", b["y2"], b["y1"])
        return [cx, cy, w, h]

    def scaled(self, t: str, v: float) -> str:
        return self.op("Mul", t, self.const(v))

    def filled(self, like: str, v: float) -> str:
        return self.op("Add", self.op("Mul", like, self.const(0.0)), self.const(v))

    def pad_last(self, t: str, n_extra: int) -> str:
        return self.op("Pad", t, self.const([0, 0, 0, 0, 0, n_extra], np.int64), mode="constant")


def ultra_meta(task: str, size: int, names=None, nms: bool = False) -> dict:
    names = names or {0: "red", 1: "other"}
    return {
        "description": "IdF HR test model",
        "author": "IdF HR tests",
        "task": task,
        "stride": "32",
        "batch": "1",
        "imgsz": str([size, size]),
        "names": str(names),
        "args": str({"batch": 1, "nms": nms, "dynamic": True}),
    }


def yolov8(size=256, anchors=50, batch=None, obb=False) -> onnx.ModelProto:
    """(B, 4+nc, A) — or OBB (B, 4+nc+1, A) with angle 0.5 rad last."""
    g = _G(3, size, batch)
    b = g.red_box()
    rows = g.xywh(b) + [g.scaled(b["score"], 0.9), g.scaled(b["score"], 0.1)]
    if obb:
        rows.append(g.filled(b["score"], 0.5))
    v = g.op("Concat", *rows, axis=1)
    out = g.pad_last(v, anchors - 1)
    ch = 7 if obb else 6
    return g.model([("output0", (out, [g.batch, ch, anchors]))], ultra_meta("obb" if obb else "detect", size))


def yolov5(size=256, anchors=50, batch=None) -> onnx.ModelProto:
    """(B, N, 5+nc): cx, cy, w, h, obj=score, cls probs 0.9 / 0.1."""
    g = _G(3, size, batch)
    b = g.red_box()
    one = g.filled(b["score"], 1.0)
    rows = g.xywh(b) + [b["score"], g.scaled(one, 0.9), g.scaled(one, 0.1)]
    v = g.pad_last(g.op("Concat", *rows, axis=1), anchors - 1)
    out = g.op("Transpose", v, perm=[0, 2, 1])
    return g.model(
        [("output0", (out, [g.batch, anchors, 7]))], {"stride": "32", "names": str({0: "red", 1: "other"})}
    )


def end2end(size=256, max_det=30, batch=None, obb=False) -> onnx.ModelProto:
    """(B, max_det, 6) x1,y1,x2,y2,score,cls — or OBB (B, max_det, 7) cx,cy,w,h,score,cls,angle."""
    g = _G(3, size, batch)
    b = g.red_box()
    s = g.scaled(b["score"], 0.9)
    zero = g.filled(b["score"], 0.0)
    if obb:
        rows = g.xywh(b) + [s, zero, g.filled(b["score"], 0.5)]
    else:
        rows = [b["x1"], b["y1"], b["x2"], b["y2"], s, zero]
    v = g.pad_last(g.op("Concat", *rows, axis=1), max_det - 1)
    out = g.op("Transpose", v, perm=[0, 2, 1])
    n = len(rows)
    return g.model(
        [("output0", (out, [g.batch, max_det, n]))], ultra_meta("obb" if obb else "detect", size, nms=True)
    )


def yolov8_seg(size=256, anchors=50, batch=None) -> onnx.ModelProto:
    """(B, 4+nc+32, A) + protos (B, 32, T/4, T/4); proto 0 = 20 * (red fraction - 0.5)."""
    g = _G(3, size, batch)
    b = g.red_box()
    one = g.filled(b["score"], 1.0)
    coef = g.op("Pad", one, g.const([0, 0, 0, 0, 31, 0], np.int64), mode="constant")  # (B,32,1)
    rows = g.xywh(b) + [g.scaled(b["score"], 0.9), g.scaled(b["score"], 0.1), coef]
    pred = g.pad_last(g.op("Concat", *rows, axis=1), anchors - 1)
    pooled = g.op("AveragePool", b["mask"], kernel_shape=[4, 4], strides=[4, 4])
    logit = g.op("Mul", g.op("Sub", pooled, g.const(0.5)), g.const(20.0))
    protos = g.op("Pad", logit, g.const([0, 0, 0, 0, 0, 31, 0, 0], np.int64), mode="constant")
    q = size // 4
    return g.model(
        [("output0", (pred, [g.batch, 38, anchors])), ("output1", (protos, [g.batch, 32, q, q]))],
        ultra_meta("segment", size),
    )


def seg_sigmoid(size=256, batch=None, squeeze=False, crop=0, deepness=True) -> onnx.ModelProto:
    """sigmoid(20 * (R - G - 0.5)) as (B,1,T,T), (B,T,T) with ``squeeze``, centre-cropped by ``crop``."""
    g = _G(3, size, batch)
    d = g.op("Sub", g.channel(0), g.channel(1))
    p = g.op("Sigmoid", g.op("Mul", g.op("Sub", d, g.const(0.5)), g.const(20.0)))
    o = size
    if crop:
        o = size - 2 * crop
        p = g.op(
            "Slice",
            p,
            g.const([crop, crop], np.int64),
            g.const([size - crop, size - crop], np.int64),
            g.const([2, 3], np.int64),
        )
    shape = [g.batch, 1, o, o]
    if squeeze:
        p = g.op("Squeeze", p, g.const([1], np.int64))
        shape = [g.batch, o, o]
    meta = {
        "model_type": '"Segmentor"',
        "class_names": '{"0": "red"}',
        "resolution": "20",
        "tiles_overlap": "10",
        "seg_thresh": "0.5",
    }
    return g.model([("output", (p, shape))], meta if deepness else None)


def seg_softmax(size=256, batch=None) -> onnx.ModelProto:
    """Softmax over [background, red]: red wins where R - G > 0.5."""
    g = _G(3, size, batch)
    d = g.op("Sub", g.op("Sub", g.channel(0), g.channel(1)), g.const(0.5))
    logits = g.op("Concat", g.scaled(d, -10.0), g.scaled(d, 10.0), axis=1)
    p = g.op("Softmax", logits, axis=1)
    meta = {"model_type": '"Segmentor"', "class_names": '{"0": "background", "1": "red"}', "resolution": "20"}
    return g.model([("output", (p, [g.batch, 2, size, size]))], meta)


def one_channel(size=256) -> onnx.ModelProto:
    """A model expecting a single band (e.g. a DSM): sigmoid(20 * (x - 0.5))."""
    g = _G(1, size, None)
    p = g.op("Sigmoid", g.op("Mul", g.op("Sub", "images", g.const(0.5)), g.const(20.0)))
    return g.model(
        [("output", (p, [g.batch, 1, size, size]))],
        {"model_type": '"Segmentor"', "class_names": '{"0": "bright"}'},
    )


def yolov8n_sized(size=640, nc=80, seed=0) -> onnx.ModelProto:
    """A conv stack with the cost of YOLOv8n (~8.7 GFLOPs at 640) and its (B, 4+nc, 8400) output."""
    rng = np.random.default_rng(seed)
    g = _G(3, size, None)

    def conv(x, cin, cout, stride=1, k=3, act=True, bias=0.0):
        w = rng.normal(0, math.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
        y = g.op(
            "Conv",
            x,
            g.const(w),
            g.const(np.full(cout, bias, np.float32)),
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[k // 2] * 4,
        )
        return g.op("Relu", y) if act else y

    x = conv("images", 3, 16, 2)
    x = conv(x, 16, 32, 2)
    x = conv(conv(x, 32, 32), 32, 32)
    feats = []
    for cin, cout, n in ((32, 64, 3), (64, 128, 3), (128, 256, 3)):
        x = conv(x, cin, cout, 2)
        for _ in range(n):
            x = conv(x, cout, cout)
        feats.append((x, cout))
    heads = []
    for (f, c), n_extra in zip(feats, (2, 2, 1)):
        h = f
        for _ in range(n_extra):
            h = conv(h, c, c)
        h = conv(h, c, 4 + nc, k=1, act=False, bias=-6.0)
        heads.append(g.op("Reshape", h, g.const([0, 4 + nc, -1], np.int64)))
    out = g.op("Sigmoid", g.op("Concat", *heads, axis=2))
    a = sum((size // s) ** 2 for s in (8, 16, 32))
    names = {i: f"c{i}" for i in range(nc)}
    return g.model([("output0", (out, [g.batch, 4 + nc, a]))], ultra_meta("detect", size, names))


def yolov8n_replica(size=640, nc=80, seed=0, cls_bias=-8.5, cls_gain=20.0) -> onnx.ModelProto:
    """YOLOv8n's own graph, as Ultralytics exports it (random weights, batch norm folded):
    backbone of C2f blocks and SPPF, PAN neck, decoupled head with DFL, SiLU throughout, output
    (B, 4+nc, 8400) in pixels. Runs at the cost of the real net, op mix included: the reference
    for "YOLOv8n-sized" benches. ``cls_bias`` sets how many anchors pass a 0.25 confidence."""
    rng = np.random.default_rng(seed)
    g = _G(3, size, None)

    def conv(x, cin, cout, k=1, s=1, act=True, bias=0.0, gain=1.7):
        w = rng.normal(0, gain * math.sqrt(1.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
        b = (bias + rng.normal(0, 0.1, cout)).astype(np.float32)
        y = g.op("Conv", x, g.const(w), g.const(b), kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4)
        return g.op("Mul", y, g.op("Sigmoid", y)) if act else y

    def c2f(x, cin, cout, n, shortcut):
        c = cout // 2
        y = conv(x, cin, 2 * c)
        parts = list(_split(y, c))
        for _ in range(n):
            h = conv(conv(parts[-1], c, c, 3), c, c, 3)
            parts.append(g.op("Add", parts[-1], h) if shortcut else h)
        return conv(g.op("Concat", *parts, axis=1), (2 + n) * c, cout)

    def _split(y, c):
        return [
            g.op(
                "Slice",
                y,
                g.const([k * c], np.int64),
                g.const([(k + 1) * c], np.int64),
                g.const([1], np.int64),
            )
            for k in (0, 1)
        ]

    def up(x):
        return g.op("Resize", x, "", g.const([1.0, 1.0, 2.0, 2.0]), mode="nearest")

    x = conv(conv("images", 3, 16, 3, 2), 16, 32, 3, 2)
    x = c2f(x, 32, 32, 1, True)
    p3 = c2f(conv(x, 32, 64, 3, 2), 64, 64, 2, True)
    p4 = c2f(conv(p3, 64, 128, 3, 2), 128, 128, 2, True)
    x = c2f(conv(p4, 128, 256, 3, 2), 256, 256, 1, True)
    y = conv(x, 256, 128)  # SPPF
    pools = [y]
    for _ in range(3):
        pools.append(g.op("MaxPool", pools[-1], kernel_shape=[5, 5], pads=[2] * 4, strides=[1, 1]))
    p5 = conv(g.op("Concat", *pools, axis=1), 512, 256)
    h4 = c2f(g.op("Concat", up(p5), p4, axis=1), 384, 128, 1, False)
    o3 = c2f(g.op("Concat", up(h4), p3, axis=1), 192, 64, 1, False)
    o4 = c2f(g.op("Concat", conv(o3, 64, 64, 3, 2), h4, axis=1), 192, 128, 1, False)
    o5 = c2f(g.op("Concat", conv(o4, 128, 128, 3, 2), p5, axis=1), 384, 256, 1, False)
    box_rows, cls_rows, anchors, strides = [], [], [], []
    for f, c, s in ((o3, 64, 8), (o4, 128, 16), (o5, 256, 32)):
        dfl_bias = np.tile(-0.5 * np.arange(16, dtype=np.float32), 4)  # sides of ~1.5 strides
        b = conv(conv(conv(f, c, 64, 3), 64, 64, 3), 64, 64, act=False, bias=dfl_bias, gain=0.5)
        k = conv(conv(conv(f, c, 80, 3), 80, 80, 3), 80, nc, act=False, bias=cls_bias, gain=cls_gain)
        box_rows.append(g.op("Reshape", b, g.const([0, 64, -1], np.int64)))
        cls_rows.append(g.op("Reshape", k, g.const([0, nc, -1], np.int64)))
        n = size // s
        gy, gx = np.mgrid[0:n, 0:n]
        anchors.append(np.stack([gx.ravel() + 0.5, gy.ravel() + 0.5]))
        strides.append(np.full(n * n, s, np.float32))
    a = sum(x.shape[1] for x in anchors)
    dist = g.op("Reshape", g.op("Concat", *box_rows, axis=2), g.const([0, 4, 16, -1], np.int64))
    dist = g.op("Softmax", dist, axis=2)  # DFL: expected bin of 16
    proj = g.const(np.arange(16, dtype=np.float32).reshape(1, 1, 16, 1))
    dist = g.op("ReduceSum", g.op("Mul", dist, proj), g.const([2], np.int64), keepdims=0)  # (B, 4, A)
    lt = g.op("Slice", dist, g.const([0], np.int64), g.const([2], np.int64), g.const([1], np.int64))
    rb = g.op("Slice", dist, g.const([2], np.int64), g.const([4], np.int64), g.const([1], np.int64))
    anc = g.const(np.concatenate(anchors, axis=1)[None].astype(np.float32))
    x1y1, x2y2 = g.op("Sub", anc, lt), g.op("Add", anc, rb)
    cxy = g.op("Div", g.op("Add", x1y1, x2y2), g.const(2.0))
    wh = g.op("Sub", x2y2, x1y1)
    box = g.op("Mul", g.op("Concat", cxy, wh, axis=1), g.const(np.concatenate(strides)[None, None]))
    out = g.op("Concat", box, g.op("Sigmoid", g.op("Concat", *cls_rows, axis=2)), axis=1)
    names = {i: f"c{i}" for i in range(nc)}
    return g.model([("output0", (out, [g.batch, 4 + nc, a]))], ultra_meta("detect", size, names))


def seg_blobs(size=512, classes=5, seed=0, blur=15, gain=2000.0, work=0) -> onnx.ModelProto:
    """A semantic model whose maps vary in space: blurred random colour mixes -> blobs of classes.

    ``classes`` = 1: one sigmoid map; more: a softmax over ``classes`` channels (channel 0 is
    the background). Used where the number of polygons must be realistic (benches, stitching).
    ``work`` > 0 adds that many 3x3 32-channel convolutions at half resolution (~1.2 GFLOPs
    each at 512 px) whose result is added times 0, for the cost of a real U-Net.
    """
    rng = np.random.default_rng(seed)
    g = _G(3, size, None)
    x = g.op("AveragePool", "images", kernel_shape=[blur, blur], pads=[blur // 2] * 4, count_include_pad=0)
    c = max(1, classes)
    w = rng.normal(0.0, 1.0, (c, 3, 1, 1)).astype(np.float32)
    w -= w.mean(axis=1, keepdims=True)  # weigh colour differences, not brightness
    b = -(w[:, :, 0, 0] @ np.full(3, 0.5, np.float32))
    y = g.op("Conv", x, g.const(w * gain), g.const(b * gain), kernel_shape=[1, 1])
    if work:
        h, cin = "images", 3
        for i in range(work):
            k = rng.normal(0, math.sqrt(2.0 / (cin * 9)), (32, cin, 3, 3)).astype(np.float32)
            h = g.op(
                "Relu",
                g.op("Conv", h, g.const(k), kernel_shape=[3, 3], pads=[1] * 4, strides=[2 - min(i, 1)] * 2),
            )
            cin = 32
        h = g.op("ReduceMean", h, g.const([1, 2, 3], np.int64), keepdims=1)
        y = g.op("Add", y, g.op("Mul", h, g.const(0.0)))
    p = g.op("Sigmoid", y) if c == 1 else g.op("Softmax", y, axis=1)
    names = {str(i): f"class{i}" for i in range(c)}
    meta = {"model_type": '"Segmentor"', "class_names": json.dumps(names), "resolution": "20"}
    return g.model([("output", (p, [g.batch, c, size, size]))], meta)


BUILDERS = {
    "yolov8.onnx": lambda: yolov8(),
    "yolov8_fixed_b2.onnx": lambda: yolov8(batch=2),
    "yolov8_obb.onnx": lambda: yolov8(obb=True),
    "yolov5.onnx": lambda: yolov5(),
    "end2end.onnx": lambda: end2end(),
    "end2end_obb.onnx": lambda: end2end(obb=True),
    "yolov8_seg.onnx": lambda: yolov8_seg(),
    "seg_sigmoid.onnx": lambda: seg_sigmoid(),
    "seg_sigmoid_squeezed.onnx": lambda: seg_sigmoid(squeeze=True),
    "seg_sigmoid_crop.onnx": lambda: seg_sigmoid(crop=14, batch=1),
    "seg_softmax.onnx": lambda: seg_softmax(),
    "one_channel.onnx": lambda: one_channel(),
}


def build(name: str, out_dir: str | Path) -> Path:
    """Write model ``name`` (a key of :data:`BUILDERS`) into ``out_dir``; returns its path."""
    path = Path(out_dir) / name
    onnx.save(BUILDERS[name](), str(path))
    return path


def build_all(out_dir: str | Path) -> dict:
    """Write every model of :data:`BUILDERS`; returns {name: path}."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return {name: build(name, out_dir) for name in BUILDERS}


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "test-models"
    for n, p in build_all(target).items():
        print(n, p)
