"""ONNX export of the demo detector with Ultralytics + Deepness metadata, checked against torch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .data import CLASSES

IMGSZ = 512


def metadata(version: str, conf: float, iou: float, overlap_pct: int) -> dict:
    """ONNX metadata: Ultralytics keys (Python literals) and Deepness keys (JSON values)."""
    names = dict(enumerate(CLASSES))
    return {
        # Ultralytics convention
        "description": "IdF HR demo detector (buildings, pools, solar panels, trees, cars) trained on "
        "the SYNTHETIC IdF HR demo region at 20 cm; not for real orthophotos.",
        "author": "IdF HR plugin contributors",
        "license": "MIT",
        "version": version,
        "task": "detect",
        "names": repr(names),
        "imgsz": repr([IMGSZ, IMGSZ]),
        "stride": "32",
        "batch": "1",
        # Deepness convention (JSON-encoded values)
        "model_type": json.dumps("Detector"),
        "class_names": json.dumps({str(k): v for k, v in names.items()}),
        "resolution": json.dumps(20),
        "tiles_size": json.dumps(IMGSZ),
        "tiles_overlap": json.dumps(overlap_pct),
        "det_conf": json.dumps(conf),
        "det_iou_thresh": json.dumps(iou),
        "det_type": json.dumps("YOLO_Ultralytics"),
    }


def export_onnx(model: torch.nn.Module, out: Path, meta: dict) -> None:
    """Export ``model`` (eval mode) to ``out`` atomically: input ``images`` (B, 3, 512, 512), opset 17."""
    import onnx

    model.eval()
    tmp = out.with_name(f".{out.name}.part")
    dummy = torch.zeros(1, 3, IMGSZ, IMGSZ)
    kwargs = dict(
        input_names=["images"],
        output_names=["output0"],
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
        opset_version=17,
        do_constant_folding=True,
    )
    try:
        torch.onnx.export(model, dummy, str(tmp), dynamo=False, **kwargs)
    except TypeError:  # older torch without the dynamo switch
        torch.onnx.export(model, dummy, str(tmp), **kwargs)
    proto = onnx.load(str(tmp))
    del proto.metadata_props[:]
    for k, v in meta.items():
        p = proto.metadata_props.add()
        p.key, p.value = k, str(v)
    proto.producer_name = "idf_hr scripts/train_demo_model.py"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    os.replace(tmp, out)


def check_onnx(model: torch.nn.Module, path: Path, seed: int = 0) -> float:
    """Max |onnxruntime - torch| on a batch of 2 random-ish images (dynamic batch exercised)."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    x = rng.random((2, 3, IMGSZ, IMGSZ), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": x})[0]
    assert got.shape == ref.shape, (got.shape, ref.shape)
    # box rows are in pixels (0..512): compare them relatively, scores absolutely
    box_err = float(np.max(np.abs(got[:, :4] - ref[:, :4]) / np.maximum(1.0, np.abs(ref[:, :4]))))
    cls_err = float(np.max(np.abs(got[:, 4:] - ref[:, 4:])))
    return max(box_err, cls_err)
