"""Centre-sampling assignment + quality focal loss (classes) + GIoU (boxes), all in plain torch."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .net import STRIDE, TinyDet


def box_iou_pairs(a: torch.Tensor, b: torch.Tensor, giou: bool = False) -> torch.Tensor:
    """IoU (or GIoU) of matching rows of two (N, 4) x0, y0, x1, y1 tensors."""
    lt = torch.max(a[:, :2], b[:, :2])
    rb = torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    if not giou:
        return iou
    clt = torch.min(a[:, :2], b[:, :2])
    crb = torch.max(a[:, 2:], b[:, 2:])
    carea = (crb - clt).clamp(min=0).prod(1) + 1e-7
    return iou - (carea - union) / carea


def assign(anchors: torch.Tensor, boxes: torch.Tensor, radius: float = 2.5):
    """For each anchor: index of its ground-truth box or -1.

    Positives: anchors inside the box and within ``radius`` strides of its centre, plus the
    anchor nearest each centre (so 10 px objects always get one); ties go to the smaller box.
    """
    A = anchors.shape[0]
    if boxes.shape[0] == 0:
        return torch.full((A,), -1, dtype=torch.long)
    ax, ay = anchors[:, 0:1], anchors[:, 1:2]
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    inside = (ax > x0) & (ax < x1) & (ay > y0) & (ay < y1)
    r = radius * STRIDE
    near = ((ax - cx).abs() < r) & ((ay - cy).abs() < r)
    cand = inside & near  # (A, G)
    d2 = (ax - cx) ** 2 + (ay - cy) ** 2
    nearest = d2.argmin(0)
    cand[nearest, torch.arange(boxes.shape[0])] = True
    area = ((x1 - x0) * (y1 - y0)).unsqueeze(0).expand(A, -1)
    cost = torch.where(cand, area, torch.full_like(area, float("inf")))
    best = cost.argmin(1)
    has = torch.isfinite(cost.gather(1, best[:, None]).squeeze(1))
    return torch.where(has, best, torch.full_like(best, -1))


def ignored(anchors: torch.Tensor, ign: torch.Tensor) -> torch.Tensor:
    """Anchors inside any "ignore" box (objects mostly outside the crop)."""
    if ign.shape[0] == 0:
        return torch.zeros(anchors.shape[0], dtype=torch.bool)
    ax, ay = anchors[:, 0:1], anchors[:, 1:2]
    return ((ax > ign[:, 0]) & (ax < ign[:, 2]) & (ay > ign[:, 1]) & (ay < ign[:, 3])).any(1)


def detection_loss(model: TinyDet, images: torch.Tensor, targets: list, box_weight: float = 2.5):
    """Loss of a batch; ``targets`` = [(boxes (N, 4), classes (N,), ignore (M, 4))] per image."""
    logits, dist = model.raw(images)
    B, nc, h, w = logits.shape
    anchors = TinyDet.anchors(h, w)
    logits = logits.reshape(B, nc, -1).permute(0, 2, 1)  # (B, A, nc)
    dist = dist.reshape(B, 4, -1).permute(0, 2, 1) * STRIDE  # (B, A, 4)
    pred = torch.cat([anchors - dist[..., :2], anchors + dist[..., 2:]], -1)  # (B, A, 4)
    cls_t = torch.zeros_like(logits)
    weight = torch.ones_like(logits)
    pos_pred, pos_gt, pos_q = [], [], []
    for i, (boxes, classes, ign) in enumerate(targets):
        boxes = torch.as_tensor(boxes)
        classes = torch.as_tensor(classes)
        idx = assign(anchors, boxes)
        weight[i][ignored(anchors, torch.as_tensor(ign))] = 0.0
        pos = idx >= 0
        if pos.any():
            gt = boxes[idx[pos]]
            pp = pred[i][pos]
            with torch.no_grad():
                q = box_iou_pairs(pp, gt).clamp(min=0.05)
            a_idx = torch.nonzero(pos).squeeze(1)
            c_idx = classes[idx[pos]]
            cls_t[i, a_idx, c_idx] = q
            weight[i, a_idx] = 1.0
            pos_pred.append(pp)
            pos_gt.append(gt)
            pos_q.append(q)
    n_pos = max(1.0, float(sum(len(q) for q in pos_q)))
    # quality focal loss (GFL): BCE towards the IoU target, modulated by |target - p|^2
    p = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, cls_t, reduction="none")
    l_cls = (bce * (cls_t - p).abs().pow(2.0) * weight).sum() / n_pos
    if pos_pred:
        pp, gt, q = torch.cat(pos_pred), torch.cat(pos_gt), torch.cat(pos_q)
        l_box = ((1.0 - box_iou_pairs(pp, gt, giou=True)) * q).sum() / q.sum().clamp(min=1e-6)
    else:
        l_box = logits.sum() * 0.0
    return l_cls + box_weight * l_box, {
        "cls": float(l_cls.detach()),
        "box": float(l_box.detach()),
        "pos": n_pos,
    }
