"""Per-tile results in grid pixels, and their merge across tiles / jobs into final features.

A :class:`PartialResult` only holds vectors (boxes, polygons), never imagery, so memory grows
with what is found, not with the extent. Partials of independent jobs are merged with
:func:`merge_results`: global NMS across tile seams for detections; for segmentation, a
:class:`SegmentStitcher` unions the seam pieces of neighbouring windows only, window by window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from . import geom as G
from .decoders import Detections, rbox_corners
from .nms import nms
from .tiling import Grid, Tile

SPILL_PX = 2_000_000  # pixels of finished seam regions handed on at once at most (see SegmentStitcher)
# a region wider or taller than this (800 m at 20 cm) is cut along a grid of this step: one
# percolating region (a road network, a vegetation class) would otherwise be one polygon of
# millions of vertices, whose simplification needs ~430 bytes per vertex and time that grows
# faster than the extent, and which QGIS can hardly draw or edit
REGION_BLOCK_PX = 4000
SEAM_EPS_PX = 2.0  # a box this close to a seam side is an object cut by the tile border
# the corners of a rectangle of whole pixels lie >= 1/sqrt(2) px from any chord of its ring:
# simplifying it below that tolerance gives it back unchanged
RECT_SIMPLIFY_MAX = 0.7


class PxRect(tuple):
    """A final segmentation piece that is a rectangle of whole pixels ``(x0, y0, x1, y1)`` in
    grid px (most small specks): kept as four numbers until it is written."""

    __slots__ = ()

    def __new__(cls, x0: float, y0: float, x1: float, y1: float):
        return tuple.__new__(cls, (x0, y0, x1, y1))

    def __getnewargs__(self) -> tuple:  # pickled with the partial results of distributed jobs
        return tuple(self)

    @property
    def bounds(self) -> tuple:
        return tuple(self)

    @property
    def area(self) -> float:
        return (self[2] - self[0]) * (self[3] - self[1])

    def polygon(self):
        """The shapely polygon (the ring GDAL's polygoniser draws)."""
        from affine import Affine
        from shapely import wkb

        return wkb.loads(G.rect_wkb(np.array([self]), Affine.identity())[0])


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
    topk_ids: list = field(default_factory=list)  # (n, k) best class ids of each detection
    topk_scores: list = field(default_factory=list)  # (n, k) their scores
    # semantic, final features (grid px): their group can no longer grow
    seg_polys: list = field(default_factory=list)
    seg_class: list = field(default_factory=list)
    seg_score: list = field(default_factory=list)
    # semantic, seam pieces still waiting for a window outside this run (job runs): (tile id, core)
    # of each piece, to be stitched by merge_results with the other jobs' pieces
    seg_pending: list = field(default_factory=list)  # (geom, class, score, tile_id)
    seg_cores: dict = field(default_factory=dict)  # tile_id -> core of the tiles of pending pieces
    tiles_run: int = 0
    tiles_nodata: int = 0
    detections: int = 0
    regions_cut: int = 0  # semantic regions cut along the REGION_BLOCK_PX grid

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
        if det.topk_ids is not None:
            self.topk_ids.append(det.topk_ids.astype(np.int32))
            self.topk_scores.append(det.topk_scores.astype(np.float32))
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
    tile_ids: Optional[np.ndarray] = None  # (N,) id of the tile each object was found on
    topk_ids: Optional[np.ndarray] = None  # (N, k) best class ids, best first
    topk_scores: Optional[np.ndarray] = None  # (N, k) their scores
    bounds: Optional[np.ndarray] = None  # (N, 4) x0, y0, x1, y1 of each geometry, when known
    index: Optional[np.ndarray] = None  # (N,) position of each object in the selection it came from
    regions_cut: int = 0  # semantic regions cut along the REGION_BLOCK_PX grid (see SegmentStitcher)

    def subset(self, ok: np.ndarray) -> tuple:
        """The per-object extras (tile ids, top-k classes) of the objects selected by ``ok``."""
        return tuple(None if a is None else a[ok] for a in (self.tile_ids, self.topk_ids, self.topk_scores))


def _topk_arrays(parts: list, n: int) -> tuple:
    """Top-k class ids/scores of all detections of ``parts``, or ``(None, None)`` when not known for all."""
    ids = [a for p in parts for a in p.topk_ids]
    scores = [a for p in parts for a in p.topk_scores]
    if not ids or sum(len(a) for a in ids) != n or len({a.shape[1] for a in ids}) != 1:
        return None, None
    return np.concatenate(ids), np.concatenate(scores)


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
    seg = any(p.seg_polys or p.seg_pending for p in parts)
    if seg:
        return _merge_segments(parts, grid, mask=mask, min_area_px=min_area_px, simplify_px=simplify_px)
    sel = select_detections(parts, iou=iou, ios=ios, agnostic=agnostic)
    return detection_features(sel, grid, 0, sel.n, mask=mask)


@dataclass
class Selected:
    """The detections kept by the global NMS (grid px), in order, before they become features."""

    boxes: np.ndarray
    scores: np.ndarray
    cls: np.ndarray
    extras: tuple  # tile ids, top-k ids, top-k scores (each maybe None)
    rboxes: Optional[np.ndarray]
    polys: Optional[list]  # instance masks of the kept detections (None where there is none)
    n0: int  # detections before NMS

    @property
    def n(self) -> int:
        return len(self.scores)


def select_detections(parts: list, *, iou: float = 0.45, ios: Optional[float] = 0.7, agnostic: bool = False):
    """Global NMS across tile seams / jobs: the :class:`Selected` detections."""
    boxes = _concat(parts, "boxes", (4,), np.float64)
    scores = _concat(parts, "scores", (), np.float32)
    cls = _concat(parts, "class_ids", (), np.int32)
    tiles = _concat(parts, "tile_ids", (), np.int64)
    cut = _concat(parts, "cut", (), bool)
    has_r = any(p.rboxes for p in parts)
    rboxes = _concat(parts, "rboxes", (5,), np.float64) if has_r else None
    polys = [g for p in parts for g in p.polys]
    n0 = len(scores)
    top_ids, top_scores = _topk_arrays(parts, n0)
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
    masks = bool(polys) and any(g is not None for g in polys)
    return Selected(
        boxes[keep],
        scores[keep],
        cls[keep],
        (tiles[keep], *(None if a is None else a[keep] for a in (top_ids, top_scores))),
        rboxes[keep] if rboxes is not None else None,
        [polys[k] for k in keep] if masks else None,
        n0,
    )


def detection_features(sel: Selected, grid: Grid, lo: int, hi: int, *, mask=None, as_wkb: bool = False):
    """Features of the selected detections ``lo:hi`` in the grid CRS (objects centred outside
    ``mask`` dropped). ``as_wkb``: plain boxes without a mask are left as WKB with their bounds
    (what the writer takes): no shapely object."""
    boxes, scores, cls = sel.boxes[lo:hi], sel.scores[lo:hi], sel.cls[lo:hi]
    extras = tuple(None if a is None else a[lo:hi] for a in sel.extras)
    t = grid.transform
    if (
        sel.rboxes is None and sel.polys is None
    ):  # boxes straight to the CRS: the rings of G.boxes, transformed
        blobs = G.rect_wkb(boxes, t, ring="shapely")
        if as_wkb and mask is None:
            xs = t.a * boxes[:, [0, 2]] + t.b * boxes[:, [1, 3]] + t.c
            ys = t.d * boxes[:, [0, 2]] + t.e * boxes[:, [1, 3]] + t.f
            bounds = np.column_stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)])
            # GEOS's area of these rectangles, to the bit: (x1 - x0) * (y1 - y0) of the same coordinates
            areas = np.abs((xs[:, 1] - xs[:, 0]) * (ys[:, 1] - ys[:, 0]))
            return Features(
                list(blobs),
                cls,
                scores,
                areas,
                sel.n0,
                0,
                *extras,
                bounds=bounds,
                index=np.arange(lo, lo + len(blobs)),
            )
        from shapely import wkb

        geoms = [wkb.loads(b) for b in blobs]
    else:
        geoms_px = G.polygons(rbox_corners(sel.rboxes[lo:hi])) if sel.rboxes is not None else G.boxes(boxes)
        if sel.polys is not None:
            geoms_px = [p if p is not None else g for p, g in zip(sel.polys[lo:hi], geoms_px)]
        geoms = _px_to_crs(geoms_px, grid)
    dropped = 0
    index = np.arange(lo, lo + len(geoms))
    if mask is not None and geoms:
        cx = np.array([g.centroid.x for g in geoms])
        cy = np.array([g.centroid.y for g in geoms])
        inside = G.contains_points(mask, cx, cy)
        dropped = int((~inside).sum())
        geoms = [g for g, k in zip(geoms, inside) if k]
        scores, cls = scores[inside], cls[inside]
        extras = tuple(None if a is None else a[inside] for a in extras)
        index = index[inside]
    areas = np.array([g.area for g in geoms], np.float64)
    return Features(geoms, cls, scores, areas, sel.n0, dropped, *extras, index=index)


def _merge_segments(parts, grid: Grid, *, mask, min_area_px: float, simplify_px: float) -> Features:
    geoms = [g for p in parts for g in p.seg_polys]
    cls = [c for p in parts for c in p.seg_class]
    score = [s for p in parts for s in p.seg_score]
    n0 = sum(p.detections for p in parts)
    cut = sum(p.regions_cut for p in parts)
    cores = {tid: core for p in parts for tid, core in p.seg_cores.items()}
    if cores:
        st = SegmentStitcher([Tile(tid, 0, 0, 0, core) for tid, core in cores.items()])
        by_tile: dict = {}
        for p in parts:
            for g, c, s, tid in p.seg_pending:
                by_tile.setdefault(tid, []).append((g, c, s, True))
        for tid in cores:
            st.add(tid, by_tile.get(tid, []))
        st.finish()
        geoms += st.geoms
        cls += st.classes
        score += st.scores
        cut += st.cut
    feats = finish_segments(
        geoms, cls, score, grid, mask=mask, min_area_px=min_area_px, simplify_px=simplify_px, n0=n0
    )
    feats.regions_cut = cut
    return feats


def finish_segments(
    geoms: list,
    classes: Sequence[int],
    scores: Sequence[float],
    grid: Grid,
    *,
    mask=None,
    min_area_px: float = 0.0,
    simplify_px: float = 0.0,
    n0: int = 0,
    as_wkb: bool = False,
) -> Features:
    """Final segments (grid px) -> features in the grid CRS: small ones dropped, simplified, clipped.

    ``as_wkb``: without a mask, the geometries are left as WKB (what the writer takes), with
    their bounds, and areas measured in pixels (exact) times the pixel area: no shapely object.
    """
    cls_a = np.asarray(classes, np.int32)
    sc_a = np.asarray(scores, np.float32)
    cut = np.array([isinstance(g, CutPart) for g in geoms], bool)
    if cut.any():
        geoms = [g.geom if k else g for g, k in zip(geoms, cut)]
    if geoms and min_area_px > 0:
        big = np.array([k or g.area >= min_area_px for g, k in zip(geoms, cut)], bool)
        geoms = [g for g, k in zip(geoms, big) if k]
        cls_a, sc_a = cls_a[big], sc_a[big]
    if simplify_px >= RECT_SIMPLIFY_MAX:
        geoms = [g.polygon() if isinstance(g, PxRect) else g for g in geoms]
    if geoms and simplify_px > 0:
        geoms = [
            g if isinstance(g, PxRect) else g.simplify(simplify_px, preserve_topology=True) for g in geoms
        ]
    if as_wkb and mask is None:
        t = grid.transform
        px_area = np.array([g.area for g in geoms], np.float64)
        geoms, bounds = _finals_to_crs(geoms, t, as_wkb=True)
        return Features(geoms, cls_a, sc_a, px_area * abs(t.a * t.e - t.b * t.d), n0, 0, bounds=bounds)
    geoms, bounds = _finals_to_crs(geoms, grid.transform)
    dropped = 0
    if mask is not None and geoms:
        clipped = [G.union(G.parts(g.intersection(mask))) for g in geoms]
        ok = np.array([not g.is_empty and g.area > 0 for g in clipped], bool)
        dropped = int((~ok).sum())
        geoms = [g for g, k in zip(clipped, ok) if k]
        cls_a, sc_a = cls_a[ok], sc_a[ok]
        bounds = None
    areas = np.array([g.area for g in geoms], np.float64)
    return Features(geoms, cls_a, sc_a, areas, n0, dropped, bounds=bounds)


def _finals_to_crs(geoms: list, t, as_wkb: bool = False) -> tuple:
    """Polygons and :class:`PxRect` (grid px) -> (shapely geometries in the grid CRS, in order —
    their WKB if ``as_wkb`` —; their (N, 4) bounds, or None if not known)."""
    from shapely import wkb

    load = bytes if as_wkb else wkb.loads

    is_rect = np.array([isinstance(g, PxRect) for g in geoms], bool)
    rects = np.array([g for g, r in zip(geoms, is_rect) if r], np.float64).reshape(-1, 4)
    polys = [g for g, r in zip(geoms, is_rect) if not r]
    got: list = []
    try:
        poly_crs = [load(b) for b in G.affine_wkb([g.wkb for g in polys], t, bounds=got)]
        pb = got[0]
    except ValueError:  # not plain 2D WKB polygons: shapely's transform, bounds unknown
        poly_crs, pb = G.affine(polys, t), None
        if as_wkb:
            poly_crs = [g.wkb for g in poly_crs]
    rect_crs = [load(b) for b in G.rect_wkb(rects, t)]
    out = [None] * len(geoms)
    ri, pi = np.nonzero(is_rect)[0], np.nonzero(~is_rect)[0]
    for k, g in zip(ri, rect_crs):
        out[k] = g
    for k, g in zip(pi, poly_crs):
        out[k] = g
    if pb is None:
        return out, None
    bounds = np.empty((len(geoms), 4), np.float64)
    bounds[pi] = pb
    xs = t.a * rects[:, [0, 2]] + t.b * rects[:, [1, 3]] + t.c
    ys = t.d * rects[:, [0, 2]] + t.e * rects[:, [1, 3]] + t.f
    bounds[ri] = np.column_stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)])
    return out, bounds


class CutPart:
    """A part of a region cut along the block grid (see :class:`SegmentStitcher`): never dropped
    as a small segment, whatever its own size, since the region it belongs to is large."""

    __slots__ = ("geom",)

    def __init__(self, geom):
        self.geom = geom

    def __getstate__(self):  # pickled with the partial results of distributed jobs
        return self.geom

    def __setstate__(self, geom) -> None:
        self.geom = geom


class MaskPiece:
    """A seam piece of a semantic segmentation, kept as its pixels until its group is final.

    ``(x0, y0)`` is the top-left of its ``h x w`` pixel box in grid px; ``bits`` the packed
    boolean mask of its (4-connected) pixels in that box; ``count`` how many are set.
    """

    __slots__ = ("x0", "y0", "w", "h", "bits", "count")

    def __init__(self, x0: int, y0: int, mask: Optional[np.ndarray] = None, *, w=0, h=0, bits=None, count=0):
        self.x0, self.y0 = int(x0), int(y0)
        if mask is not None:
            self.h, self.w = (int(v) for v in mask.shape)
            self.bits = np.packbits(mask, axis=None)
            self.count = int(np.count_nonzero(mask))
        else:
            self.w, self.h, self.bits, self.count = int(w), int(h), np.asarray(bits, np.uint8), int(count)

    def __getstate__(self) -> tuple:  # pickled with the partial results of distributed jobs
        return (self.x0, self.y0, self.w, self.h, self.bits, self.count)

    def __setstate__(self, st: tuple) -> None:
        self.x0, self.y0, self.w, self.h, self.bits, self.count = st

    @property
    def bounds(self) -> tuple:
        return (self.x0, self.y0, self.x0 + self.w, self.y0 + self.h)

    def mask(self) -> np.ndarray:
        return np.unpackbits(self.bits, count=self.w * self.h).reshape(self.h, self.w).view(bool)


# the 4 sides of a window: (name, opposite, neighbour core key)
_SIDES = ("left", "top", "right", "bottom")
_OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


class SegmentStitcher:
    """Streams the per-window pieces of a semantic segmentation into final polygons.

    Windows are the tile cores (they partition the grid). A piece away from its core's border
    is final at once. A seam piece (a :class:`MaskPiece`) is linked (union-find) with the seam
    pieces of its class that share pixel edges with it across the sides of its window: the
    pixels along both sides of a seam are compared, so the cost is linear in the seam length,
    whatever the shape of the pieces. A group of linked pieces is final as soon as the windows
    next to all its members have been added: its pixels are pasted into one mask and
    polygonised once, so a region cut by any number of seams gets the very polygon a
    polygonisation of the whole raster gives. Only the pieces of groups that touch unfinished
    windows stay in memory. A group's score is the mean score of its pixels. A group wider or
    taller than :data:`REGION_BLOCK_PX` is cut along the grid of that step (aligned on the grid
    origin, so the parts do not depend on the tiles): one feature per block it reaches (a
    :class:`CutPart`, kept whatever its size), each with the whole region's score; :attr:`cut`
    counts such regions.
    """

    def __init__(self, tiles: Iterable[Tile]):
        tiles = list(tiles)
        self._core = {t.id: tuple(int(v) for v in t.core) for t in tiles}
        at_tl = {(c[0], c[1]): tid for tid, c in self._core.items()}
        at_tr = {(c[2], c[1]): tid for tid, c in self._core.items()}
        at_bl = {(c[0], c[3]): tid for tid, c in self._core.items()}
        self._near: dict = {}
        for tid, (x0, y0, x1, y1) in self._core.items():
            cand = {
                "left": at_tr.get((x0, y0)),
                "top": at_bl.get((x0, y0)),
                "right": at_tl.get((x1, y0)),
                "bottom": at_tl.get((x0, y1)),
            }
            near = {}
            for side, n in cand.items():
                if n is None:
                    continue
                nx0, ny0, nx1, ny1 = self._core[n]
                if (side in ("left", "right") and (ny0, ny1) == (y0, y1)) or (
                    side in ("top", "bottom") and (nx0, nx1) == (x0, x1)
                ):
                    near[side] = n
            self._near[tid] = near
        self._added: set = set()
        self._closed: set = set()
        self._lines: dict = {}  # (tile id, side) -> {class: piece id of each pixel along that side, -1: none}
        self._tile_pieces: dict = {}  # tile id -> ids of its open seam pieces
        self._p: dict = {}  # piece id -> (MaskPiece, class, score, tile id)
        self._parent: dict = {}
        self._members: dict = {}  # root -> piece ids
        self._open: dict = {}  # root -> members whose window is not closed yet
        self._next = 0
        self.geoms: list = []
        self.classes: list = []
        self.scores: list = []
        # called when the regions handed out but not taken yet hold over SPILL_PX pixels: big
        # regions (hundreds of thousands of vertices each) leave one or two at a time
        self.spill: Optional[Callable[[], None]] = None
        self._held_px = 0
        self.cut = 0

    def _find(self, k: int) -> int:
        root = k
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[k] != root:
            self._parent[k], k = root, self._parent[k]
        return root

    def _link(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        if len(self._members[ra]) < len(self._members[rb]):
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._members[ra].extend(self._members.pop(rb))
        self._open[ra] += self._open.pop(rb)

    def _emit(self, geom, cls: int, score: float, pixels: int = 0) -> None:
        self.geoms.append(geom)
        self.classes.append(int(cls))
        self.scores.append(float(score))
        self._held_px += pixels
        if self.spill is not None and self._held_px > SPILL_PX:
            self._held_px = 0
            self.spill()

    def _side_lines(self, tile_id: int, ids: list) -> dict:
        """{side: {class: line}} of the pieces ``ids`` of a window, for the sides with a neighbour."""
        cx0, cy0, cx1, cy1 = self._core[tile_id]
        near = self._near[tile_id]
        out: dict = {}
        for k in ids:
            piece, c, _s, _t = self._p[k]
            x0, y0, x1, y1 = piece.bounds
            touch = {"left": x0 == cx0, "top": y0 == cy0, "right": x1 == cx1, "bottom": y1 == cy1}
            if not any(touch[s] for s in near):
                continue
            m = piece.mask()
            for side in near:
                if not touch[side]:
                    continue
                vertical = side in ("left", "right")
                lines = out.setdefault(side, {})
                line = lines.get(c)
                if line is None:
                    line = lines[c] = np.full(cy1 - cy0 if vertical else cx1 - cx0, -1, np.int64)
                edge = m[:, 0 if side == "left" else -1] if vertical else m[0 if side == "top" else -1, :]
                seg = line[y0 - cy0 : y1 - cy0] if vertical else line[x0 - cx0 : x1 - cx0]
                seg[edge] = k
        return out

    def add(self, tile_id: int, pieces: Sequence[tuple]) -> None:
        """Add the pieces ``(geom or MaskPiece, class, score, touches_seam)`` of one window (maybe none)."""
        ids = []
        for g, c, s, seam in pieces:
            if not seam:
                self._emit(g, c, s)
                continue
            k = self._next
            self._next += 1
            self._p[k] = (g, int(c), float(s), tile_id)
            self._parent[k], self._members[k], self._open[k] = k, [k], 1
            ids.append(k)
        lines = self._side_lines(tile_id, ids) if ids else {}
        for side, n in self._near[tile_id].items():
            mine = lines.get(side, {})
            if n in self._added:
                theirs = self._lines.pop((n, _OPPOSITE[side]), {})
                for c, a in mine.items():
                    b = theirs.get(c)
                    if b is None:
                        continue
                    both = (a >= 0) & (b >= 0)
                    if both.any():
                        for ka, kb in set(zip(a[both].tolist(), b[both].tolist())):
                            self._link(ka, kb)
            elif mine:
                self._lines[(tile_id, side)] = mine
        self._tile_pieces[tile_id] = ids
        self._added.add(tile_id)
        for n in [tile_id, *self._near[tile_id].values()]:
            if (
                n in self._added
                and n not in self._closed
                and all(m in self._added for m in self._near[n].values())
            ):
                self._close(n)

    def _close(self, tid: int) -> None:
        self._closed.add(tid)
        for k in self._tile_pieces.pop(tid, []):
            r = self._find(k)
            self._open[r] -= 1
            if self._open[r] == 0:
                self._finalise(r)

    def _finalise(self, root: int) -> None:
        ids = self._members.pop(root)
        del self._open[root]
        pieces = [self._p[k][0] for k in ids]
        c = self._p[ids[0]][1]
        count = np.array([p.count for p in pieces], np.float64)
        score = np.array([self._p[k][2] for k in ids], np.float64)
        mean = float((score * count).sum() / count.sum()) if count.sum() > 0 else 0.0
        px = int(count.sum())
        b = np.array([p.bounds for p in pieces], np.int64)
        x0, y0 = int(b[:, 0].min()), int(b[:, 1].min())
        w, h = int(b[:, 2].max()) - x0, int(b[:, 3].max()) - y0
        from .polygonise import polygonise_region

        B = REGION_BLOCK_PX
        if w > B or h > B:  # cut along the grid of step B: one feature per block reached
            self.cut += 1
            for by in range(y0 // B * B, y0 + h, B):
                for bx in range(x0 // B * B, x0 + w, B):
                    ax0, ay0, ax1, ay1 = max(bx, x0), max(by, y0), min(bx + B, x0 + w), min(by + B, y0 + h)
                    polys = polygonise_region(pieces, ax0, ay0, ax1 - ax0, ay1 - ay0)
                    if polys:  # the region's components in this block
                        self._emit(CutPart(G.disjoint_union(polys)), c, mean, (ax1 - ax0) * (ay1 - ay0))
        elif px == w * h:  # fills its box: the polygoniser's ring, as four numbers
            self._emit(PxRect(float(x0), float(y0), float(x0 + w), float(y0 + h)), c, mean)
        else:  # one 4-connected region: one polygon, the one a whole-raster polygonisation draws
            polys = polygonise_region(pieces, x0, y0, w, h)
            self._emit(polys[0] if len(polys) == 1 else G.union(polys), c, mean, px)
        for k in ids:
            del self._p[k], self._parent[k]

    def pending(self) -> tuple:
        """Seam pieces not final yet (their group touches a window never added): the list of
        ``(MaskPiece, class, score, tile_id)`` and ``{tile_id: core}`` of their windows."""
        pieces = [self._p[k] for members in self._members.values() for k in members]
        return pieces, {t: self._core[t] for _g, _c, _s, t in pieces}

    def finish(self) -> None:
        """Finalise every group left: windows never added are taken as empty."""
        for root in list(self._members):
            self._finalise(root)
