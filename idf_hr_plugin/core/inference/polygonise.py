"""Rasters of class pixels -> polygons and connected regions, at GDAL / SciPy speed."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def polygonise(mask: np.ndarray, x0: float, y0: float, values: Optional[np.ndarray] = None) -> list:
    """``[(polygon in grid px, value)]`` of the True areas of ``mask`` whose top-left is at (x0, y0).

    GDAL's polygoniser (4-connected, as ``rasterio.features.shapes``) writes into an in-memory
    layer and each polygon goes to shapely as WKB: no Python object per vertex. ``values``
    (int32/uint8) splits the areas by value (labels); without it every area has value 1.
    """
    from osgeo import gdal, gdal_array, ogr
    from shapely import wkb

    src = values if values is not None else mask.astype(np.uint8)
    if src.dtype not in (np.uint8, np.int32):
        src = src.astype(np.int32)
    src = np.ascontiguousarray(src)
    m8 = np.ascontiguousarray(mask, dtype=np.uint8)
    ds = gdal_array.OpenArray(src)  # views of the arrays: both stay referenced until the end
    ds.SetGeoTransform((x0, 1.0, 0.0, y0, 0.0, 1.0))
    mds = gdal_array.OpenArray(m8)
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")  # the layer lives as long as vds
    lyr = vds.CreateLayer("p", None, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    gdal.Polygonize(ds.GetRasterBand(1), mds.GetRasterBand(1), lyr, 0, [], callback=None)
    out = []
    for f in lyr:
        out.append((wkb.loads(bytes(f.GetGeometryRef().ExportToWkb(ogr.wkbNDR))), f.GetField(0)))
    del lyr, vds, mds, ds
    return out


def label4(binary: np.ndarray) -> tuple:
    """4-connected regions of ``binary``: ``(labels int32 array, count)``, 0 outside, 1..count inside.

    SciPy's ``ndimage.label`` when SciPy is there; otherwise GDAL: polygonise, then burn each
    polygon's id back (the pixels whose centre it holds: the same pixels).
    """
    try:
        from scipy import ndimage
    except ImportError:  # pragma: no cover - exercised by test_label4_without_scipy
        return _label4_gdal(binary)
    lab, n = ndimage.label(binary)
    return lab.astype(np.int32, copy=False), int(n)


def _label4_gdal(binary: np.ndarray) -> tuple:
    from osgeo import gdal, gdal_array, ogr

    h, w = binary.shape
    m8 = np.ascontiguousarray(binary, dtype=np.uint8)
    src = gdal_array.OpenArray(m8)
    src.SetGeoTransform((0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    vds = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vds.CreateLayer("p", None, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    gdal.Polygonize(src.GetRasterBand(1), src.GetRasterBand(1), lyr, 0, [], callback=None)
    n = 0
    for f in lyr:
        n += 1
        f.SetField(0, n)
        lyr.SetFeature(f)
    out = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GDT_Int32)
    out.SetGeoTransform((0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    gdal.RasterizeLayer(out, [1], lyr, options=["ATTRIBUTE=v"])
    lab = out.GetRasterBand(1).ReadAsArray().astype(np.int32)
    del lyr, vds, src, out
    return lab, n


def region_boxes(lab: np.ndarray, n: int) -> np.ndarray:
    """(n, 4) pixel boxes ``x0, y0, x1, y1`` (end exclusive) of labels 1..n."""
    try:
        from scipy import ndimage
    except ImportError:  # pragma: no cover - exercised by test_label4_without_scipy
        ndimage = None
    if ndimage is not None:
        sl = ndimage.find_objects(lab, max_label=n)
        return np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in sl], np.int64).reshape(-1, 4)
    ys, xs = np.nonzero(lab)
    v = lab[ys, xs] - 1
    b = np.empty((n, 4), np.int64)
    b[:, 0:2] = np.iinfo(np.int64).max
    b[:, 2:4] = -1
    np.minimum.at(b[:, 0], v, xs)
    np.minimum.at(b[:, 1], v, ys)
    np.maximum.at(b[:, 2], v, xs + 1)
    np.maximum.at(b[:, 3], v, ys + 1)
    return b


def polygonise_region(pieces: Sequence, x0: int, y0: int, w: int, h: int) -> list:
    """Polygons (grid px) of the pixels of ``pieces`` (objects with ``x0, y0, w, h, mask()``)
    that fall in the ``w x h`` box at (x0, y0), pasted into one mask (pieces may reach past it)."""
    canvas = np.zeros((h, w), bool)
    for p in pieces:
        cx0, cy0 = max(p.x0, x0), max(p.y0, y0)
        cx1, cy1 = min(p.x0 + p.w, x0 + w), min(p.y0 + p.h, y0 + h)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        m = p.mask()[cy0 - p.y0 : cy1 - p.y0, cx0 - p.x0 : cx1 - p.x0]
        canvas[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] |= m
    return [g for g, _v in polygonise(canvas, x0, y0)] if canvas.any() else []
