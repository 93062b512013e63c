"""Small geometry helpers that work with shapely 1.8 (Debian/QGIS 3.22) and shapely 2."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def box(x0: float, y0: float, x1: float, y1: float):
    from shapely.geometry import box as _box

    return _box(x0, y0, x1, y1)


def boxes(b: np.ndarray) -> list:
    """(N, 4) xyxy -> list of polygons."""
    from shapely.geometry import box as _box

    return [_box(*row) for row in np.asarray(b, dtype=np.float64)]


def polygons(corners: np.ndarray) -> list:
    """(N, k, 2) rings -> list of polygons."""
    from shapely.geometry import Polygon

    return [Polygon(c) for c in np.asarray(corners, dtype=np.float64)]


def union(geoms: Sequence):
    from shapely.ops import unary_union

    return unary_union([g for g in geoms if g is not None and not g.is_empty])


def disjoint_union(polys: Sequence):
    """One geometry of polygons that do not overlap (they may touch at points), such as the
    4-connected regions of one mask: a MultiPolygon built as it is, no overlay."""
    from shapely.geometry import MultiPolygon

    return polys[0] if len(polys) == 1 else MultiPolygon(list(polys))


def parts(geom) -> list:
    """Polygons of a (multi)polygon or collection."""
    if geom is None or geom.is_empty:
        return []
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in parts(g)]
    return [geom] if geom.geom_type == "Polygon" else []


def prepared(geom):
    from shapely.prepared import prep

    return prep(geom)


def affine(geoms: Sequence, t) -> list:
    """Apply an ``affine.Affine`` (pixel -> CRS) to every geometry."""
    from shapely import wkb

    try:  # (multi)polygons: all coordinates in one numpy pass (shapely 1.8 spends ~0.1 ms a geometry)
        return [wkb.loads(b) for b in affine_wkb([g.wkb for g in geoms], t)]
    except ValueError:
        pass
    from shapely.affinity import affine_transform

    m = [t.a, t.b, t.d, t.e, t.c, t.f]
    return [affine_transform(g, m) for g in geoms]


def affine_wkb(blobs: Sequence[bytes], t, bounds: Optional[list] = None) -> list:
    """Apply an ``affine.Affine`` to 2D little-endian WKB (multi)polygons, all coordinates at once.

    Same arithmetic as :func:`affine` (``a * x + b * y + c``), without a Python call per
    geometry. Raises ``ValueError`` on other WKB (3D, big-endian, other types). ``bounds``: a
    list that receives the (N, 4) array of the transformed geometries' ``x0, y0, x1, y1``.
    """
    import struct

    offs: list = []
    ns: list = []
    gids: list = []
    ends = []
    base = 0
    for i, blob in enumerate(blobs):
        k = len(offs)
        _ring_offsets(blob, base, offs, ns, struct.unpack_from)
        gids.extend([i] * (len(offs) - k))
        base += len(blob)
        ends.append(base)
    buf = bytearray(b"".join(blobs))
    if offs:
        off = np.asarray(offs, np.int64)
        npts = np.asarray(ns, np.int64)
        start = np.concatenate([[0], np.cumsum(npts)[:-1]])  # each ring's first point, in ring order
        X = np.empty(int(npts.sum()), np.float64)
        Y = np.empty_like(X)
        for r in range(8):  # doubles start at any byte: one float64 view per offset modulo 8
            sel = off % 8 == r
            if not sel.any():
                continue
            view = np.frombuffer(buf, "<f8", count=(len(buf) - r) // 8, offset=r)
            n = npts[sel]
            first = (off[sel] - r) // 8
            cum = np.concatenate([[0], np.cumsum(n)[:-1]])
            step = np.arange(int(n.sum())) - np.repeat(cum, n)
            xi = np.repeat(first, n) + 2 * step
            x, y = view[xi], view[xi + 1]
            nx = t.a * x + t.b * y + t.c
            ny = t.d * x + t.e * y + t.f
            view[xi], view[xi + 1] = nx, ny
            pos = np.repeat(start[sel], n) + step
            X[pos], Y[pos] = nx, ny
        if bounds is not None:
            gid = np.asarray(gids, np.int64)
            has = np.zeros(len(blobs), bool)
            has[gid[npts > 0]] = True
            firsts = np.searchsorted(gid, np.nonzero(has)[0])  # first ring of each non-empty geometry
            at = start[firsts]
            b = np.full((len(blobs), 4), np.nan)
            if at.size:
                b[has] = np.column_stack(
                    [
                        np.minimum.reduceat(X, at),
                        np.minimum.reduceat(Y, at),
                        np.maximum.reduceat(X, at),
                        np.maximum.reduceat(Y, at),
                    ]
                )
            bounds.append(b)
    elif bounds is not None:
        bounds.append(np.full((len(blobs), 4), np.nan))
    mv = memoryview(buf)
    out, start0 = [], 0
    for end in ends:
        out.append(bytes(mv[start0:end]))
        start0 = end
    return out


def _ring_offsets(blob: bytes, base: int, offs: list, ns: list, unpack_from) -> None:
    """Byte offsets (from ``base``) and point counts of the rings of one WKB (multi)polygon."""

    def polygon(p: int) -> int:
        if blob[p] != 1 or unpack_from("<I", blob, p + 1)[0] != 3:
            raise ValueError("not a 2D little-endian WKB polygon")
        (nr,) = unpack_from("<I", blob, p + 5)
        p += 9
        for _ in range(nr):
            (n,) = unpack_from("<I", blob, p)
            offs.append(base + p + 4)
            ns.append(n)
            p += 4 + 16 * n
        return p

    if blob[0] != 1:
        raise ValueError("not a little-endian WKB")
    (kind,) = unpack_from("<I", blob, 1)
    if kind == 3:
        polygon(0)
    elif kind == 6:
        (n,) = unpack_from("<I", blob, 5)
        p = 9
        for _ in range(n):
            p = polygon(p)
    else:
        raise ValueError("not a WKB (multi)polygon")


def rect_wkb(r: np.ndarray, t, ring: str = "gdal") -> list:
    """WKB polygons of (N, 4) pixel rectangles ``x0, y0, x1, y1`` through the affine ``t``.

    ``ring="gdal"``: (x0 y0, x0 y1, x1 y1, x1 y0, x0 y0), the ring GDAL's polygoniser draws;
    ``"shapely"``: (x1 y0, x1 y1, x0 y1, x0 y0, x1 y0), the ring of ``shapely.geometry.box``.
    """
    r = np.asarray(r, np.float64).reshape(-1, 4)
    dt = np.dtype([("bo", "u1"), ("kind", "<u4"), ("nr", "<u4"), ("np", "<u4"), ("xy", "<f8", (5, 2))])
    a = np.zeros(len(r), dt)
    a["bo"], a["kind"], a["nr"], a["np"] = 1, 3, 1, 5
    xs, ys = ([0, 0, 2, 2, 0], [1, 3, 3, 1, 1]) if ring == "gdal" else ([2, 2, 0, 0, 2], [1, 3, 3, 1, 1])
    x, y = r[:, xs], r[:, ys]
    a["xy"][:, :, 0] = t.a * x + t.b * y + t.c
    a["xy"][:, :, 1] = t.d * x + t.e * y + t.f
    buf = a.tobytes()
    k = dt.itemsize
    return [buf[i * k : (i + 1) * k] for i in range(len(r))]


def reproject(geoms: Sequence, src_crs, dst_crs) -> list:
    """Reproject geometries between two rasterio/pyproj CRSs (x/y order, i.e. lon/lat)."""
    if src_crs is None or dst_crs is None or src_crs == dst_crs:
        return list(geoms)
    from pyproj import Transformer
    from shapely.ops import transform

    tr = Transformer.from_crs(src_crs.to_wkt(), dst_crs.to_wkt(), always_xy=True)
    return [transform(tr.transform, g) for g in geoms]


def contains_points(geom, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean array: which points (x, y) fall inside ``geom``."""
    try:
        import shapely

        if hasattr(shapely, "contains_xy"):
            return np.asarray(shapely.contains_xy(geom, x, y), bool)
        from shapely import vectorized

        return np.asarray(vectorized.contains(geom, x, y), bool)
    except ImportError:  # pragma: no cover
        from shapely.geometry import Point

        p = prepared(geom)
        return np.array([p.contains(Point(a, b)) for a, b in zip(x, y)], bool)
