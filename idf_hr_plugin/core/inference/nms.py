"""Non-maximum suppression that scales: candidate pairs from a spatial grid, greedy resolution.

Cost is O(n log n + p) where p is the number of genuinely overlapping pairs, instead of the
O(n^2) of a plain NMS, so one global pass over a whole region's detections (tile seams
included) stays cheap. Two criteria: IoU, and intersection over the smaller area (IoS) that
catches an object's fragment cut by a tile border next to the complete object from the
neighbouring tile. Oriented boxes are compared as shapely polygons, only for candidate pairs.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def _cell_pairs(boxes: np.ndarray, cell: float) -> tuple:
    """Unique pairs (i < j) of boxes that share at least one grid cell."""
    n = len(boxes)
    gx0 = np.floor(boxes[:, 0] / cell).astype(np.int64)
    gy0 = np.floor(boxes[:, 1] / cell).astype(np.int64)
    gx1 = np.floor(boxes[:, 2] / cell).astype(np.int64)
    gy1 = np.floor(boxes[:, 3] / cell).astype(np.int64)
    nx = gx1 - gx0 + 1
    ny = gy1 - gy0 + 1
    counts = nx * ny
    owner = np.repeat(np.arange(n), counts)
    # position of each assignment inside its box's cell block
    start = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(owner.size) - start
    cx = gx0[owner] + k % nx[owner]
    cy = gy0[owner] + k // nx[owner]
    cx -= cx.min()
    cy -= cy.min()
    key = cy * (int(cx.max()) + 1) + cx
    order = np.argsort(key, kind="stable")
    key, owner = key[order], owner[order]
    # groups of equal keys
    bounds = np.flatnonzero(np.diff(key)) + 1
    gstart = np.concatenate([[0], bounds])
    gsize = np.diff(np.concatenate([gstart, [key.size]]))
    # for each element, partners are the following elements of its group
    grp_of = np.repeat(np.arange(gstart.size), gsize)
    pos = np.arange(key.size)
    npart = gstart[grp_of] + gsize[grp_of] - 1 - pos
    total = int(npart.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a = np.repeat(pos, npart)
    first = np.repeat(np.cumsum(npart) - npart, npart)
    b = a + 1 + (np.arange(total) - first)
    i, j = owner[a], owner[b]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keep = lo != hi
    code = np.unique(lo[keep] * n + hi[keep])
    return code // n, code % n


def candidate_pairs(boxes: np.ndarray) -> tuple:
    """Pairs (i, j), i < j, whose axis-aligned boxes intersect (grid hashing, sub-quadratic)."""
    n = len(boxes)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    size = np.maximum(w, h)
    cell = float(np.percentile(size, 90)) if n > 10 else float(size.max())
    cell = max(cell, 1e-6)
    # few boxes much bigger than the cell would cover many cells: treat them by brute force
    big = size > 8 * cell
    small_idx = np.nonzero(~big)[0]
    ii, jj = _cell_pairs(boxes[small_idx], cell) if small_idx.size > 1 else (np.zeros(0, np.int64),) * 2
    ii, jj = small_idx[ii], small_idx[jj]
    big_idx = np.nonzero(big)[0]
    if big_idx.size:
        bi = np.repeat(big_idx, n)
        bj = np.tile(np.arange(n), big_idx.size)
        sel = bi != bj
        lo, hi = np.minimum(bi[sel], bj[sel]), np.maximum(bi[sel], bj[sel])
        code = np.unique(np.concatenate([ii * n + jj, lo * n + hi]))
        ii, jj = code // n, code % n
    inter = (np.minimum(boxes[ii, 2], boxes[jj, 2]) > np.maximum(boxes[ii, 0], boxes[jj, 0])) & (
        np.minimum(boxes[ii, 3], boxes[jj, 3]) > np.maximum(boxes[ii, 1], boxes[jj, 1])
    )
    return ii[inter], jj[inter]


def _axis_overlaps(boxes: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple:
    iw = np.clip(np.minimum(boxes[i, 2], boxes[j, 2]) - np.maximum(boxes[i, 0], boxes[j, 0]), 0, None)
    ih = np.clip(np.minimum(boxes[i, 3], boxes[j, 3]) - np.maximum(boxes[i, 1], boxes[j, 1]), 0, None)
    inter = iw * ih
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter, area[i], area[j]


def rbox_polygons(rboxes: np.ndarray) -> list:
    """(N, 5) cx, cy, w, h, angle -> list of shapely polygons."""
    from .decoders import rbox_corners
    from .geom import polygons

    return polygons(rbox_corners(np.asarray(rboxes, dtype=np.float64)))


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: Optional[np.ndarray] = None,
    *,
    iou_thr: float = 0.45,
    ios_thr: Optional[float] = None,
    agnostic: bool = False,
    groups: Optional[np.ndarray] = None,
    priority: Optional[np.ndarray] = None,
    rboxes: Optional[np.ndarray] = None,
    fragments: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Greedy NMS; returns kept indices, best first.

    ``boxes`` (N, 4) xyxy (for oriented boxes, their envelopes, with ``rboxes`` (N, 5)). A box
    is suppressed by a kept, better-ranked box of the same class (any class if ``agnostic``)
    when IoU > ``iou_thr``, or IoS > ``ios_thr``; with ``groups`` (e.g. tile ids), IoS is only
    used between different groups, and with ``fragments`` (boxes cut by a tile border) only for
    pairs where one box is a fragment, so a small object inside a large one survives. Rank: ``priority`` (lower first, e.g. 1 = cut by a tile
    border) and then score.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(scores)
    if n == 0:
        return np.zeros(0, np.int64)
    if priority is None:
        order = np.argsort(-scores, kind="stable")
    else:
        order = np.lexsort((-scores, np.asarray(priority)))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    i, j = candidate_pairs(boxes)
    if class_ids is not None and not agnostic:
        c = np.asarray(class_ids)
        same = c[i] == c[j]
        i, j = i[same], j[same]
    if i.size:
        if rboxes is not None:  # polygons only for the boxes of candidate pairs
            need = np.unique(np.concatenate([i, j]))
            polys = [None] * n
            for k, p in zip(need, rbox_polygons(np.asarray(rboxes)[need])):
                polys[k] = p
            inter = np.array([polys[a].intersection(polys[b]).area for a, b in zip(i, j)], np.float64)
            ai = np.array([polys[a].area for a in i], np.float64)
            aj = np.array([polys[b].area for b in j], np.float64)
        else:
            inter, ai, aj = _axis_overlaps(boxes, i, j)
        iou = inter / np.maximum(ai + aj - inter, 1e-12)
        hit = iou > iou_thr
        if ios_thr is not None:
            ios = inter / np.maximum(np.minimum(ai, aj), 1e-12)
            ios_hit = ios > ios_thr
            if groups is not None:
                g = np.asarray(groups)
                ios_hit &= g[i] != g[j]
            if fragments is not None:
                fr = np.asarray(fragments, bool)
                ios_hit &= fr[i] | fr[j]
            hit |= ios_hit
        i, j = i[hit], j[hit]
    if i.size == 0:
        return order
    # orient every edge from the better-ranked box to the worse one
    swap = rank[i] > rank[j]
    src = np.where(swap, j, i)
    dst = np.where(swap, i, j)
    srt = np.argsort(src, kind="stable")
    src, dst = src[srt], dst[srt]
    starts = np.searchsorted(src, np.arange(n))
    ends = np.searchsorted(src, np.arange(n), side="right")
    involved = np.zeros(n, bool)
    involved[src] = True
    involved[dst] = True
    suppressed = np.zeros(n, bool)
    for k in order[involved[order]]:  # greedy pass only over boxes that have a conflict
        if suppressed[k]:
            continue
        s, e = starts[k], ends[k]
        if e > s:
            suppressed[dst[s:e]] = True
    return order[~suppressed[order]]


def nms_reference(
    boxes: np.ndarray,
    scores: np.ndarray,
    class_ids: Optional[np.ndarray] = None,
    *,
    iou_thr: float = 0.45,
    ios_thr: Optional[float] = None,
    agnostic: bool = False,
) -> np.ndarray:
    """Plain O(n^2) greedy NMS (axis-aligned), the yardstick :func:`nms` is tested against."""
    boxes = np.asarray(boxes, dtype=np.float64)
    order = list(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    removed = np.zeros(len(boxes), bool)
    for a in order:
        if removed[a]:
            continue
        keep.append(a)
        iw = np.clip(np.minimum(boxes[a, 2], boxes[:, 2]) - np.maximum(boxes[a, 0], boxes[:, 0]), 0, None)
        ih = np.clip(np.minimum(boxes[a, 3], boxes[:, 3]) - np.maximum(boxes[a, 1], boxes[:, 1]), 0, None)
        inter = iw * ih
        hit = inter / np.maximum(area[a] + area - inter, 1e-12) > iou_thr
        if ios_thr is not None:
            hit |= inter / np.maximum(np.minimum(area[a], area), 1e-12) > ios_thr
        if class_ids is not None and not agnostic:
            hit &= np.asarray(class_ids) == class_ids[a]
        hit &= inter > 0
        removed |= hit
    return np.asarray(keep, np.int64)
