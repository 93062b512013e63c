"""Non-maximum suppression that scales: candidate pairs from a sweep or a spatial grid, greedy resolution.

Cost is O(n log n + p) where p is the number of genuinely overlapping pairs, instead of the
O(n^2) of a plain NMS, so one global pass over a whole region's detections (tile seams
included) stays cheap. Two criteria: IoU, and intersection over the smaller area (IoS) that
catches an object's fragment cut by a tile border next to the complete object from the
neighbouring tile. Boxes of different classes are never paired. The greedy pass runs in waves
and measures only the pairs that leave a kept box. Oriented boxes are compared by their exact
polygon overlap, clipped in numpy for many pairs at once, after a cheap bound has dropped the
pairs whose envelopes cannot reach the thresholds.
"""

from __future__ import annotations

from typing import Optional

import numpy as np


def _following(counts: np.ndarray) -> tuple:
    """Positions (a, b): each a with the ``counts[a]`` positions right after it (b = a+1 ...)."""
    total = int(counts.sum())
    a = np.repeat(np.arange(counts.size), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return a, a + 1 + (np.arange(total) - first)


def _intersect(boxes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Which pairs (i, j) of xyxy boxes share some area (touching edges do not count)."""
    return (np.minimum(boxes[i, 2], boxes[j, 2]) > np.maximum(boxes[i, 0], boxes[j, 0])) & (
        np.minimum(boxes[i, 3], boxes[j, 3]) > np.maximum(boxes[i, 1], boxes[j, 1])
    )


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
    npart = gstart[grp_of] + gsize[grp_of] - 1 - np.arange(key.size)
    if int(npart.sum()) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = _following(npart)
    i, j = owner[a], owner[b]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keep = lo != hi
    code = np.unique(lo[keep] * n + hi[keep])
    return code // n, code % n


BAND = 20000  # boxes per band: bounds the temporary arrays of the pair search


def candidate_pairs(boxes: np.ndarray, band: int = BAND) -> tuple:
    """Pairs (i, j), i < j, whose axis-aligned boxes intersect (grid hashing, sub-quadratic).

    Many boxes are searched in bands of ``band`` boxes by their top edge, each with the later
    boxes that can reach it, so that the memory used does not grow with the extent; a pair is
    found in the band of its upper box only.
    """
    boxes = np.asarray(boxes, np.float64)
    n = len(boxes)
    if n <= band:
        return _candidate_pairs(boxes)
    order = np.argsort(boxes[:, 1], kind="stable")
    y0 = boxes[order, 1]
    out_i, out_j = [], []
    for lo in range(0, n, band):
        hi = min(n, lo + band)
        reach = float(boxes[order[lo:hi], 3].max())
        end = max(hi, int(np.searchsorted(y0, reach, side="right")))
        idx = order[lo:end]
        a, b = _candidate_pairs(boxes[idx])
        mine = np.minimum(a, b) < hi - lo  # the pair's upper box (first by top edge) is in this band
        ga, gb = idx[a[mine]], idx[b[mine]]
        out_i.append(np.minimum(ga, gb))
        out_j.append(np.maximum(ga, gb))
    code = np.unique(np.concatenate(out_i) * n + np.concatenate(out_j))
    return code // n, code % n


# the sweep's cost grows with its candidates, the grid's with the boxes' cells: past this many
# candidates per box along the best axis, grid hashing (measured crossover; a few thousand boxes,
# e.g. one tile's, have little for the grid's fixed costs to amortise, so the sweep goes further)
SWEEP_PAIRS_PER_BOX = 8
SWEEP_PAIRS_PER_BOX_FEW = 32
FEW_BOXES = 4096


def _sweep_spans(lo: np.ndarray, hi: np.ndarray) -> tuple:
    """Boxes sorted by ``lo`` and, for each, how many later boxes start before its ``hi``."""
    order = np.argsort(lo, kind="stable")
    s = lo[order]
    end = np.searchsorted(s, hi[order], side="left")
    return order, np.maximum(end - np.arange(len(s)) - 1, 0)


def _sweep_pairs(boxes: np.ndarray, order: np.ndarray, span: np.ndarray) -> tuple:
    """Pairs (i < j) of intersecting boxes from a sweep along one axis (see :func:`_sweep_spans`)."""
    n = len(boxes)
    if int(span.sum()) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = _following(span)
    i, j = order[a], order[b]
    inter = _intersect(boxes, i, j)
    i, j = i[inter], j[inter]
    code = np.unique(np.minimum(i, j) * n + np.maximum(i, j))
    return code // n, code % n


def _candidate_pairs(boxes: np.ndarray) -> tuple:
    n = len(boxes)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # a sweep along the axis where boxes overlap least is exact and cheapest when each box meets
    # few others along it (boxes of one tile, a band of a region); grid hashing otherwise
    sweeps = [_sweep_spans(boxes[:, k], boxes[:, k + 2]) for k in (0, 1)]
    order, span = min(sweeps, key=lambda s: int(s[1].sum()))
    per_box = SWEEP_PAIRS_PER_BOX_FEW if n <= FEW_BOXES else SWEEP_PAIRS_PER_BOX
    if int(span.sum()) <= per_box * n:
        return _sweep_pairs(boxes, order, span)
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
    inter = _intersect(boxes, ii, jj)
    return ii[inter], jj[inter]


def class_pairs(boxes: np.ndarray, class_ids: Optional[np.ndarray], agnostic: bool) -> tuple:
    """:func:`candidate_pairs` among boxes of the same class (any class if ``agnostic`` or no classes)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(boxes)
    if class_ids is None or agnostic or n < 2:
        return candidate_pairs(boxes)
    c = np.asarray(class_ids)
    # classes side by side, far apart, so the grid only pairs boxes of the same class
    _u, cls_rank = np.unique(c, return_inverse=True)
    span = float(boxes[:, 2].max() - boxes[:, 0].min()) + 1.0
    shift = cls_rank.reshape(-1).astype(np.float64) * 2.0 * span
    i, j = candidate_pairs(boxes + np.stack([shift, np.zeros(n), shift, np.zeros(n)], axis=1))
    same = c[i] == c[j]
    return i[same], j[same]


def _axis_overlaps(boxes: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple:
    iw = np.clip(np.minimum(boxes[i, 2], boxes[j, 2]) - np.maximum(boxes[i, 0], boxes[j, 0]), 0, None)
    ih = np.clip(np.minimum(boxes[i, 3], boxes[j, 3]) - np.maximum(boxes[i, 1], boxes[j, 1]), 0, None)
    inter = iw * ih
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter, area[i], area[j]


def convex_quad_intersection_area(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Areas of ``qa[k]`` ∩ ``qb[k]`` for (P, 4, 2) convex quadrilaterals, all pairs at once.

    Sutherland–Hodgman: ``qa`` is clipped by the four edge half-planes of ``qb``, vectorised over
    the pairs (a convex quad clipped four times has at most 8 vertices). Each row keeps its
    ``n`` vertices first; slots past ``n`` repeat the first vertex, so rings close by themselves.
    """
    qa = np.asarray(qa, np.float64)
    qb = np.asarray(qb, np.float64)
    p = len(qa)
    if p == 0:
        return np.zeros(0, np.float64)
    m = 8
    rows = np.arange(p)
    x = np.empty((p, m))
    y = np.empty((p, m))
    x[:, :4], y[:, :4] = qa[..., 0], qa[..., 1]
    x[:, 4:], y[:, 4:] = qa[:, :1, 0], qa[:, :1, 1]
    n = np.full(p, 4, np.int64)
    bx, by = qb[..., 0], qb[..., 1]
    # orientation of the clip quad: "inside" is the side its interior lies on
    orient = np.sign((bx * np.roll(by, -1, axis=1) - np.roll(bx, -1, axis=1) * by).sum(axis=1))
    k = np.arange(m)
    for e in range(4):
        ax, ay = bx[:, e : e + 1], by[:, e : e + 1]
        ex, ey = bx[:, (e + 1) % 4 : (e + 1) % 4 + 1] - ax, by[:, (e + 1) % 4 : (e + 1) % 4 + 1] - ay
        s = (ex * (y - ay) - ey * (x - ax)) * orient[:, None]
        # next vertex of each slot: the slot after, and the first one after the last live slot
        xn, yn, sn = np.roll(x, -1, axis=1), np.roll(y, -1, axis=1), np.roll(s, -1, axis=1)
        last = np.maximum(n - 1, 0)
        xn[rows, last], yn[rows, last], sn[rows, last] = x[:, 0], y[:, 0], s[:, 0]
        live = k < n[:, None]
        inside = s >= 0
        cut = live & (inside != (sn >= 0))
        t = np.clip(s / np.where(cut, s - sn, 1.0), 0.0, 1.0)
        cx = np.empty((p, 2 * m))
        cy = np.empty((p, 2 * m))
        cx[:, 0::2], cy[:, 0::2] = x, y
        cx[:, 1::2], cy[:, 1::2] = x + t * (xn - x), y + t * (yn - y)
        valid = np.empty((p, 2 * m), bool)
        valid[:, 0::2] = live & inside
        valid[:, 1::2] = cut
        # compact: the valid vertices of each row, in order, to its first columns
        pos = np.cumsum(valid, axis=1) - 1
        r, c = np.nonzero(valid & (pos < m))
        n = np.minimum(valid.sum(axis=1), m)
        first = np.argmax(valid, axis=1)
        x = np.repeat(cx[rows, first][:, None], m, axis=1)
        y = np.repeat(cy[rows, first][:, None], m, axis=1)
        x[r, pos[r, c]] = cx[r, c]
        y[r, pos[r, c]] = cy[r, c]
    area = np.abs((x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)) / 2
    area[(n < 3) | (orient == 0)] = 0.0
    return area


def _hits(inter, ai, aj, i, j, iou_thr, ios_thr, groups, fragments) -> np.ndarray:
    """Which pairs suppress: IoU > iou_thr, or IoS > ios_thr where IoS applies."""
    hit = inter / np.maximum(ai + aj - inter, 1e-12) > iou_thr
    if ios_thr is not None:
        hit |= _ios_allowed(i, j, groups, fragments) & (
            inter / np.maximum(np.minimum(ai, aj), 1e-12) > ios_thr
        )
    return hit


def _ios_allowed(i, j, groups, fragments) -> np.ndarray:
    ok = np.ones(i.size, bool)
    if groups is not None:
        g = np.asarray(groups)
        ok &= g[i] != g[j]
    if fragments is not None:
        fr = np.asarray(fragments, bool)
        ok &= fr[i] | fr[j]
    return ok


def _quad_overlaps(corners: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 65536) -> np.ndarray:
    if a.size == 0:
        return np.zeros(0, np.float64)
    return np.concatenate(
        [
            convex_quad_intersection_area(corners[a[k : k + chunk]], corners[b[k : k + chunk]])
            for k in range(0, a.size, chunk)
        ]
    )


def _rotated_reach(rboxes, boxes, i, j, iou_thr, ios_thr, groups, fragments) -> tuple:
    """Drop the pairs whose polygon overlap cannot reach the thresholds -> (i, j, areas, corners).

    The bound: the intersection is at most the envelopes' overlap and at most the smaller box.
    """
    from .decoders import rbox_corners

    rb = np.asarray(rboxes, np.float64)
    area = np.abs(rb[:, 2] * rb[:, 3])
    env_inter, _ei, _ej = _axis_overlaps(boxes, i, j)
    ai, aj = area[i], area[j]
    small = np.minimum(ai, aj)
    bound = np.minimum(env_inter, small)
    tol = 1e-9  # pairs right at a threshold go to the exact test
    reach = bound / np.maximum(ai + aj - bound, 1e-12) > iou_thr - tol
    if ios_thr is not None:
        reach |= _ios_allowed(i, j, groups, fragments) & (bound / np.maximum(small, 1e-12) > ios_thr - tol)
    return i[reach], j[reach], area, rbox_corners(rb)


def _greedy(order: np.ndarray, rank: np.ndarray, i: np.ndarray, j: np.ndarray, suppresses) -> np.ndarray:
    """Greedy NMS over candidate pairs (i, j), measuring only the pairs that matter.

    In waves: every undecided box that no undecided better box can still suppress is kept, then
    ``suppresses(a, b)`` (bool per pair) is asked only for the pairs leaving the newly kept
    boxes. A box suppressed early costs nothing more: with dense candidates most pairs are never
    measured. Same result as the sequential greedy pass.
    """
    n = len(order)
    swap = rank[i] > rank[j]
    src, dst = np.where(swap, j, i), np.where(swap, i, j)  # from the better box to the worse one
    state = np.zeros(n, np.int8)  # 0 undecided, 1 kept, 2 suppressed
    while True:
        undecided = state == 0
        if not undecided.any():
            break
        blocked = np.zeros(n, bool)
        blocked[dst] = True  # every remaining pair leaves an undecided box
        new = undecided & ~blocked
        state[new] = 1
        out = new[src] & (state[dst] == 0)
        a, b = src[out], dst[out]
        if a.size:
            state[b[suppresses(a, b)]] = 2
        live = (state[src] == 0) & (state[dst] == 0)
        src, dst = src[live], dst[live]
    return order[state[order] == 1]


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
    i, j = class_pairs(boxes, class_ids, agnostic)
    if rboxes is not None:  # exact polygon overlaps, only for pairs that can reach a threshold
        i, j, area, corners = _rotated_reach(rboxes, boxes, i, j, iou_thr, ios_thr, groups, fragments)

        def overlaps(a, b):
            return _quad_overlaps(corners, a, b), area[a], area[b]
    else:

        def overlaps(a, b):
            return _axis_overlaps(boxes, a, b)

    def suppresses(a, b):
        return _hits(*overlaps(a, b), a, b, iou_thr, ios_thr, groups, fragments)

    return _greedy(order, rank, i, j, suppresses)


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
