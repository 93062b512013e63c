"""Honest evaluation of a detector through the REAL engine: per-class P / R / F1 at box IoU >= 0.5.

Torch-free (numpy, geopandas and the IdF HR engine only), so the unit tests reuse it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

CLASSES = ("building", "swimming_pool", "solar_panel", "tree", "car")
IOU = 0.5


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), x0, y0, x1, y1."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    aa = (a[:, 2:] - a[:, :2]).prod(1)
    ab = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / np.maximum(aa[:, None] + ab[None, :] - inter, 1e-12)


def match(det: np.ndarray, scores: np.ndarray, gt: np.ndarray, iou: float = IOU) -> int:
    """True positives of a one-to-one greedy match (highest score first) at IoU >= ``iou``."""
    if len(det) == 0 or len(gt) == 0:
        return 0
    m = iou_matrix(det[np.argsort(-scores, kind="stable")], gt)
    used = np.zeros(len(gt), bool)
    tp = 0
    for row in m:
        row = np.where(used, -1.0, row)
        j = int(row.argmax())
        if row[j] >= iou:
            used[j] = True
            tp += 1
    return tp


def prf(tp: int, n_det: int, n_gt: int) -> dict:
    p = tp / n_det if n_det else 0.0
    r = tp / n_gt if n_gt else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def score_boxes(det_boxes, det_labels, det_scores, gt_boxes, gt_labels, classes=CLASSES) -> dict:
    """{class: {precision, recall, f1, tp, detections, ground_truth}} + ``macro``."""
    out = {}
    for c in classes:
        dm, gm = det_labels == c, gt_labels == c
        tp = match(det_boxes[dm], det_scores[dm], gt_boxes[gm])
        out[c] = {
            **prf(tp, int(dm.sum()), int(gm.sum())),
            "tp": tp,
            "detections": int(dm.sum()),
            "ground_truth": int(gm.sum()),
        }
    out["macro"] = {
        k: round(float(np.mean([out[c][k] for c in classes])), 4) for k in ("precision", "recall", "f1")
    }
    return out


def evaluate_raster(
    model: str | Path,
    raster: str | Path,
    gpkg: str | Path,
    vintage: int,
    *,
    conf: Optional[float] = None,
    session=None,
) -> tuple:
    """Run ``model`` on the whole ``raster`` with the engine, match with the truth of ``vintage``.

    Returns ``(detections (boxes, labels, scores), truth (boxes, labels), report)``; ground truth
    = objects whose centroid lies in the raster, boxes clipped to it.
    """
    import rasterio

    from idf_hr_plugin.core.inference import run_detection

    with rasterio.open(raster) as src:
        b = src.bounds
        bounds = (b.left, b.bottom, b.right, b.top)
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "det.gpkg"
        rep = run_detection(
            str(model), raster=str(raster), out_path=out, conf=conf, session=session, vintage=str(vintage)
        )
        det = _read_layer(out, rep.layer)
    gt_boxes, gt_labels = truth(gpkg, vintage, bounds)
    return det, (gt_boxes, gt_labels), rep


def _read_layer(path: Path, layer: str):
    import geopandas as gpd

    d = gpd.read_file(path, layer=layer)
    return (
        d.geometry.bounds.to_numpy(np.float64).reshape(-1, 4),
        d["label"].to_numpy().astype(str),
        d["score"].to_numpy(np.float64),
    )


def truth(gpkg: str | Path, vintage: int, bounds: tuple):
    """Ground-truth boxes (map units, clipped to ``bounds``) and labels of objects centred in ``bounds``."""
    import geopandas as gpd

    g = gpd.read_file(gpkg, layer="objects", bbox=bounds)
    g = g[g["vintage"].astype(int) == int(vintage)]
    c = g.geometry.centroid
    x0, y0, x1, y1 = bounds
    g = g[(c.x >= x0) & (c.x < x1) & (c.y >= y0) & (c.y < y1)]
    b = g.geometry.bounds.to_numpy(np.float64).reshape(-1, 4)
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], x0, x1)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], y0, y1)
    return b, g["class"].to_numpy().astype(str)


def pooled(runs: list, min_score: float = 0.0) -> dict:
    """Scores pooled over several (det, truth) runs (e.g. both vintages), keeping scores >= ``min_score``."""
    db, dl, ds, gb, gl = [], [], [], [], []
    for k, ((b, lab, s), (tb, tl)) in enumerate(runs):
        keep = s >= min_score
        off = np.array([1e7 * k, 0, 1e7 * k, 0])  # keep runs apart: no cross-run matches
        db.append(b[keep] + off)
        dl.append(lab[keep])
        ds.append(s[keep])
        gb.append(tb + off)
        gl.append(tl)
    return score_boxes(
        np.concatenate(db), np.concatenate(dl), np.concatenate(ds), np.concatenate(gb), np.concatenate(gl)
    )
