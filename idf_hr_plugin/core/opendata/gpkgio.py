"""GeoPackage reading and writing with GDAL/OGR, always atomic, with a small metadata table.

Every GeoPackage written here carries a plain SQLite table ``idf_hr_metadata(key, value)``
(source URL, dataset id, retrieval date, licence, feature count, ``complete=1``). QGIS ignores
it; the cache uses it to tell a finished file from a broken one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import UserInputError
from ..gdal_errors import with_gdal_exceptions
from ..i18n import tr
from ._util import atomic_path

META_TABLE = "idf_hr_metadata"

# field spec: (name, kind) with kind in "str" | "int" | "real" | "date"
FieldSpec = Sequence[tuple[str, str]]


def _gdal():
    # callers are wrapped in with_gdal_exceptions: GDAL's error mode is never left changed
    from osgeo import gdal, ogr, osr

    return gdal, ogr, osr


@with_gdal_exceptions
def _srs(epsg: int):
    _, _, osr = _gdal()
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def write_metadata(gpkg: str | os.PathLike[str], meta: Mapping[str, Any]) -> None:
    """Write (replace) the ``idf_hr_metadata`` table of a GeoPackage."""
    con = sqlite3.connect(str(gpkg))
    try:
        con.execute("CREATE TABLE IF NOT EXISTS idf_hr_metadata (key TEXT PRIMARY KEY, value TEXT)")
        con.executemany(
            "INSERT OR REPLACE INTO idf_hr_metadata (key, value) VALUES (?, ?)",
            [(str(k), "" if v is None else str(v)) for k, v in meta.items()],
        )
        con.commit()
    finally:
        con.close()


def read_metadata(gpkg: str | os.PathLike[str]) -> dict[str, str]:
    """The ``idf_hr_metadata`` table as a dict (empty if absent); raises ``sqlite3.DatabaseError`` if corrupt."""
    uri = Path(gpkg).resolve().as_uri() + "?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    try:
        row = con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name=?", (META_TABLE,)
        ).fetchone()
        if row is None:
            return {}
        return {k: v for k, v in con.execute("SELECT key, value FROM idf_hr_metadata")}
    finally:
        con.close()


@with_gdal_exceptions
def layer_feature_count(dsn: str | os.PathLike[str], layer: str | None = None) -> int:
    """Number of features of a layer (first layer when ``layer`` is None)."""
    _, ogr, _ = _gdal()
    ds = ogr.Open(str(dsn))
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    if lyr is None:
        raise UserInputError(tr("The layer {layer} was not found in {path}.").format(layer=layer, path=dsn))
    return int(lyr.GetFeatureCount())


@with_gdal_exceptions
def convert_to_gpkg(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    layer: str,
    metadata: Mapping[str, Any] | None = None,
    src_layer: str | None = None,
) -> int:
    """Convert any OGR-readable vector (GeoJSON, CSV+VRT, /vsizip/ shapefile...) to a GeoPackage layer.

    Written to a temporary file and moved onto ``dest`` only when complete; returns the feature count.
    """
    gdal, _, _ = _gdal()
    with atomic_path(dest, ".gpkg") as tmp:
        opts = gdal.VectorTranslateOptions(
            format="GPKG",
            layerName=layer,
            layers=[src_layer] if src_layer else None,
        )
        out = gdal.VectorTranslate(str(tmp), str(src), options=opts)
        if out is None:
            raise UserInputError(tr("GDAL could not convert {src} to a GeoPackage.").format(src=src))
        out = None  # close
        count = layer_feature_count(tmp, layer)
        meta = dict(metadata or {})
        meta.setdefault("feature_count", count)
        meta["layer"] = layer
        meta["complete"] = "1"
        write_metadata(tmp, meta)
    return count


_OGR_KIND = {"str": "OFTString", "int": "OFTInteger64", "real": "OFTReal", "date": "OFTDate"}


@with_gdal_exceptions
def write_features_gpkg(
    dest: str | os.PathLike[str],
    layer: str,
    features: Iterable[Mapping[str, Any]],
    fields: FieldSpec,
    geometry_type: str = "MultiPolygon",
    epsg: int = 4326,
    metadata: Mapping[str, Any] | None = None,
) -> int:
    """Write GeoJSON-like features (``{"geometry": {...}, "properties": {...}}``) to a GeoPackage layer.

    ``geometry_type`` is Point | MultiPoint | LineString | MultiLineString | Polygon | MultiPolygon |
    None (attribute table). Polygons are promoted to MultiPolygon when the layer type is Multi.
    The file appears at ``dest`` only once complete; returns the number of features written.
    """
    _, ogr, _ = _gdal()
    gtypes = {
        "Point": ogr.wkbPoint,
        "MultiPoint": ogr.wkbMultiPoint,
        "LineString": ogr.wkbLineString,
        "MultiLineString": ogr.wkbMultiLineString,
        "Polygon": ogr.wkbPolygon,
        "MultiPolygon": ogr.wkbMultiPolygon,
        "None": ogr.wkbNone,
    }
    gtype = gtypes[str(geometry_type)]
    n = 0
    with atomic_path(dest, ".gpkg") as tmp:
        drv = ogr.GetDriverByName("GPKG")
        ds = drv.CreateDataSource(str(tmp))
        lyr = None
        try:
            lyr = ds.CreateLayer(layer, srs=_srs(epsg) if gtype != ogr.wkbNone else None, geom_type=gtype)
            for name, kind in fields:
                lyr.CreateField(ogr.FieldDefn(name, getattr(ogr, _OGR_KIND[kind])))
            defn = lyr.GetLayerDefn()
            ds.StartTransaction()
            for feat in features:
                f = ogr.Feature(defn)
                props = feat.get("properties") or {}
                for name, kind in fields:
                    value = props.get(name)
                    if value is None:
                        continue
                    if kind == "date":
                        y, m, d = (int(p) for p in str(value)[:10].split("-"))
                        f.SetField(name, y, m, d, 0, 0, 0, 0)
                    elif kind == "int":
                        f.SetField(name, int(value))
                    elif kind == "real":
                        f.SetField(name, float(value))
                    else:
                        f.SetField(name, str(value))
                geom = feat.get("geometry")
                if geom and gtype != ogr.wkbNone:
                    g = ogr.CreateGeometryFromJson(json.dumps(geom))
                    if gtype == ogr.wkbMultiPolygon and g.GetGeometryType() == ogr.wkbPolygon:
                        g = ogr.ForceToMultiPolygon(g)
                    elif gtype == ogr.wkbMultiPoint and g.GetGeometryType() == ogr.wkbPoint:
                        g = ogr.ForceToMultiPoint(g)
                    f.SetGeometry(g)
                lyr.CreateFeature(f)
                n += 1
            ds.CommitTransaction()
        finally:
            lyr = ds = None  # closed before the temporary file is moved or removed
        meta = dict(metadata or {})
        meta.setdefault("feature_count", n)
        meta["layer"] = layer
        meta["complete"] = "1"
        write_metadata(tmp, meta)
    return n


@with_gdal_exceptions
def read_features(dsn: str | os.PathLike[str], layer: str | None = None) -> list[dict[str, Any]]:
    """Read a vector layer into GeoJSON-like features (geometry as GeoJSON dicts, in the layer CRS)."""
    _, ogr, _ = _gdal()
    ds = ogr.Open(str(dsn))
    if ds is None:
        raise UserInputError(tr("{path} could not be opened as a vector dataset.").format(path=dsn))
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    out = []
    for f in lyr:
        g = f.GetGeometryRef()
        out.append(
            {
                "type": "Feature",
                "geometry": json.loads(g.ExportToJson()) if g is not None else None,
                "properties": {k: f.GetField(k) for k in f.keys()},
            }
        )
    return out
