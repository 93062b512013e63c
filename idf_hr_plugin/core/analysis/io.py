"""GeoPackage I/O of the analysis engine: read a detection layer and its run record, write a
change (or any result) layer.

Reading is generic (OGR for the layer, plain SQLite for the ``idfhr_runs`` table) so it does not
depend on the inference writer's internals. Writing follows the project rule: a new file is
written to a temporary file and moved into place when complete; a layer added to an existing
GeoPackage is written in place inside one transaction, rolled back on any failure or cancel.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..errors import Cancelled
from ..gdal_errors import with_gdal_exceptions
from ..gpkg_tx import add_to_gpkg
from ..i18n import tr
from . import geometry as G
from .change import Detections
from .errors import AnalysisError

RUNS_TABLE = "idfhr_runs"
CLASS_FIELDS = ("class_id", "class")
LABEL_FIELDS = ("label", "class_name", "class")
SCORE_FIELDS = ("score", "confidence")
CHANGE_FIELD = "change"


def is_result_layer(field_names: Sequence[str]) -> bool:
    """Whether a layer with these fields looks like a detection layer (a class or label field and
    a score) or a change layer (a ``change`` field), i.e. something worth comparing or counting."""
    names = {str(n).lower() for n in field_names}
    if CHANGE_FIELD in names:
        return True
    return bool(names & {*CLASS_FIELDS, *LABEL_FIELDS}) and bool(names & set(SCORE_FIELDS))


def _ogr():
    """OGR and OSR; callers run inside :func:`..gdal_errors.gdal_exceptions` (QGIS's mode is restored)."""
    from osgeo import ogr, osr

    return ogr, osr


def _open(path: str | os.PathLike, update: bool, message: str):
    """``ogr.Open`` that turns GDAL's failure into an :class:`AnalysisError` built from ``message``."""
    ogr, _ = _ogr()
    try:
        ds = ogr.Open(str(path), 1 if update else 0)
    except RuntimeError as exc:
        raise AnalysisError(message.format(path=path, err=exc)) from exc
    if ds is None:
        raise AnalysisError(message.format(path=path, err="GDAL returned nothing"))
    return ds


def open_vector_layer(path, layer: Optional[str], open_msg: str, several_msg: str) -> tuple:
    """-> (dataset, OGR layer, layer name) of ``layer`` in ``path`` (the only data layer when None).

    ``open_msg`` (``{path}``, ``{err}``) and ``several_msg`` (``{path}``, ``{names}``) say what to
    choose instead; a named layer that is absent is refused with the layers that exist.
    """
    ds = _open(path, False, open_msg)
    names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
    vector = [n for n in names if n != RUNS_TABLE]
    if layer is None:
        if len(vector) != 1:
            raise AnalysisError(several_msg.format(path=path, names=", ".join(vector) or "-"))
        layer = vector[0]
    lyr = ds.GetLayerByName(layer)
    if lyr is None:
        raise AnalysisError(
            tr("The layer '{layer}' is not in '{path}' (layers: {names}).").format(
                layer=layer, path=path, names=", ".join(vector) or "-"
            )
        )
    return ds, lyr, layer


def read_runs_table(gpkg: str | os.PathLike) -> list[dict]:
    """Rows of the ``idfhr_runs`` table (empty if absent), with ``report_json`` parsed and merged in."""
    uri = Path(gpkg).resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise AnalysisError(
            tr("The GeoPackage '{path}' cannot be opened ({err}).").format(path=gpkg, err=exc)
        ) from exc
    try:
        con.row_factory = sqlite3.Row
        found = con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name=?", (RUNS_TABLE,)
        ).fetchone()
        if found is None:
            return []
        rows = []
        for row in con.execute("SELECT * FROM idfhr_runs"):
            d = dict(row)
            try:
                report = json.loads(d.get("report_json") or "{}")
            except ValueError:
                report = {}
            rows.append({**report, **{k: v for k, v in d.items() if v not in (None, "")}})
        return rows
    except sqlite3.DatabaseError as exc:
        raise AnalysisError(
            tr("The GeoPackage '{path}' is damaged or not a GeoPackage ({err}).").format(path=gpkg, err=exc)
        ) from exc
    finally:
        con.close()


def _layer_crs(lyr) -> str:
    srs = lyr.GetSpatialRef()
    if srs is None:
        return ""
    srs.AutoIdentifyEPSG()
    code, name = srs.GetAuthorityCode(None), srs.GetAuthorityName(None)
    return f"{name}:{code}" if code and name else srs.ExportToWkt()


def _first(names: Sequence[str], available: Sequence[str]) -> Optional[str]:
    for n in names:
        if n in available:
            return n
    return None


def _run_area(run: dict, crs: str):
    """The analysed area recorded by a run: ``analysed_area_wkt``, else its extent, in ``crs``."""
    from shapely import wkt
    from shapely.geometry import box

    params = run.get("parameters") or {}
    if run.get("analysed_area_wkt"):
        geom, src = wkt.loads(run["analysed_area_wkt"]), run.get("analysed_area_crs") or crs
    elif params.get("extent"):
        geom, src = box(*params["extent"]), params.get("extent_crs") or crs
    else:
        return None
    if src and crs and str(src) != str(crs):
        from pyproj import CRS, Transformer
        from shapely.ops import transform

        tf = Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(crs), always_xy=True)
        geom = transform(tf.transform, geom)
    return geom


@with_gdal_exceptions
def read_detections(
    gpkg: str | os.PathLike,
    layer: Optional[str] = None,
    *,
    where: Optional[str] = None,
    analysed_area: Any = None,
    fields: Sequence[str] = (),
) -> Detections:
    """Read a detection layer (and its run record) into :class:`Detections`.

    ``layer`` may be omitted when the file holds one layer. Class is read from ``class_id`` (or
    ``class``), label from ``label``, score from ``score`` (1.0 when the layer has none, e.g. a
    ground truth). Model, vintage and run come from the layer's fields or its ``idfhr_runs`` row;
    the analysed area from ``analysed_area`` if given, else the run's recorded extent. ``fields``
    are extra columns returned in ``Detections.attributes``.
    """
    from shapely import wkb

    ogr, _ = _ogr()
    ds, lyr, layer = open_vector_layer(
        gpkg,
        layer,
        tr("'{path}' cannot be opened as a vector file ({err}); choose a GeoPackage of detections."),
        tr("'{path}' holds several layers ({names}); choose the detection layer to use."),
    )
    if where:
        lyr.SetAttributeFilter(where)
    defn = lyr.GetLayerDefn()
    avail = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    f_cls, f_lab, f_score = (
        _first(CLASS_FIELDS, avail),
        _first(LABEL_FIELDS, avail),
        _first(SCORE_FIELDS, avail),
    )
    if f_cls is None and f_lab is None:
        raise AnalysisError(
            tr(
                "The layer '{layer}' has no class field (class_id, class or label); it is not a detection layer."
            ).format(layer=layer)
        )
    f_cls = f_cls or f_lab
    want = [f for f in ("model", "model_sha256", "vintage", "run_id", *fields) if f in avail]
    missing = [f for f in fields if f not in avail]
    if missing:
        raise AnalysisError(
            tr("The layer '{layer}' has no field {fields}.").format(layer=layer, fields=", ".join(missing))
        )
    geoms, cls, lab, score, fids = [], [], [], [], []
    extra: dict[str, list] = {f: [] for f in want}
    for f in lyr:
        g = f.GetGeometryRef()
        if g is None or g.IsEmpty():
            continue
        geoms.append(wkb.loads(bytes(g.ExportToIsoWkb())))
        cls.append(f.GetField(f_cls))
        lab.append(f.GetField(f_lab) if f_lab else f.GetField(f_cls))
        score.append(f.GetField(f_score) if f_score else 1.0)
        fids.append(f.GetFID())
        for k in want:
            extra[k].append(f.GetField(k))
    crs = _layer_crs(lyr)
    runs = [r for r in read_runs_table(gpkg) if r.get("layer") == layer]
    run = runs[-1] if runs else {}

    def one(key: str, run_key: str) -> str:
        vals = {v for v in extra.get(key, []) if v not in (None, "")}
        if len(vals) > 1 and key != "vintage":
            raise AnalysisError(
                tr(
                    "The layer '{layer}' mixes several values of {key} ({vals}); keep one run per layer."
                ).format(layer=layer, key=key, vals=", ".join(sorted(map(str, vals))))
            )
        return str(next(iter(vals))) if len(vals) == 1 else str(run.get(run_key) or "")

    area = analysed_area if analysed_area is not None else _run_area(run, crs)
    return Detections(
        geometry=G.as_geometry_array(geoms),
        classes=np.array(cls),
        scores=np.array(score, dtype=float),
        labels=np.array(lab, dtype=object),
        analysed_area=area,
        crs=crs,
        model_name=one("model", "model_name"),
        model_sha256=one("model_sha256", "model_sha256"),
        vintage=one("vintage", "vintage"),
        run_id=one("run_id", "run_id"),
        attributes={"fid": np.array(fids, dtype=np.int64), **{k: np.array(v) for k, v in extra.items()}},
        run_record=run,
    )


def _ogr_type(values: np.ndarray, ogr) -> tuple[int, Callable[[Any], Any]]:
    if values.dtype.kind in "iub":
        return ogr.OFTInteger64, int
    if values.dtype.kind == "f":
        return ogr.OFTReal, float
    return ogr.OFTString, str


def _fill(lyr, ogr, geometry, columns, cancel, every: int = 2000) -> int:
    from shapely.geometry import MultiPolygon, Polygon

    specs = []
    for name, values in columns.items():
        t, conv = _ogr_type(np.asarray(values), ogr)
        lyr.CreateField(ogr.FieldDefn(name, t))
        specs.append((name, conv, np.asarray(values).tolist()))
    defn = lyr.GetLayerDefn()
    for i, g in enumerate(geometry):
        if cancel is not None and i % every == 0 and cancel():
            raise Cancelled()
        f = ogr.Feature(defn)
        for name, conv, vals in specs:
            v = vals[i]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            f.SetField(name, conv(v))
        if isinstance(g, Polygon):
            g = MultiPolygon([g])
        f.SetGeometry(ogr.CreateGeometryFromWkb(g.wkb))
        lyr.CreateFeature(f)
    if cancel is not None and cancel():
        raise Cancelled()
    return len(geometry)


@with_gdal_exceptions
def write_layer(
    path: str | os.PathLike,
    layer: str,
    geometry: Sequence,
    columns: dict[str, np.ndarray],
    *,
    crs: str = G.LAMBERT93,
    metadata: Optional[dict] = None,
    cancel: Optional[Callable[[], bool]] = None,
) -> str:
    """Write a MultiPolygon layer (+ ``metadata`` as JSON in the layer's ``IDFHR_ANALYSIS`` item).

    Written through :func:`..gpkg_tx.add_to_gpkg`: a new file appears only once complete; in an
    existing GeoPackage the layer is added in place in one transaction (an existing layer of that
    name is refused), waiting for another writer holding the file. ``cancel()`` returning True
    stops the write with :class:`Cancelled` and leaves nothing behind. Returns the layer name.
    """
    ogr, osr = _ogr()
    out = Path(path)
    if out.suffix.lower() != ".gpkg":
        raise AnalysisError(
            tr("The output '{path}' must be a GeoPackage file ending in .gpkg.").format(path=out)
        )
    srs = osr.SpatialReference()
    srs.SetFromUserInput(str(crs))
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    meta = json.dumps(metadata or {}, default=str, ensure_ascii=False)

    def create(ds) -> str:
        if any(ds.GetLayer(i).GetName().lower() == layer.lower() for i in range(ds.GetLayerCount())):
            raise AnalysisError(
                tr(
                    "The GeoPackage '{path}' already has a layer '{layer}'; choose another layer name."
                ).format(path=out, layer=layer)
            )
        lyr = ds.CreateLayer(layer, srs, ogr.wkbMultiPolygon, options=["FID=fid", "GEOMETRY_NAME=geom"])
        _fill(lyr, ogr, geometry, columns, cancel)
        lyr.SetMetadataItem("IDFHR_ANALYSIS", meta)
        lyr.SyncToDisk()  # spatial index, extent and counts now, inside the transaction
        return layer

    return add_to_gpkg(out, create)


def write_change_layer(
    result,
    path: str | os.PathLike,
    layer: str = "changes",
    *,
    cancel: Optional[Callable[[], bool]] = None,
) -> str:
    """Write a :class:`ChangeResult` or :class:`SegmentationChange` as a GeoPackage layer."""
    cols = {k: v for k, v in result.columns.items()}
    return write_layer(
        path,
        layer,
        result.geometry,
        cols,
        crs=result.metadata.get("crs") or G.LAMBERT93,
        metadata=result.metadata,
        cancel=cancel,
    )


@with_gdal_exceptions
def read_layer_metadata(path: str | os.PathLike, layer: str) -> dict:
    """The analysis metadata written with a layer by :func:`write_layer` (empty if none)."""
    ogr, _ = _ogr()
    ds = ogr.Open(str(path))
    lyr = ds.GetLayerByName(layer) if ds is not None else None
    raw = lyr.GetMetadataItem("IDFHR_ANALYSIS") if lyr is not None else None
    return json.loads(raw) if raw else {}
