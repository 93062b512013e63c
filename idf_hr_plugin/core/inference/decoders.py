"""Vectorised decoders: raw ONNX outputs -> boxes / scores / classes (+ angles, masks), or maps.

Box coordinates are in model-input pixels (x to the right, y down), ``xyxy``. The layouts follow
Ultralytics' export heads exactly (``Detect``/``Segment``/``OBB`` in ``ultralytics/nn/modules/
head.py`` and ``NMSModel`` in the exporter) and YOLOv5's ``(B, N, 5+nc)``. Confidence filtering
happens first, on the class-score maximum, before anything else is computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..errors import UserInputError
from ..i18n import tr


@dataclass
class Detections:
    """Detections of one image. ``rboxes`` (cx, cy, w, h, angle) only for oriented boxes."""

    boxes: np.ndarray  # (N, 4) float32 xyxy (enclosing box for OBB)
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int32
    rboxes: Optional[np.ndarray] = None  # (N, 5) cx, cy, w, h, angle (radians)
    coeffs: Optional[np.ndarray] = None  # (N, 32) mask coefficients (instance seg)
    protos: Optional[np.ndarray] = None  # (32, mh, mw) prototypes of this image
    masks: list = field(default_factory=list)  # per detection: bool array covering mask_boxes[i]
    mask_boxes: Optional[np.ndarray] = None  # (N, 4) int x0, y0, x1, y1 of each mask
    # the best classes of each detection, best first (k <= TOP_K): what the model hesitated between
    topk_ids: Optional[np.ndarray] = None  # (N, k) int32
    topk_scores: Optional[np.ndarray] = None  # (N, k) float32

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, idx) -> Detections:
        """Subset (index array or boolean mask) of these detections."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.nonzero(idx)[0]
        return Detections(
            boxes=self.boxes[idx],
            scores=self.scores[idx],
            class_ids=self.class_ids[idx],
            rboxes=None if self.rboxes is None else self.rboxes[idx],
            coeffs=None if self.coeffs is None else self.coeffs[idx],
            protos=self.protos,
            masks=[self.masks[i] for i in idx] if self.masks else [],
            mask_boxes=None if self.mask_boxes is None else self.mask_boxes[idx],
            topk_ids=None if self.topk_ids is None else self.topk_ids[idx],
            topk_scores=None if self.topk_scores is None else self.topk_scores[idx],
        )

    @staticmethod
    def empty(obb: bool = False) -> Detections:
        return Detections(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            class_ids=np.zeros((0,), np.int32),
            rboxes=np.zeros((0, 5), np.float32) if obb else None,
        )


TOP_K = 3  # class scores kept per detection (the winner and its runners-up)


def _topk(cls: np.ndarray) -> tuple:
    """Class scores ``(nc, n)`` -> the ``TOP_K`` best ``(ids (n, k) int32, scores (n, k) float32)``."""
    k = min(TOP_K, cls.shape[0])
    order = np.argsort(-cls, axis=0, kind="stable")[:k]
    return order.T.astype(np.int32), np.take_along_axis(cls, order, axis=0).T.astype(np.float32)


def _known_class(d: Detections) -> Detections:
    """NMS-included exports give one class and score per box: that is all that is known."""
    d.topk_ids = d.class_ids.reshape(-1, 1).copy()
    d.topk_scores = d.scores.reshape(-1, 1).copy()
    return d


def _xywh2xyxy(xywh: np.ndarray) -> np.ndarray:
    out = np.empty_like(xywh, dtype=np.float32)
    half_w = xywh[:, 2] / 2
    half_h = xywh[:, 3] / 2
    out[:, 0] = xywh[:, 0] - half_w
    out[:, 1] = xywh[:, 1] - half_h
    out[:, 2] = xywh[:, 0] + half_w
    out[:, 3] = xywh[:, 1] + half_h
    return out


def rbox_corners(rboxes: np.ndarray) -> np.ndarray:
    """(N, 5) cx, cy, w, h, angle -> (N, 4, 2) corners (Ultralytics ``xywhr2xyxyxyxy``)."""
    ctr = rboxes[:, :2]
    w, h, a = rboxes[:, 2:3], rboxes[:, 3:4], rboxes[:, 4:5]
    cos, sin = np.cos(a), np.sin(a)
    vec1 = np.concatenate([w / 2 * cos, w / 2 * sin], axis=1)
    vec2 = np.concatenate([-h / 2 * sin, h / 2 * cos], axis=1)
    return np.stack([ctr + vec1 + vec2, ctr + vec1 - vec2, ctr - vec1 - vec2, ctr - vec1 + vec2], axis=1)


def _rbox_envelope(rboxes: np.ndarray) -> np.ndarray:
    c = rbox_corners(rboxes)
    return np.concatenate([c.min(axis=1), c.max(axis=1)], axis=1).astype(np.float32)


def _check_rank(arr: np.ndarray, rank: int, layout: str) -> None:
    if arr.ndim != rank:
        raise UserInputError(
            tr(
                "The model output has shape {shape}, which does not fit the '{layout}' layout; "
                "choose the right model type (task/layout override)."
            ).format(shape=tuple(arr.shape), layout=layout)
        )


def _check_width(arr: np.ndarray, axis: int, want: int, layout: str) -> None:
    """Refuse an output whose box/class axis does not have the size the model's metadata implies."""
    if arr.shape[axis] != want:
        raise UserInputError(
            tr(
                "The model returned an output of shape {shape}, but its '{layout}' layout and its "
                "class list need {want} values per box on axis {axis}; its results would be wrong. "
                "Export the model again, or set its task and layout in the model card."
            ).format(shape=tuple(arr.shape), layout=layout, want=want, axis=axis)
        )


def decode_yolov8(pred: np.ndarray, conf: float, nc: int | None = None) -> list:
    """YOLOv8/YOLO11 ``(B, 4+nc, A)``: rows cx, cy, w, h, class scores (already sigmoid)."""
    _check_rank(pred, 3, "yolov8")
    if nc:
        _check_width(pred, 1, 4 + nc, "yolov8")
    nc = nc or pred.shape[1] - 4
    out = []
    for p in pred:
        cls = p[4 : 4 + nc]
        scores = cls.max(axis=0)
        keep = np.nonzero(scores > conf)[0]
        if keep.size == 0:
            out.append(Detections.empty())
            continue
        box = p[:4, keep].T
        ids, top = _topk(cls[:, keep])
        out.append(
            Detections(
                boxes=_xywh2xyxy(box),
                scores=scores[keep].astype(np.float32),
                class_ids=cls[:, keep].argmax(axis=0).astype(np.int32),
                topk_ids=ids,
                topk_scores=top,
            )
        )
    return out


def decode_yolov5(pred: np.ndarray, conf: float, nc: int | None = None) -> list:
    """YOLOv5/v7 ``(B, N, 5+nc)``: cx, cy, w, h, objectness, class probs; score = obj x cls."""
    _check_rank(pred, 3, "yolov5")
    if nc:
        _check_width(pred, 2, 5 + nc, "yolov5")
    out = []
    for p in pred:
        obj = p[:, 4]
        cand = np.nonzero(obj > conf)[0]  # obj x cls <= obj: safe pre-filter
        if cand.size == 0:
            out.append(Detections.empty())
            continue
        q = p[cand]
        cls = q[:, 5:] * q[:, 4:5] if q.shape[1] > 5 else q[:, 4:5]
        ids = cls.argmax(axis=1)
        scores = cls[np.arange(len(ids)), ids]
        keep = scores > conf
        top_ids, top = _topk(cls[keep].T)
        out.append(
            Detections(
                boxes=_xywh2xyxy(q[keep, :4]),
                scores=scores[keep].astype(np.float32),
                class_ids=ids[keep].astype(np.int32),
                topk_ids=top_ids,
                topk_scores=top,
            )
        )
    return out


def decode_obb(pred: np.ndarray, conf: float, nc: int | None = None) -> list:
    """Ultralytics OBB ``(B, 4+nc+1, A)``: cx, cy, w, h, class scores, angle (radians) last."""
    _check_rank(pred, 3, "yolov8_obb")
    if nc:
        _check_width(pred, 1, 5 + nc, "yolov8_obb")
    nc = nc or pred.shape[1] - 5
    out = []
    for p in pred:
        cls = p[4 : 4 + nc]
        scores = cls.max(axis=0)
        keep = np.nonzero(scores > conf)[0]
        if keep.size == 0:
            out.append(Detections.empty(obb=True))
            continue
        rb = np.concatenate([p[:4, keep].T, p[4 + nc, keep][:, None]], axis=1).astype(np.float32)
        ids, top = _topk(cls[:, keep])
        out.append(
            Detections(
                boxes=_rbox_envelope(rb),
                scores=scores[keep].astype(np.float32),
                class_ids=cls[:, keep].argmax(axis=0).astype(np.int32),
                rboxes=rb,
                topk_ids=ids,
                topk_scores=top,
            )
        )
    return out


def decode_yolov8_seg(pred: np.ndarray, protos: np.ndarray, conf: float, nc: int | None = None) -> list:
    """Ultralytics segment ``(B, 4+nc+nm, A)`` + protos ``(B, nm, mh, mw)``.

    Masks are not computed here (only after NMS): call :func:`materialise_masks`.
    """
    _check_rank(pred, 3, "yolov8_seg")
    _check_rank(protos, 4, "yolov8_seg")
    nm = protos.shape[1]
    if nc:
        _check_width(pred, 1, 4 + nc + nm, "yolov8_seg")
    nc = nc or pred.shape[1] - 4 - nm
    out = []
    for p, pr in zip(pred, protos):
        cls = p[4 : 4 + nc]
        scores = cls.max(axis=0)
        keep = np.nonzero(scores > conf)[0]
        if keep.size == 0:
            d = Detections.empty()
            d.coeffs, d.protos = np.zeros((0, nm), np.float32), pr
            out.append(d)
            continue
        ids, top = _topk(cls[:, keep])
        out.append(
            Detections(
                boxes=_xywh2xyxy(p[:4, keep].T),
                scores=scores[keep].astype(np.float32),
                class_ids=cls[:, keep].argmax(axis=0).astype(np.int32),
                coeffs=p[4 + nc : 4 + nc + nm, keep].T.astype(np.float32),
                protos=pr,
                topk_ids=ids,
                topk_scores=top,
            )
        )
    return out


def decode_end2end(
    pred: np.ndarray, conf: float, obb: bool = False, protos: np.ndarray | None = None
) -> list:
    """NMS-included exports ``(B, max_det, 6|7[+nm])``.

    Detection: x1, y1, x2, y2, score, cls. OBB: cx, cy, w, h, score, cls, angle. With ``protos``
    the remaining columns are mask coefficients.
    """
    _check_rank(pred, 3, "end2end")
    _check_width(pred, 2, 7 if obb else 6 + (0 if protos is None else protos.shape[1]), "end2end")
    out = []
    for b, p in enumerate(pred):
        keep = np.nonzero(p[:, 4] > conf)[0]
        q = p[keep]
        if obb:
            rb = np.stack([q[:, 0], q[:, 1], q[:, 2], q[:, 3], q[:, 6]], axis=1).astype(np.float32)
            d = Detections(
                boxes=_rbox_envelope(rb) if len(rb) else np.zeros((0, 4), np.float32),
                scores=q[:, 4].astype(np.float32),
                class_ids=np.rint(q[:, 5]).astype(np.int32),
                rboxes=rb,
            )
        else:
            d = Detections(
                boxes=q[:, :4].astype(np.float32),
                scores=q[:, 4].astype(np.float32),
                class_ids=np.rint(q[:, 5]).astype(np.int32),
            )
            if protos is not None:
                d.coeffs = q[:, 6:].astype(np.float32)
                d.protos = protos[b]
        out.append(_known_class(d))
    return out


def _resize_bilinear(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resize of the last two axes (pixel-centre aligned, like ``align_corners=False``)."""
    in_h, in_w = img.shape[-2:]
    if (in_h, in_w) == (out_h, out_w):
        return img
    ys = (np.arange(out_h, dtype=np.float32) + 0.5) * (in_h / out_h) - 0.5
    xs = (np.arange(out_w, dtype=np.float32) + 0.5) * (in_w / out_w) - 0.5
    ys = np.clip(ys, 0, in_h - 1)
    xs = np.clip(xs, 0, in_w - 1)
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    y1 = np.minimum(y0 + 1, in_h - 1)
    x1 = np.minimum(x0 + 1, in_w - 1)
    wy = (ys - y0)[:, None]
    wx = (xs - x0)[None, :]
    a = img[..., y0, :][..., :, x0]
    b = img[..., y0, :][..., :, x1]
    c = img[..., y1, :][..., :, x0]
    d = img[..., y1, :][..., :, x1]
    top = a * (1 - wx) + b * wx
    bot = c * (1 - wx) + d * wx
    return (top * (1 - wy) + bot * wy).astype(np.float32)


def materialise_masks(det: Detections, input_hw: tuple) -> Detections:
    """Compute each detection's binary mask (proto combination, cropped to its box)."""
    if det.coeffs is None or det.protos is None:
        return det
    H, W = int(input_hw[0]), int(input_hw[1])
    nm, mh, mw = det.protos.shape
    sy, sx = mh / H, mw / W
    masks, mboxes = [], []
    flat = det.protos.reshape(nm, -1)
    bx = np.asarray(det.boxes, np.float64).reshape(-1, 4)
    x0s = np.clip(np.floor(bx[:, 0]), 0, W).astype(int)
    y0s = np.clip(np.floor(bx[:, 1]), 0, H).astype(int)
    x1s = np.clip(np.ceil(bx[:, 2]), 0, W).astype(int)
    y1s = np.clip(np.ceil(bx[:, 3]), 0, H).astype(int)
    chunk = max(1, (1 << 22) // max(1, mh * mw))  # proto combinations of ~16 MB at a time
    base, all_logits = -chunk, None
    for k, (x0, y0, x1, y1) in enumerate(zip(x0s.tolist(), y0s.tolist(), x1s.tolist(), y1s.tolist())):
        if x1 <= x0 or y1 <= y0:
            masks.append(np.zeros((0, 0), bool))
            mboxes.append((x0, y0, x0, y0))
            continue
        if k >= base + chunk:  # one matrix product per chunk of detections, not one per mask
            base = k
            all_logits = (det.coeffs[base : base + chunk] @ flat).reshape(-1, mh, mw)
        logits = all_logits[k - base]
        # sample the proto map at the centres of the box's input pixels
        ys = np.clip((np.arange(y0, y1) + 0.5) * sy - 0.5, 0, mh - 1)
        xs = np.clip((np.arange(x0, x1) + 0.5) * sx - 0.5, 0, mw - 1)
        iy0, ix0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
        iy1, ix1 = np.minimum(iy0 + 1, mh - 1), np.minimum(ix0 + 1, mw - 1)
        wy, wx = (ys - iy0)[:, None], (xs - ix0)[None, :]
        v = (
            logits[iy0][:, ix0] * (1 - wy) * (1 - wx)
            + logits[iy0][:, ix1] * (1 - wy) * wx
            + logits[iy1][:, ix0] * wy * (1 - wx)
            + logits[iy1][:, ix1] * wy * wx
        )
        masks.append(v > 0.0)  # sigmoid(v) > 0.5
        mboxes.append((x0, y0, x1, y1))
    det.masks = masks
    det.mask_boxes = np.asarray(mboxes, dtype=np.int32).reshape(-1, 4)
    return det


def output_mapping(out_hw: tuple, in_hw: tuple) -> tuple:
    """How a smaller/larger map lines up with the input: ``("centre", margin)`` or ``("resize", 0)``.

    A valid-padding network (e.g. 512 -> 484) sees the input's centre: its map covers the input
    minus an equal margin on each side. A strided map (e.g. 128 for 512) covers the whole input.
    """
    oh, ow = int(out_hw[0]), int(out_hw[1])
    ih, iw = int(in_hw[0]), int(in_hw[1])
    if (oh, ow) == (ih, iw):
        return ("same", 0)
    dh, dw = ih - oh, iw - ow
    if dh == dw and dh > 0 and dh % 2 == 0 and oh / ih >= 0.85:
        return ("centre", dh // 2)
    return ("resize", 0)


def _to_input_res(m: np.ndarray, in_hw: tuple) -> tuple:
    """(B, C, h, w) -> (B, C, H, W) on the input grid; returns (maps, margin)."""
    kind, margin = output_mapping(m.shape[-2:], in_hw)
    if kind == "same":
        return m, 0
    if kind == "centre":
        H, W = in_hw
        full = np.zeros(m.shape[:2] + (H, W), np.float32)
        full[..., margin : H - margin, margin : W - margin] = m
        return full, margin
    return _resize_bilinear(m.astype(np.float32), int(in_hw[0]), int(in_hw[1])), 0


def decode_semantic(
    outputs: Sequence[np.ndarray],
    seg_output_classes: Sequence[dict],
    in_hw: tuple,
    activation: str = "auto",
) -> tuple:
    """Semantic maps -> ``(scores (B, K, H, W), margin)`` with one score map per class id 0..K-1.

    One-channel outputs (``(B,1,H,W)`` or ``(B,H,W)``) are sigmoid probabilities. Several
    channels are softmax: a class keeps its probability only where it is the argmax (channel 0
    is the background). ``margin`` > 0 when a map covers only the centre of the input.
    """
    per_class = {}
    margin = 0
    for o, chmap in zip(outputs, seg_output_classes):
        m = np.asarray(o, dtype=np.float32)
        if m.ndim == 3:
            m = m[:, None]
        if m.ndim != 4:
            raise UserInputError(
                tr("A segmentation output has shape {shape}; expected (B, C, H, W) or (B, H, W).").format(
                    shape=tuple(o.shape)
                )
            )
        m, mg = _to_input_res(m, in_hw)
        margin = max(margin, mg)
        c = m.shape[1]
        act = activation if activation != "auto" else ("sigmoid" if c == 1 else "softmax")
        if act == "softmax" and c > 1:
            arg = m.argmax(axis=1)
            for ch, (cid, _label) in chmap.items():
                if ch < c:
                    per_class[cid] = np.where(arg == ch, m[:, ch], 0.0).astype(np.float32)
        else:
            for ch, (cid, _label) in chmap.items():
                if ch < c:
                    per_class[cid] = m[:, ch]
    if not per_class:
        b = outputs[0].shape[0] if outputs else 0
        return np.zeros((b, 0) + tuple(in_hw), np.float32), margin
    k = max(per_class) + 1
    b = next(iter(per_class.values())).shape[0]
    scores = np.zeros((b, k) + tuple(in_hw), np.float32)
    for cid, v in per_class.items():
        scores[:, cid] = v
    return scores, margin


def decode_regression(output: np.ndarray, in_hw: tuple, scaling: float = 1.0) -> tuple:
    """Regression map ``(B,1,H,W)``/``(B,H,W)`` -> ``(values (B, H, W), margin)`` x ``scaling``."""
    m = np.asarray(output, dtype=np.float32)
    if m.ndim == 3:
        m = m[:, None]
    m, margin = _to_input_res(m[:, :1], in_hw)
    return m[:, 0] * float(scaling), margin


def decode_detections(spec, outputs: Sequence[np.ndarray], conf: float) -> list:
    """Dispatch on ``spec.layout``; returns one :class:`Detections` per batch item."""
    lay = spec.layout
    nc = spec.num_classes or None
    # fp16 exports (or graphs) may return float16: decode in float32
    outputs = [o if o.dtype == np.float32 else np.asarray(o, np.float32) for o in outputs]
    if lay == "yolov8":
        return decode_yolov8(outputs[0], conf, nc)
    if lay == "yolov5":
        return decode_yolov5(outputs[0], conf, nc)
    if lay == "yolov8_obb":
        return decode_obb(outputs[0], conf, nc)
    if lay in ("yolov8_seg", "end2end_seg"):
        pred = next(o for o in outputs if o.ndim == 3)
        protos = next(o for o in outputs if o.ndim == 4)
        if lay == "end2end_seg":
            return decode_end2end(pred, conf, protos=protos)
        return decode_yolov8_seg(pred, protos, conf, nc)
    if lay == "end2end":
        return decode_end2end(outputs[0], conf)
    if lay == "end2end_obb":
        return decode_end2end(outputs[0], conf, obb=True)
    raise UserInputError(tr("The layout '{layout}' does not produce detections.").format(layout=lay))
