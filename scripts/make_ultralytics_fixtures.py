#!/usr/bin/env python3
"""Export tiny, untrained Ultralytics models to ONNX: one file per output layout (test fixtures).

The nets are built from Ultralytics' own model yamls (YOLOv5u, YOLOv8, YOLOv10, YOLO11, YOLO26;
detect / segment / obb heads) with a very small width scale, so no weights are downloaded and each
ONNX file stays well under 1 MB. Weights are random (``torch.manual_seed``), so outputs are
meaningless (batch-norm statistics are calibrated on random images so that scores
and boxes vary, see :func:`_spread_scores`), except for the ``*_known`` fixtures whose last head convolutions are overwritten so
that the export outputs exactly known boxes (see :func:`_known_head`).

This script needs torch + ultralytics, which are NOT project dependencies: run it in a separate
throw-away venv (the project venv is never touched)::

    python3.11 -m venv /tmp/ulvenv
    /tmp/ulvenv/bin/pip install torch==2.14.1 torchvision==0.29.1   # from this machine's disk
    /tmp/ulvenv/bin/pip install ultralytics==8.4.190 onnx onnxslim onnxruntime
    YOLO_OFFLINE=1 /tmp/ulvenv/bin/python scripts/make_ultralytics_fixtures.py tests/data/ultralytics

The files it writes are committed under ``tests/data/ultralytics`` (see the README there) and
read by ``tests/unit/inference/test_ultralytics_exports.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import torch  # noqa: E402
import yaml  # noqa: E402
from ultralytics import YOLO, __version__  # noqa: E402

NAMES = {0: "building", 1: "swimming_pool", 2: "car"}
IMGSZ = 160
SCALE = [0.33, 0.0625, 128]  # depth, width, max channels: ~0.05-0.3 M parameters
CFG = Path(__import__("ultralytics").__file__).parent / "cfg" / "models"

# name: (model yaml, export kwargs, known head?). YAML_OVERRIDES below shrink the heads.
FIXTURES = {
    # raw heads (B, 4+nc[+32|+1], A); dynamic=True also makes H/W dynamic
    "yolov8n_detect_dyn": ("v8/yolov8.yaml", dict(dynamic=True), False),
    "yolov8n_detect_known_b2": ("v8/yolov8.yaml", dict(batch=2), True),
    "yolo11n_detect": ("11/yolo11.yaml", {}, False),
    "yolov5un_detect": ("v5/yolov5.yaml", {}, False),
    "yolov8n_seg": ("v8/yolov8-seg.yaml", {}, False),
    "yolo11n_seg_dyn": ("11/yolo11-seg.yaml", dict(dynamic=True), False),
    "yolov8n_obb": ("v8/yolov8-obb.yaml", {}, False),
    # dynamic=True without the simplifier: every output dim is named ("Concatoutput0_dim_1"),
    # so only the metadata tells the layout
    "yolov8n_detect_dyn_nosimp": ("v8/yolov8.yaml", dict(dynamic=True, simplify=False), False),
    "yolo11n_obb_dyn_nosimp": ("11/yolo11-obb.yaml", dict(dynamic=True, simplify=False), False),
    # half=True: fp16 weights inside, float32 input/output kept
    "yolov8n_detect_half": ("v8/yolov8.yaml", dict(half=True), False),
    # imgsz not square, not 640 (and not the other fixtures' 160)
    "yolo11n_detect_128x192": ("11/yolo11.yaml", dict(imgsz=[128, 192]), False),
    "yolo11n_obb": ("11/yolo11-obb.yaml", {}, False),
    # NMS embedded by the exporter: (B, max_det, 6 | 7 | 6+32)
    "yolov8n_detect_nms_known": ("v8/yolov8.yaml", dict(nms=True, max_det=100), True),
    "yolo11n_detect_nms_dyn_b2": ("11/yolo11.yaml", dict(nms=True, dynamic=True, batch=2), False),
    "yolov8n_seg_nms": ("v8/yolov8-seg.yaml", dict(nms=True), False),
    "yolov8n_obb_nms": ("v8/yolov8-obb.yaml", dict(nms=True), False),
    # NMS-free (one-to-one) heads: (B, max_det, 6 | 7 | 6+32)
    "yolov10n_e2e": ("v10/yolov10n.yaml", dict(nms=False), False),
    "yolo26n_e2e_known": ("26/yolo26.yaml", dict(nms=False, max_det=50), True),
    "yolo26n_seg_e2e": ("26/yolo26-seg.yaml", dict(nms=False), False),
    "yolo26n_obb_e2e": ("26/yolo26-obb.yaml", dict(nms=False), False),
}
# The 16-bin DFL makes a 64-channel box head whatever the width; 4 bins keep the files ~4x
# smaller. The DFL is decoded inside the graph, so the output layout does not depend on it.
# yolov8n_detect_dyn keeps the genuine 16 bins (and yolo26 uses its own reg_max=1).
YAML_OVERRIDES = {"reg_max": 4}
KEEP_YAML = {"yolov8n_detect_dyn"}

# known head: every stride-32 anchor scores KNOWN_SCORE for KNOWN_CLASS, everything else ~0;
# each box side is KNOWN_DIST strides from its anchor point
KNOWN_CLASS, KNOWN_LOGIT, KNOWN_DIST = 1, 3.0, 1


def _tiny_yaml(src: Path, dst_dir: Path, overrides: dict) -> Path:
    cfg = yaml.safe_load(src.read_text())
    cfg["nc"] = len(NAMES)
    if "reg_max" not in cfg:  # yolo26 sets its own
        cfg.update(overrides)
    cfg["scales"] = {"t": list(SCALE)}
    cfg.pop("scale", None)
    dst = dst_dir / src.name.replace("yolov10n", "yolov10")  # no n/s/m suffix: scale 't' is used
    dst.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dst


def _known_head(model) -> None:
    """Zero the last box/class convolutions and set their biases so the head's output is known.

    Class logits: KNOWN_LOGIT for KNOWN_CLASS on the last (stride-32) level, -20 elsewhere. Box:
    the DFL distribution (or, with reg_max=1, the distance itself) puts each side KNOWN_DIST
    strides from the anchor point, so every box is a square of 2*KNOWN_DIST*32 px centred on
    its cell. Applied to both the one-to-many and one-to-one branches when present.
    """
    head = model.model[-1]
    reg_max = int(head.reg_max)
    pairs = [(head.cv2, head.cv3)]
    if getattr(head, "one2one_cv2", None) is not None:
        pairs.append((head.one2one_cv2, head.one2one_cv3))
    with torch.no_grad():
        for box_heads, cls_heads in pairs:
            for level, (bh, ch) in enumerate(zip(box_heads, cls_heads)):
                box_conv, cls_conv = bh[-1], ch[-1]
                box_conv.weight.zero_()
                cls_conv.weight.zero_()
                cls_conv.bias.fill_(-20.0)
                if level == len(box_heads) - 1:
                    cls_conv.bias[KNOWN_CLASS] = KNOWN_LOGIT
                if reg_max > 1:
                    b = torch.full((4, reg_max), -20.0)
                    b[:, KNOWN_DIST] = 20.0
                    box_conv.bias.copy_(b.reshape(-1))
                else:
                    box_conv.bias.fill_(float(KNOWN_DIST))


def _spread_scores(model) -> None:
    """Give the untrained net varied, realistic scores.

    With default init the activations shrink ~10x per layer and every anchor gets the same score
    (0.004 from the head's bias init). Batch-norm statistics are set from one batch of random
    images (as a calibration pass would), and the class biases to -1.5, so that roughly 10-25 %
    of the anchors score above 0.25 and the boxes vary.
    """
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(1)))
    model.eval()
    head = model.model[-1]
    heads = [head.cv3] + ([head.one2one_cv3] if getattr(head, "one2one_cv3", None) is not None else [])
    with torch.no_grad():
        for cls_heads in heads:
            for ch in cls_heads:
                ch[-1].bias.fill_(-1.5)


def export_one(name: str, rel_yaml: str, kwargs: dict, known: bool, out_dir: Path, work: Path) -> Path:
    torch.manual_seed(0)
    model = YOLO(str(_tiny_yaml(CFG / rel_yaml, work, {} if name in KEEP_YAML else YAML_OVERRIDES)))
    model.model.names = dict(NAMES)
    if known:
        _known_head(model.model)
    else:
        _spread_scores(model.model)
    args = dict(format="onnx", imgsz=IMGSZ, simplify=True, opset=17, device="cpu")
    args.update(kwargs)
    f = Path(model.export(**args))
    dst = out_dir / f"{name}.onnx"
    shutil.move(str(f), dst)
    return dst


def main(out: str) -> int:
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[2:])
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            for name, (rel, kwargs, known) in FIXTURES.items():
                if only and name not in only:
                    continue
                p = export_one(name, rel, kwargs, known, out_dir, Path(tmp))
                summary[name] = {
                    "yaml": rel,
                    "export": kwargs,
                    "known_head": known,
                    "bytes": p.stat().st_size,
                }
        finally:
            os.chdir(cwd)
    print(json.dumps({"ultralytics": __version__, "torch": torch.__version__, "fixtures": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/ultralytics"))
