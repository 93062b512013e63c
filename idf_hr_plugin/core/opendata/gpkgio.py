"""GeoPackage reading and writing with GDAL/OGR, always atomic, with a small metadata table.

A layer is added through :func:`..gpkg_tx.add_to_gpkg`: a new file appears only once complete;
in an existing GeoPackage the layer is written in place in one transaction (a layer of the same
name is replaced, the other layers and tables are kept), and a failed write changes nothing.

Every GeoPackage written here carries a plain SQLite table ``idf_hr_metadata(key, value)``
(source URL, dataset id, retrieval date, licence, feature count, ``complete=1``). QGIS ignores
it; the cache uses it to tell a finished file from a broken one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..errors import UserInputError
from ..gdal_errors import with_gdal_exceptions
from ..gpkg_tx import add_to_gpkg, drop_layer, sql_literal
from ..i18n import tr
from ..tempfiles import remove_stale_temps, remove_with_sidecars, temp_path

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


def _write_metadata_sql(ds: Any, meta: Mapping[str, Any]) -> None:
    """:func:`write_metadata` through an open OGR datasource (inside its transaction)."""
    ds.ExecuteSQL(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT)")
    for k, v in meta.items():  # OGR's SQL takes no parameters: the values are quoted by sql_literal
        row = f"({sql_literal(k)}, {sql_literal('' if v is None else v)})"
        ds.ExecuteSQL(f"INSERT OR REPLACE INTO {META_TABLE} (key, value) VALUES {row}")  # noqa: S608


def _finish_meta(metadata: Mapping[str, Any] | None, layer: str, count: int) -> dict[str, Any]:
    meta = dict(metadata or {})
    meta.setdefault("feature_count", count)
    meta["layer"] = layer
    meta["complete"] = "1"
    return meta


def _fill_layer(
    ds: Any,
    layer: str,
    srs: Any,
    gtype: int,
    field_defns: Sequence[Any],
    make_features: Callable[[Any], Iterator[Any]],
    metadata: Mapping[str, Any] | None,
) -> int:
    """Replace ``layer`` of an open datasource by the features ``make_features(defn)`` yields (inside
    the caller's transaction) and record it in ``idf_hr_metadata``; returns the feature count."""
    drop_layer(ds, layer)
    lyr = ds.CreateLayer(layer, srs=srs, geom_type=gtype)
    for fdefn in field_defns:
        lyr.CreateField(fdefn)
    n = 0
    for f in make_features(lyr.GetLayerDefn()):
        lyr.CreateFeature(f)
        n += 1
    lyr.SyncToDisk()  # spatial index, extent and counts now, inside the transaction
    _write_metadata_sql(ds, _finish_meta(metadata, layer, n))
    return n


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

    Converted into a temporary GeoPackage first, then added to ``dest`` as one all-or-nothing
    step (see the module doc: other layers of an existing ``dest`` are kept); returns the
    feature count.
    """
    gdal, ogr, _ = _gdal()
    dest = Path(dest)
    remove_stale_temps(dest)
    tmp = temp_path(dest, ".gpkg")
    try:
        opts = gdal.VectorTranslateOptions(
            format="GPKG",
            layerName=layer,
            layers=[src_layer] if src_layer else None,
        )
        out = gdal.VectorTranslate(str(tmp), str(src), options=opts)
        if out is None:
            raise UserInputError(tr("GDAL could not convert {src} to a GeoPackage.").format(src=src))
        out = None  # close
        converted = ogr.Open(str(tmp))

        def copies(defn: Any) -> Iterator[Any]:
            for f in converted.GetLayerByName(layer):
                g = ogr.Feature(defn)
                g.SetFrom(f)
                yield g

        def fill(ds: Any) -> int:
            # not ds.CopyLayer: it opens transactions of its own, and this runs inside ours
            src_lyr = converted.GetLayerByName(layer)
            src_defn = src_lyr.GetLayerDefn()
            fdefns = [src_defn.GetFieldDefn(i) for i in range(src_defn.GetFieldCount())]
            return _fill_layer(
                ds, layer, src_lyr.GetSpatialRef(), src_lyr.GetGeomType(), fdefns, copies, metadata
            )

        try:
            return add_to_gpkg(dest, fill)
        finally:
            converted = None
    finally:
        remove_with_sidecars(tmp)


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
    Added as one all-or-nothing step (see the module doc); returns the number of features written.
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

    def make(defn: Any) -> Iterator[Any]:
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
            yield f

    srs = _srs(epsg) if gtype != ogr.wkbNone else None
    fdefns = [ogr.FieldDefn(name, getattr(ogr, _OGR_KIND[kind])) for name, kind in fields]
    return add_to_gpkg(dest, lambda ds: _fill_layer(ds, layer, srs, gtype, fdefns, make, metadata))


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
