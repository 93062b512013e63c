"""Small geometry helpers that work with shapely 1.8 (Debian/QGIS 3.22) and shapely 2."""

from __future__ import annotations

from typing import Sequence

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
    from shapely.affinity import affine_transform

    m = [t.a, t.b, t.d, t.e, t.c, t.f]
    return [affine_transform(g, m) for g in geoms]


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
