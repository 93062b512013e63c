"""Atomic GeoPackage output: one layer per run + the ``idfhr_runs`` table of run reports.

Everything is written to a temporary file in the destination folder and moved into place with
``os.replace`` when complete. Writing into an existing GeoPackage copies it first, so its
earlier layers are kept and a failed or cancelled run leaves it untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserInputError
from ..fsutil import is_disk_full
from ..i18n import tr

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
)


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
    probe = parent / f".idfhr_write_probe_{uuid.uuid4().hex}"
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
    return p


def layer_name_for(model_name: str, when: str) -> str:
    """Layer name from the model name and a timestamp (``yyyymmdd_hhmmss``), SQL-safe."""
    base = re.sub(r"[^0-9A-Za-z_]+", "_", model_name).strip("_").lower() or "model"
    return f"{base[:40]}_{when}"


def _cleanup(tmp: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(str(tmp) + suffix)
        except OSError:
            pass


def write_gpkg(
    out_path: str | os.PathLike,
    layer_name: str,
    crs_wkt: str,
    geoms: Sequence[Any],
    records: dict,
    run_record: dict,
    *,
    multipolygon: bool = False,
) -> str:
    """Write one result layer (+ a row in ``idfhr_runs``) atomically; returns the layer name used.

    ``records`` maps each name of :data:`FIELDS` to a sequence as long as ``geoms`` (shapely,
    in ``crs_wkt``). ``run_record`` is the run report (stored as JSON).
    """
    from osgeo import gdal, ogr, osr

    gdal.UseExceptions()
    ogr.UseExceptions()
    out = check_output_path(out_path)
    tmp = out.parent / f".{out.stem}.{uuid.uuid4().hex[:8]}.tmp.gpkg"
    ds = None
    try:
        if out.exists():
            shutil.copyfile(out, tmp)
            ds = ogr.Open(str(tmp), update=1)
            if ds is None or ds.GetDriver().GetName() != "GPKG":
                raise UserInputError(
                    tr("The existing output '{path}' is not a GeoPackage; choose another file name.").format(
                        path=out
                    )
                )
        else:
            ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        existing = {ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())}
        name, k = layer_name, 2
        while name in existing:
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
        ds.StartTransaction()
        cols = [(fname, ftype, records[fname]) for fname, ftype in FIELDS]
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
        ds.CommitTransaction()
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
        ds = None  # close: flush everything before the move
        os.replace(tmp, out)
        return name
    except (UserInputError, KeyboardInterrupt):
        ds = None
        _cleanup(tmp)
        raise
    except Exception as exc:
        ds = None
        _cleanup(tmp)
        if is_disk_full(exc, out.parent):
            raise UserInputError(
                tr(
                    "There is not enough free disk space in {folder} to write the results. Free some "
                    "space or choose another output folder; nothing was changed."
                ).format(folder=out.parent)
            ) from exc
        raise UserInputError(
            tr("Writing the GeoPackage '{path}' failed ({err}); nothing was changed.").format(
                path=out, err=str(exc)[:200]
            )
        ) from exc


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
