"""Ground-truth GeoPackage of every object drawn in the demo imagery (one row per object and vintage)."""

from __future__ import annotations

import os
from pathlib import Path

from osgeo import gdal, ogr, osr

from ..core.gdal_errors import with_gdal_exceptions
from .scene import Y0, Y1, Scene

CLASSES = ("building", "swimming_pool", "solar_panel", "tree", "car")


def truth_rows(scene: Scene) -> list[dict]:
    """Rows ``{class, vintage, object_id, change, geom}``; ``change`` is relative to 2024."""
    fam = (
        ("building", scene.buildings),
        ("swimming_pool", scene.pools),
        ("solar_panel", scene.solars),
        ("tree", scene.trees),
        ("car", scene.cars),
    )
    rows = []
    for cls, recs in fam:
        for r in recs:
            for year in (Y0, Y1):
                if year not in r["years"]:
                    continue
                both = Y0 in r["years"] and Y1 in r["years"]
                change = "unchanged" if both else ("removed" if year == Y0 else "new")
                rows.append(
                    {
                        "class": cls,
                        "vintage": year,
                        "object_id": int(r["oid"]),
                        "change": change,
                        "geom": r["geom"],
                    }
                )
    rows.sort(key=lambda d: (d["vintage"], CLASSES.index(d["class"]), d["object_id"]))
    return rows


@with_gdal_exceptions
def write_truth(path: Path, scene: Scene) -> int:
    """Write layer ``objects`` (+ ``roads`` context layer) to a GeoPackage atomically; returns row count."""
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    if tmp.exists():
        tmp.unlink()
    gdal.SetConfigOption("OGR_CURRENT_DATE", "2026-01-01T00:00:00.000Z")
    try:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(2154)
        lyr = ds.CreateLayer(
            "objects", srs, ogr.wkbPolygon, options=["FID=fid", "GEOMETRY_NAME=geom", "SPATIAL_INDEX=NO"]
        )
        for name, typ in (
            ("class", ogr.OFTString),
            ("vintage", ogr.OFTInteger),
            ("object_id", ogr.OFTInteger),
            ("change", ogr.OFTString),
        ):
            lyr.CreateField(ogr.FieldDefn(name, typ))
        rows = truth_rows(scene)
        lyr.StartTransaction()
        for r in rows:
            f = ogr.Feature(lyr.GetLayerDefn())
            for k in ("class", "vintage", "object_id", "change"):
                f.SetField(k, r[k])
            f.SetGeometry(ogr.CreateGeometryFromWkb(r["geom"].wkb))
            lyr.CreateFeature(f)
        lyr.CommitTransaction()
        ctx = ds.CreateLayer(
            "roads", srs, ogr.wkbMultiPolygon, options=["FID=fid", "GEOMETRY_NAME=geom", "SPATIAL_INDEX=NO"]
        )
        ctx.CreateField(ogr.FieldDefn("kind", ogr.OFTString))
        ctx.StartTransaction()
        from shapely.geometry import box

        region = box(*scene.bounds)
        items = [(g, k) for g, k in scene.roads] + [(g, "crossing") for g in scene.crossings]
        for g, kind in items:
            g = g.intersection(region)
            if g.geom_type not in ("Polygon", "MultiPolygon") or g.area < 0.01:
                continue
            f = ogr.Feature(ctx.GetLayerDefn())
            f.SetField("kind", kind)
            f.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkb(g.wkb)))
            ctx.CreateFeature(f)
        ctx.CommitTransaction()
        ds = None
    finally:
        gdal.SetConfigOption("OGR_CURRENT_DATE", None)
    os.replace(tmp, path)
    return len(rows)
