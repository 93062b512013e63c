"""GeoPackage output: one layer per run + the ``idfhr_runs`` table of run reports.

A new file is written to a hidden temporary file in the destination folder and linked into
place when complete. A layer added to an existing GeoPackage is written in place inside one
SQLite transaction that holds the file's write lock: a second writer waits for the first (it
does not fail, and neither run is lost), tables edited by other programs are kept, and the
file keeps its permissions, owner and symlinks. A failed, cancelled or killed run changes
nothing: SQLite rolls an interrupted transaction back the next time the file is opened, and a
temporary file left by a killed process is removed by the next run writing into that folder
(the mechanism is :mod:`..gpkg_tx`, shared by every GeoPackage writer of the plugin).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserInputError
from ..gpkg_tx import LOCK_WAIT_S, add_to_gpkg
from ..i18n import tr
from ..tempfiles import temp_path

RUNS_TABLE = "idfhr_runs"
FIELDS = (
    ("class_id", "int"),
    ("label", "str"),
    ("score", "real"),
    ("area_m2", "real"),
    ("model", "str"),
    ("model_sha256", "str"),
    ("source", "str"),
    ("vintage", "str"),
    ("run_id", "str"),
    ("class_scores", "str"),  # JSON [[label, score], ...]: the best classes, best first
    ("tile_id", "int"),  # the tile of the run's plan the object was found on
)


def class_scores_texts(topk_ids: Any, topk_scores: Any, label: Any, n: int) -> list:
    """Per object, the JSON text ``[["pool", 0.91], ["building", 0.05], ...]`` of its best classes.

    ``label(class_id) -> str``. ``None`` per object when the model gave no per-class scores
    (semantic segmentation): nothing is invented.
    """
    if topk_ids is None or topk_scores is None:
        return [None] * n
    return [
        json.dumps([[label(int(c)), round(float(v), 4)] for c, v in zip(ids, scores)], ensure_ascii=False)
        for ids, scores in zip(topk_ids, topk_scores)
    ]


def parse_class_scores(text: Any) -> list:
    """``class_scores`` attribute -> ``[(label, score), ...]`` (empty when absent or unreadable)."""
    try:
        data = json.loads(text) if text else []
        return [(str(lab), float(v)) for lab, v in data]
    except (TypeError, ValueError):
        return []


def check_output_path(out_path: str | os.PathLike) -> Path:
    """Fail early (before any inference) when the GeoPackage cannot be written there."""
    p = Path(out_path)
    if p.suffix.lower() != ".gpkg":
        raise UserInputError(
            tr("The output '{path}' must be a GeoPackage file ending in .gpkg.").format(path=p)
        )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserInputError(
            tr("The output folder '{path}' does not exist; create it or choose another folder.").format(
                path=parent
            )
        )
    if p.exists() and not p.is_file():
        raise UserInputError(tr("The output '{path}' exists and is not a file.").format(path=p))
    probe = temp_path(p, ".probe")
    try:
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise UserInputError(
            tr(
                "Cannot write in the output folder '{path}' ({err}); choose a folder you can write to."
            ).format(path=parent, err=exc.strerror or exc)
        ) from exc
    if p.exists() and not os.access(p, os.R_OK):
        raise UserInputError(tr("The existing output '{path}' cannot be read.").format(path=p))
    if p.exists() and not os.access(p, os.W_OK):  # results are added to it in place
        raise UserInputError(
            tr(
                "The existing output '{path}' is read-only: make it writable or choose another file name."
            ).format(path=p)
        )
    return p


def layer_name_for(model_name: str, when: str) -> str:
    """Layer name from the model name and a timestamp (``yyyymmdd_hhmmss``), SQL-safe."""
    base = re.sub(r"[^0-9A-Za-z_]+", "_", model_name).strip("_").lower() or "model"
    return f"{base[:40]}_{when}"


def _fill(
    ds: Any,
    layer_name: str,
    crs_wkt: str,
    geoms: Sequence[Any],
    records: dict,
    run_record: dict,
    multipolygon: bool,
) -> str:
    """Add the result layer and its ``idfhr_runs`` row to an open datasource; returns the layer name."""
    from osgeo import ogr, osr

    existing = {ds.GetLayer(i).GetName().lower() for i in range(ds.GetLayerCount())}
    name, k = layer_name, 2
    while name.lower() in existing:
        name, k = f"{layer_name}_{k}", k + 1
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    gtype = ogr.wkbMultiPolygon if multipolygon else ogr.wkbPolygon
    lyr = ds.CreateLayer(name, srs, gtype, options=["SPATIAL_INDEX=YES", "FID=fid"])
    ftypes = {"int": ogr.OFTInteger, "str": ogr.OFTString, "real": ogr.OFTReal}
    for fname, ftype in FIELDS:
        lyr.CreateField(ogr.FieldDefn(fname, ftypes[ftype]))
    defn = lyr.GetLayerDefn()
    none = [None] * len(geoms)
    cols = [(fname, ftype, records.get(fname, none)) for fname, ftype in FIELDS]
    for i, g in enumerate(geoms):
        f = ogr.Feature(defn)
        for fname, ftype, vals in cols:
            v = vals[i]
            if v is None:
                continue
            f.SetField(fname, int(v) if ftype == "int" else float(v) if ftype == "real" else str(v))
        og = ogr.CreateGeometryFromWkb(g.wkb)
        if multipolygon:
            og = ogr.ForceToMultiPolygon(og)
        f.SetGeometry(og)
        lyr.CreateFeature(f)
    runs = ds.GetLayerByName(RUNS_TABLE)
    if runs is None:
        runs = ds.CreateLayer(RUNS_TABLE, None, ogr.wkbNone)
        for fname in ("run_id", "layer", "created_at", "model", "model_sha256", "report_json"):
            runs.CreateField(ogr.FieldDefn(fname, ogr.OFTString))
    f = ogr.Feature(runs.GetLayerDefn())
    f.SetField("run_id", str(run_record.get("run_id", "")))
    f.SetField("layer", name)
    f.SetField("created_at", str(run_record.get("started_at", "")))
    f.SetField("model", str(run_record.get("model_name", "")))
    f.SetField("model_sha256", str(run_record.get("model_sha256", "")))
    f.SetField("report_json", json.dumps(dict(run_record, layer=name), default=str))
    runs.CreateFeature(f)
    for done in (lyr, runs):  # spatial index, extent and counts now, inside the transaction (not at close)
        done.SyncToDisk()
    return name


def write_gpkg(
    out_path: str | os.PathLike,
    layer_name: str,
    crs_wkt: str,
    geoms: Sequence[Any],
    records: dict,
    run_record: dict,
    *,
    multipolygon: bool = False,
    lock_wait_s: float = LOCK_WAIT_S,
) -> str:
    """Write one result layer (+ a row in ``idfhr_runs``) as one all-or-nothing step; returns the layer name.

    ``records`` maps names of :data:`FIELDS` to sequences as long as ``geoms`` (shapely,
    in ``crs_wkt``; a missing name is left empty). ``run_record`` is the run report (stored as JSON). A free name is chosen
    (``name_2``...) when ``layer_name`` exists. Another writer of the same file is waited for
    up to ``lock_wait_s`` seconds.
    """
    out = check_output_path(out_path)
    args = (layer_name, crs_wkt, geoms, records, run_record, multipolygon)
    return add_to_gpkg(out, lambda ds: _fill(ds, *args), lock_wait_s=lock_wait_s)


def read_runs(gpkg: str | os.PathLike) -> list:
    """Run reports stored in a GeoPackage (parsed JSON, oldest first)."""
    from osgeo import ogr

    ds = ogr.Open(str(gpkg))
    if ds is None:
        return []
    lyr = ds.GetLayerByName(RUNS_TABLE)
    if lyr is None:
        return []
    return [json.loads(f.GetField("report_json")) for f in lyr]
