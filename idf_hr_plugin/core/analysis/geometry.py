"""Vectorised geometry helpers for the analysis engine (shapely 1.8 or 2, numpy).

Shapely 2 gives vectorised predicates and set operations; Debian bookworm (QGIS 3.22) ships
shapely 1.8, which has neither. Both are supported: bounding-box candidate search is a numpy grid
index (sort-based, O(n log n)) on any shapely, or shapely 2's ``STRtree.query`` when present; exact
intersection areas are vectorised with shapely 2, and on shapely 1.8 computed in numpy for pairs of
axis-aligned rectangles (the common detector output) and with GEOS per candidate pair otherwise.
Nothing here ever loops over all pairs.
"""

from __future__ import annotations

import ctypes
from typing import Callable, Iterable, Optional

import numpy as np

from ..i18n import tr
from .errors import AnalysisError, check_cancel

try:  # shapely >= 2
    import shapely as _sh

    SHAPELY2 = int(_sh.__version__.split(".")[0]) >= 2
except ImportError:  # pragma: no cover - shapely is a dependency of the plugin
    SHAPELY2 = False

LAMBERT93 = "EPSG:2154"
_MAX_CELLS = 256  # an object spanning more grid cells is checked against all boxes instead
BATCH = 20_000  # items per batch between two cancel checks (well under a second of GEOS work)


def batched(fn: Callable[[slice], np.ndarray], n: int, cancel: Optional[Callable[[], bool]]) -> np.ndarray:
    """``fn`` over ``n`` items in slices of :data:`BATCH`, checking ``cancel()`` before each slice
    (raises ``Cancelled``); results are concatenated along the first axis."""
    if cancel is None or n <= BATCH:
        check_cancel(cancel)
        return fn(slice(0, n))
    parts = []
    for start in range(0, n, BATCH):
        check_cancel(cancel)
        parts.append(fn(slice(start, start + BATCH)))
    return np.concatenate(parts)


def as_geometry_array(geoms: Iterable) -> np.ndarray:
    """A 1-D object array of shapely geometries (lists, tuples and arrays accepted)."""
    if isinstance(geoms, np.ndarray) and geoms.dtype == object and geoms.ndim == 1:
        return geoms
    geoms = list(geoms)
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):  # element-wise: numpy would unpack multi-part geometries
        out[i] = g
    return out


def bounds(geoms: np.ndarray) -> np.ndarray:
    """``(n, 4)`` array of ``minx, miny, maxx, maxy``."""
    if len(geoms) == 0:
        return np.zeros((0, 4))
    if SHAPELY2:
        return _sh.bounds(geoms)
    fast = _geos_extent_functions()
    if fast is None:
        return np.array([g.bounds or (np.nan,) * 4 for g in geoms], dtype=float).reshape(-1, 4)
    handle, (f0, f1, f2, f3, _) = fast
    c0, c1, c2, c3 = (ctypes.c_double() for _ in range(4))
    r0, r1, r2, r3 = (ctypes.byref(c) for c in (c0, c1, c2, c3))
    rows = []
    nan4 = (np.nan,) * 4
    for g in geoms:  # 4 direct GEOS calls; shapely 1.8's .bounds builds an envelope geometry
        p = g._geom
        if f0(handle, p, r0) and f1(handle, p, r1) and f2(handle, p, r2) and f3(handle, p, r3):
            rows.append((c0.value, c1.value, c2.value, c3.value))
        else:  # empty geometry
            rows.append(nan4)
    return np.array(rows, dtype=float).reshape(-1, 4)


_EXTENT = None


def _geos_extent_functions():
    """GEOS ``GEOSGeom_get[XY]M(in|ax)_r`` and ``GEOSArea_r`` through shapely 1.8's ctypes handle.

    None when absent (GEOS < 3.7): callers then use the slower shapely properties.
    """
    global _EXTENT
    if _EXTENT is None:
        try:
            from shapely.geos import lgeos

            funcs = []
            for name in (
                "GEOSGeom_getXMin_r",
                "GEOSGeom_getYMin_r",
                "GEOSGeom_getXMax_r",
                "GEOSGeom_getYMax_r",
                "GEOSArea_r",
            ):
                f = getattr(lgeos._lgeos, name)
                if f.argtypes is None:  # shapely declares GEOSArea_r itself; leave its prototype alone
                    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_double)]
                    f.restype = ctypes.c_int
                funcs.append(f)
            _EXTENT = (lgeos.geos_handle, tuple(funcs))
        except (ImportError, AttributeError):
            _EXTENT = False
    return _EXTENT or None


def areas(geoms: np.ndarray) -> np.ndarray:
    """Areas in CRS units² (call only on metric geometries)."""
    if SHAPELY2:
        return _sh.area(geoms)
    fast = _geos_extent_functions()
    if fast is None:
        return np.fromiter((g.area for g in geoms), dtype=float, count=len(geoms))
    handle, funcs = fast
    f = funcs[4]
    v = ctypes.c_double()
    ref = ctypes.byref(v)
    out = np.empty(len(geoms))
    for i, g in enumerate(geoms):
        out[i] = v.value if f(handle, g._geom, ref) else np.nan
    return out


def is_rectangle(geoms_area: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Whether each polygon fills its bounding box, i.e. is an axis-aligned rectangle."""
    bbox_area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    return np.abs(bbox_area - geoms_area) <= 1e-9 * np.maximum(bbox_area, 1e-12)


def _cells(box: np.ndarray, origin: np.ndarray, cell: float):
    i0 = np.floor((box[:, 0] - origin[0]) / cell).astype(np.int64)
    j0 = np.floor((box[:, 1] - origin[1]) / cell).astype(np.int64)
    i1 = np.floor((box[:, 2] - origin[0]) / cell).astype(np.int64)
    j1 = np.floor((box[:, 3] - origin[1]) / cell).astype(np.int64)
    return i0, j0, i1, j1


def _register(box: np.ndarray, origin: np.ndarray, cell: float, ncols: int, small: np.ndarray):
    """(cell id, object index) for every grid cell each small object's box covers."""
    idx = np.nonzero(small)[0]
    i0, j0, i1, j1 = _cells(box[idx], origin, cell)
    ni, nj = i1 - i0 + 1, j1 - j0 + 1
    n = ni * nj
    obj = np.repeat(idx, n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    ci = np.repeat(i0, n) + k % np.repeat(ni, n)
    cj = np.repeat(j0, n) + k // np.repeat(ni, n)
    return cj * ncols + ci, obj


def _bbox_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[:, 0] <= b[:, 2]) & (b[:, 0] <= a[:, 2]) & (a[:, 1] <= b[:, 3]) & (b[:, 1] <= a[:, 3])


def grid_bbox_pairs(
    box_a: np.ndarray, box_b: np.ndarray, cancel: Optional[Callable[[], bool]] = None
) -> tuple[np.ndarray, np.ndarray]:
    """All ``(i, j)`` with overlapping boxes, through a uniform grid index (no all-pairs loop).

    The cell size is twice the median object extent; each box is registered in the cells it
    covers, both sides are joined per cell after a sort, and a pair is kept only in the cell
    holding the corner ``max(min corners)`` so it comes out once. The rare boxes spanning more
    than ``_MAX_CELLS`` cells are compared with every box of the other side, vectorised. The join
    runs in batches of A's cell entries, checking ``cancel()`` (raises ``Cancelled``) before each.
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if len(box_a) == 0 or len(box_b) == 0:
        return empty
    both = np.vstack([box_a, box_b])
    ext = np.maximum(both[:, 2] - both[:, 0], both[:, 3] - both[:, 1])
    cell = float(np.median(ext)) * 2.0
    span = max(both[:, 2].max() - both[:, 0].min(), both[:, 3].max() - both[:, 1].min())
    cell = max(cell, span / 4096.0, 1e-9)
    origin = both[:, :2].min(axis=0)
    ncols = int(np.floor((both[:, 2].max() - origin[0]) / cell)) + 2

    def spans(box):
        i0, j0, i1, j1 = _cells(box, origin, cell)
        return (i1 - i0 + 1) * (j1 - j0 + 1) <= _MAX_CELLS

    small_a, small_b = spans(box_a), spans(box_b)
    ca, oa = _register(box_a, origin, cell, ncols, small_a)
    cb, ob = _register(box_b, origin, cell, ncols, small_b)
    order = np.argsort(cb, kind="stable")
    cb, ob = cb[order], ob[order]
    parts_a, parts_b = [], []
    step = 4 * BATCH  # cell entries of A per batch (a small box covers about 4 cells)
    for s in range(0, max(len(ca), 1), step):
        check_cancel(cancel)
        sca, soa = ca[s : s + step], oa[s : s + step]
        start = np.searchsorted(cb, sca, "left")
        n = np.searchsorted(cb, sca, "right") - start
        ia = np.repeat(soa, n)
        cell_of_pair = np.repeat(sca, n)
        k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        ib = ob[np.repeat(start, n) + k]
        ba, bb = box_a[ia], box_b[ib]
        keep = _bbox_overlap(ba, bb)
        # reference-point de-duplication: keep the pair only in the cell of max(min corners)
        ref_i = np.floor((np.maximum(ba[:, 0], bb[:, 0]) - origin[0]) / cell).astype(np.int64)
        ref_j = np.floor((np.maximum(ba[:, 1], bb[:, 1]) - origin[1]) / cell).astype(np.int64)
        keep &= ref_j * ncols + ref_i == cell_of_pair
        parts_a.append(ia[keep])
        parts_b.append(ib[keep])
    for i in np.nonzero(~small_a)[0]:  # big boxes of A against every box of B
        j = np.nonzero(_bbox_overlap(np.broadcast_to(box_a[i], box_b.shape), box_b))[0]
        parts_a.append(np.full(len(j), i, np.int64))
        parts_b.append(j)
    for j in np.nonzero(~small_b)[0]:  # big boxes of B against the small boxes of A
        i = np.nonzero(_bbox_overlap(box_a, np.broadcast_to(box_b[j], box_a.shape)) & small_a)[0]
        parts_a.append(i)
        parts_b.append(np.full(len(i), j, np.int64))
    return np.concatenate(parts_a).astype(np.int64), np.concatenate(parts_b).astype(np.int64)


def candidate_pairs(
    geoms_a: np.ndarray,
    geoms_b: np.ndarray,
    box_a: np.ndarray,
    box_b: np.ndarray,
    cancel: Optional[Callable[[], bool]] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` whose bounding boxes overlap, from a spatial index (``cancel()`` checked
    between batches of the grid join)."""
    if SHAPELY2 and len(geoms_a) and len(geoms_b):
        tree = _sh.STRtree(geoms_b)
        ia, ib = tree.query(geoms_a)  # bounding-box candidates, one vectorised call
        return ia.astype(np.int64), ib.astype(np.int64)
    return grid_bbox_pairs(box_a, box_b, cancel)


def pair_intersection_areas(
    geoms_a: np.ndarray,
    geoms_b: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    box_a: np.ndarray,
    box_b: np.ndarray,
    rect_a: np.ndarray,
    rect_b: np.ndarray,
) -> np.ndarray:
    """Area of ``geoms_a[ia] ∩ geoms_b[ib]`` for each candidate pair."""
    if len(ia) == 0:
        return np.zeros(0)
    if SHAPELY2:
        return _sh.area(_sh.intersection(geoms_a[ia], geoms_b[ib]))
    ba, bb = box_a[ia], box_b[ib]
    w = np.minimum(ba[:, 2], bb[:, 2]) - np.maximum(ba[:, 0], bb[:, 0])
    h = np.minimum(ba[:, 3], bb[:, 3]) - np.maximum(ba[:, 1], bb[:, 1])
    out = np.clip(w, 0, None) * np.clip(h, 0, None)
    slow = np.nonzero(~(rect_a[ia] & rect_b[ib]) & (out > 0))[0]
    for k in slow:  # only the candidate pairs that are not two axis-aligned rectangles
        out[k] = geoms_a[ia[k]].intersection(geoms_b[ib[k]]).area
    return out


def within_mask(geoms: np.ndarray, area) -> np.ndarray:
    """Whether each geometry lies within ``area`` (prepared once)."""
    if len(geoms) == 0:
        return np.zeros(0, bool)
    if SHAPELY2:
        _sh.prepare(area)
        return _sh.within(geoms, area)
    from shapely.prepared import prep

    p = prep(area)
    return np.fromiter((p.contains(g) for g in geoms), dtype=bool, count=len(geoms))


def centroids(geoms: np.ndarray, box: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """``(n, 2)`` centroids: box centres for axis-aligned rectangles (vectorised), GEOS otherwise."""
    out = np.column_stack([(box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2]).reshape(-1, 2)
    other = np.nonzero(~rect)[0]
    if len(other):
        if SHAPELY2:
            out[other] = _sh.get_coordinates(_sh.centroid(geoms[other]))
        else:
            out[other] = [geoms[i].centroid.coords[0] for i in other]
    return out


def representative_points(geoms: np.ndarray) -> np.ndarray:
    """``(n, 2)`` coordinates of a point guaranteed inside each geometry (GEOS point-on-surface)."""
    if len(geoms) == 0:
        return np.zeros((0, 2))
    if SHAPELY2:
        return _sh.get_coordinates(_sh.point_on_surface(geoms))
    return np.array([g.representative_point().coords[0] for g in geoms], dtype=float).reshape(-1, 2)


def _crs(crs):
    from pyproj import CRS

    try:
        return CRS.from_user_input(crs)
    except Exception as exc:
        raise AnalysisError(
            tr(
                "The coordinate system '{crs}' is not recognised ({err}); areas cannot be computed. "
                "Set the layer's CRS (for example EPSG:2154, Lambert-93) and try again."
            ).format(crs=crs, err=exc)
        ) from exc


def to_lambert93(geoms: np.ndarray, crs) -> tuple[np.ndarray, bool]:
    """Geometries in Lambert-93 (EPSG:2154), reprojected when needed; returns ``(geoms, reprojected)``.

    Areas are only ever computed in Lambert-93 metres, never in degrees. A CRS that cannot be
    transformed to Lambert-93 (unknown, local engineering) is refused with a sentence.
    """
    if not crs:
        raise AnalysisError(
            tr(
                "The layer has no coordinate system, so its areas cannot be computed in metres. "
                "Set its CRS (for example EPSG:2154, Lambert-93) and try again."
            )
        )
    src = _crs(crs)
    dst = _crs(LAMBERT93)
    if src == dst:
        return geoms, False
    if not (src.is_geographic or src.is_projected):
        raise AnalysisError(
            tr(
                "The coordinate system '{crs}' is neither geographic nor projected, so it cannot be "
                "converted to Lambert-93 metres for areas. Reproject the layer and try again."
            ).format(crs=src.name)
        )
    from pyproj import Transformer

    tf = Transformer.from_crs(src, dst, always_xy=True)
    if SHAPELY2:
        return _sh.transform(geoms, lambda xy: np.column_stack(tf.transform(xy[:, 0], xy[:, 1]))), True
    from shapely.ops import transform

    return as_geometry_array([transform(tf.transform, g) for g in geoms]), True


def check_metric(crs) -> None:
    """Refuse a CRS whose units are not metres (areas would be meaningless) with a sentence."""
    c = _crs(crs) if crs else None
    unit = c.axis_info[0].unit_name if c is not None and c.axis_info else ""
    if c is None or not c.is_projected or unit not in ("metre", "meter"):
        raise AnalysisError(
            tr(
                "Areas need a projected coordinate system in metres, but the layer is in '{crs}'. "
                "Reproject it to Lambert-93 (EPSG:2154) and try again."
            ).format(crs=c.name if c is not None else crs or "?")
        )
