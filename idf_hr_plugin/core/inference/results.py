"""Per-tile results in grid pixels, and their merge across tiles / jobs into final features.

A :class:`PartialResult` only holds vectors (boxes, polygons), never imagery, so memory grows
with what is found, not with the extent. Partials of independent jobs are merged with
:func:`merge_results`: global NMS across tile seams for detections, union of the pieces that
touch a seam for segmentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import geom as G
from .decoders import Detections, rbox_corners
from .nms import nms
from .tiling import Grid, Tile

SEAM_EPS_PX = 2.0  # a box this close to a seam side is an object cut by the tile border


@dataclass
class PartialResult:
    """Vectors found on some tiles, in grid pixel coordinates, plus counters."""

    boxes: list = field(default_factory=list)  # list of (n, 4) arrays
    scores: list = field(default_factory=list)
    class_ids: list = field(default_factory=list)
    rboxes: list = field(default_factory=list)
    tile_ids: list = field(default_factory=list)
    cut: list = field(default_factory=list)
    polys: list = field(default_factory=list)  # instance masks: polygons (grid px) or None
    seg_polys: list = field(default_factory=list)  # semantic: polygons (grid px)
    seg_class: list = field(default_factory=list)
    seg_score: list = field(default_factory=list)
    seg_seam: list = field(default_factory=list)
    tiles_run: int = 0
    tiles_nodata: int = 0
    detections: int = 0

    def add_detections(self, det: Detections, tile: Tile, grid: Grid, polys: Optional[list] = None) -> None:
        n = len(det)
        if n == 0:
            return
        off = np.array([tile.col, tile.row, tile.col, tile.row], np.float64)
        b = det.boxes.astype(np.float64) + off
        left, top, right, bottom = tile.touches_inner_edge(grid)
        t0 = det.boxes
        ts = tile.size
        cut = np.zeros(n, bool)
        if left:
            cut |= t0[:, 0] <= SEAM_EPS_PX
        if top:
            cut |= t0[:, 1] <= SEAM_EPS_PX
        if right:
            cut |= t0[:, 2] >= ts - SEAM_EPS_PX
        if bottom:
            cut |= t0[:, 3] >= ts - SEAM_EPS_PX
        self.boxes.append(b)
        self.scores.append(det.scores.astype(np.float32))
        self.class_ids.append(det.class_ids.astype(np.int32))
        self.tile_ids.append(np.full(n, tile.id, np.int64))
        self.cut.append(cut)
        if det.rboxes is not None:
            rb = det.rboxes.astype(np.float64).copy()
            rb[:, 0] += tile.col
            rb[:, 1] += tile.row
            self.rboxes.append(rb)
        self.polys.extend(polys if polys is not None else [None] * n)
        self.detections += n


@dataclass
class Features:
    """Final vectors in the grid CRS: shapely geometries + attributes."""

    geoms: list
    class_ids: np.ndarray
    scores: np.ndarray
    areas_m2: np.ndarray
    detections_before_nms: int = 0
    dropped_outside_mask: int = 0


def _concat(parts: list, attr: str, shape_tail: tuple, dtype) -> np.ndarray:
    arrays = [a for p in parts for a in getattr(p, attr)]
    if not arrays:
        return np.zeros((0,) + shape_tail, dtype)
    return np.concatenate(arrays).astype(dtype)


def _px_to_crs(geoms, grid: Grid) -> list:
    return G.affine(geoms, grid.transform)


def merge_results(
    parts: list,
    grid: Grid,
    *,
    iou: float = 0.45,
    ios: Optional[float] = 0.7,
    agnostic: bool = False,
    mask=None,
    min_area_px: float = 0.0,
    simplify_px: float = 0.0,
) -> Features:
    """Merge partial results of any tiles/jobs into final features in the grid CRS."""
    seg = any(p.seg_polys for p in parts)
    if seg:
        return _merge_segments(parts, grid, mask=mask, min_area_px=min_area_px, simplify_px=simplify_px)
    boxes = _concat(parts, "boxes", (4,), np.float64)
    scores = _concat(parts, "scores", (), np.float32)
    cls = _concat(parts, "class_ids", (), np.int32)
    tiles = _concat(parts, "tile_ids", (), np.int64)
    cut = _concat(parts, "cut", (), bool)
    has_r = any(p.rboxes for p in parts)
    rboxes = _concat(parts, "rboxes", (5,), np.float64) if has_r else None
    polys = [g for p in parts for g in p.polys]
    n0 = len(scores)
    keep = nms(
        boxes,
        scores,
        cls,
        iou_thr=iou,
        ios_thr=ios,
        agnostic=agnostic,
        groups=tiles,
        priority=cut.astype(np.int8),
        rboxes=rboxes,
        fragments=cut,
    )
    keep = np.sort(keep)
    boxes, scores, cls = boxes[keep], scores[keep], cls[keep]
    if rboxes is not None:
        geoms_px = G.polygons(rbox_corners(rboxes[keep]))
    else:
        geoms_px = G.boxes(boxes)
    if polys and any(g is not None for g in polys):
        geoms_px = [polys[k] if polys[k] is not None else geoms_px[i] for i, k in enumerate(keep)]
    geoms = _px_to_crs(geoms_px, grid)
    dropped = 0
    if mask is not None and geoms:
        cx = np.array([g.centroid.x for g in geoms])
        cy = np.array([g.centroid.y for g in geoms])
        inside = G.contains_points(mask, cx, cy)
        dropped = int((~inside).sum())
        geoms = [g for g, k in zip(geoms, inside) if k]
        scores, cls = scores[inside], cls[inside]
    areas = np.array([g.area for g in geoms], np.float64)
    return Features(geoms, cls, scores, areas, n0, dropped)


def _merge_segments(parts, grid: Grid, *, mask, min_area_px: float, simplify_px: float) -> Features:
    polys = [g for p in parts for g in p.seg_polys]
    cls = np.asarray([c for p in parts for c in p.seg_class], np.int32)
    score = np.asarray([s for p in parts for s in p.seg_score], np.float64)
    seam = np.asarray([s for p in parts for s in p.seg_seam], bool)
    n0 = len(polys)
    out_g, out_c, out_s = [], [], []
    if n0:
        area = np.array([g.area for g in polys], np.float64)
        bounds = np.array([g.bounds for g in polys], np.float64)
        for c in np.unique(cls):
            sel = cls == c
            for k in np.nonzero(sel & ~seam)[0]:  # pieces away from seams are final as they are
                out_g.append(polys[k])
                out_c.append(int(c))
                out_s.append(float(score[k]))
            idx = np.nonzero(sel & seam)[0]
            if idx.size == 0:
                continue
            for piece in G.parts(G.union([polys[k] for k in idx])):
                x0, y0, x1, y1 = piece.bounds
                b = bounds[idx]
                near = idx[(b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)]
                hits = np.array([k for k in near if piece.intersects(polys[k])], np.int64)
                w = area[hits] if hits.size else np.zeros(0)
                s = float((score[hits] * w).sum() / w.sum()) if w.sum() > 0 else 0.0
                out_g.append(piece)
                out_c.append(int(c))
                out_s.append(s)
    cls_a = np.asarray(out_c, np.int32)
    sc_a = np.asarray(out_s, np.float32)
    geoms = out_g
    if geoms and min_area_px > 0:
        big = np.array([g.area >= min_area_px for g in geoms], bool)
        geoms = [g for g, k in zip(geoms, big) if k]
        cls_a, sc_a = cls_a[big], sc_a[big]
    if geoms and simplify_px > 0:
        geoms = [g.simplify(simplify_px, preserve_topology=True) for g in geoms]
    geoms = _px_to_crs(geoms, grid)
    dropped = 0
    if mask is not None and geoms:
        clipped = [G.union(G.parts(g.intersection(mask))) for g in geoms]
        ok = np.array([not g.is_empty and g.area > 0 for g in clipped], bool)
        dropped = int((~ok).sum())
        geoms = [g for g, k in zip(clipped, ok) if k]
        cls_a, sc_a = cls_a[ok], sc_a[ok]
    areas = np.array([g.area for g in geoms], np.float64)
    return Features(geoms, cls_a, sc_a, areas, n0, dropped)
