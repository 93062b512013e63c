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

import contextlib
import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import UserInputError
from ..gdal_errors import gdal_exceptions
from ..gpkg_tx import LOCK_WAIT_S, add_to_gpkg, ident, sql_literal, sql_value
from ..i18n import tr
from ..tempfiles import remove_with_sidecars, temp_path

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
    staged: Optional[StagedFeatures] = None,
) -> str:
    """Add the result layer and its ``idfhr_runs`` row to an open datasource; returns the layer name."""
    from osgeo import ogr

    existing = {ds.GetLayer(i).GetName().lower() for i in range(ds.GetLayerCount())}
    name, k = layer_name, 2
    while name.lower() in existing:
        name, k = f"{layer_name}_{k}", k + 1
    if staged is None:
        lyr = _create_layer(ds, name, crs_wkt, multipolygon)
        _add_features(lyr, geoms, records, multipolygon)
    else:
        lyr = _copy_staged(ds, name, crs_wkt, multipolygon, staged)
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


def _create_layer(ds: Any, name: str, crs_wkt: str, multipolygon: bool, spatial_index: bool = True) -> Any:
    """An empty result layer with the :data:`FIELDS`."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    gtype = ogr.wkbMultiPolygon if multipolygon else ogr.wkbPolygon
    opts = ["SPATIAL_INDEX=" + ("YES" if spatial_index else "NO"), "FID=fid"]
    lyr = ds.CreateLayer(name, srs, gtype, options=opts)
    ftypes = {"int": ogr.OFTInteger, "str": ogr.OFTString, "real": ogr.OFTReal}
    for fname, ftype in FIELDS:
        lyr.CreateField(ogr.FieldDefn(fname, ftypes[ftype]))
    return lyr


def _add_features(lyr: Any, geoms: Sequence[Any], records: dict, multipolygon: bool) -> None:
    """Write features (shapely geometries or WKB, ``records`` as in :func:`write_gpkg`) to ``lyr``."""
    from osgeo import ogr

    defn = lyr.GetLayerDefn()
    # one call per value (by index, typed): SetField(name, ...) looked the name up every time
    setters = {"int": "SetFieldInteger64", "str": "SetFieldString", "real": "SetField"}
    casts = {"int": int, "str": str, "real": float}
    n = len(geoms)
    template = ogr.Feature(defn)
    cols = []
    for fname, ftype in FIELDS:
        vals = records.get(fname)
        if vals is None:  # a missing name is left empty
            continue
        i = defn.GetFieldIndex(fname)
        first = vals[0] if n else None
        if n and first is not None and all(v == first for v in vals):  # model, run id...: set once
            getattr(template, setters.get(ftype, "SetField"))(i, casts.get(ftype, _same)(first))
        else:
            cols.append(
                (i, getattr(ogr.Feature, setters.get(ftype, "SetField")), casts.get(ftype, _same), vals)
            )
    for k, g in enumerate(geoms):
        f = template.Clone()
        for i, setter, cast, vals in cols:
            v = vals[k]
            if v is not None:
                setter(f, i, cast(v))
        f.SetGeometryDirectly(_ogr_geometry(ogr, g, multipolygon))
        lyr.CreateFeature(f)


_STAGED = "idfhr_staged"  # schema name of the attached staging file


def _copy_staged(ds: Any, name: str, crs_wkt: str, multipolygon: bool, staged: StagedFeatures) -> Any:
    """The result layer filled from the attached staging file in one SQL statement."""
    lyr = _create_layer(ds, name, crs_wkt, multipolygon)
    cols = ", ".join(ident(c) for c in [lyr.GetGeometryColumn()] + [f for f, _t in FIELDS])
    src = f"{ident(_STAGED)}.{ident(staged.layer_name)}"
    sql_value(ds, f"INSERT INTO {ident(name)} ({cols}) SELECT {cols} FROM {src} ORDER BY fid")  # noqa: S608  # nosec
    # rows written by SQL: GDAL does not know the layer's extent (from the geometry headers)
    g = ident(lyr.GetGeometryColumn())
    res = ds.ExecuteSQL(
        f"SELECT MIN(ST_MinX({g})), MIN(ST_MinY({g})), MAX(ST_MaxX({g})), MAX(ST_MaxY({g})) FROM {src}"  # noqa: S608  # nosec
    )
    try:
        row = res.GetNextFeature()
        ext = [row.GetField(i) for i in range(4)] if row is not None else [None] * 4
    finally:
        ds.ReleaseResultSet(res)
    if None not in ext:
        x0, y0, x1, y1 = (repr(float(v)) for v in ext)
        sql_value(
            ds,
            f"UPDATE gpkg_contents SET min_x = {x0}, min_y = {y0}, max_x = {x1}, max_y = {y1} "  # noqa: S608  # nosec
            f"WHERE lower(table_name) = lower({sql_literal(name)})",
        )
    return lyr


class StagedFeatures:
    """Result features written, as the run finds them, to a private temporary GeoPackage next to
    the output, so that they leave memory at once; :func:`write_gpkg` then copies them into the
    output in its one all-or-nothing step. The staging file is removed by :meth:`discard` (and,
    if the process is killed, by the next write into that folder).

    GDAL creates the file and its layer; rows are then appended through SQLite in bulk (the
    GeoPackage geometry blobs built here, with their envelopes): no OGR feature per object.
    """

    layer_name = "features"

    def __init__(self, out_path: str | os.PathLike, crs_wkt: str, multipolygon: bool):
        from osgeo import ogr

        self.path = temp_path(Path(out_path), ".staging.gpkg")
        self.multipolygon = multipolygon
        self.count = 0
        self._db = None
        try:
            with gdal_exceptions():
                ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(self.path))
                lyr = _create_layer(ds, self.layer_name, crs_wkt, multipolygon, spatial_index=False)
                self._fid_col = lyr.GetFIDColumn() or "fid"
                self._geom_col = lyr.GetGeometryColumn()
                lyr = ds = None
            self._db = _sqlite_connect(self.path)
            row = self._db.execute(
                "SELECT srs_id FROM gpkg_geometry_columns WHERE table_name = ?", (self.layer_name,)
            ).fetchone()
            self._srs_id = int(row[0])
            cols = [self._geom_col] + [f for f, _t in FIELDS]
            self._sql = "INSERT INTO {t} ({c}) VALUES ({q})".format(  # noqa: S608  # nosec B608
                t=ident(self.layer_name), c=", ".join(ident(c) for c in cols), q=", ".join("?" * len(cols))
            )
            self._db.execute("BEGIN")
        except BaseException:
            self.discard()
            raise

    def add(self, geoms: Sequence[Any], records: dict, bounds: Any = None, group: Any = None) -> None:
        """Append features (shapely geometries or WKB in the output CRS, ``records`` as in
        :func:`write_gpkg`; ``bounds``: their (N, 4) envelopes when known, NaN rows otherwise;
        ``group``: the settled group of each (streamed detections, see :meth:`enable_boxes`))."""
        if not geoms:
            return
        n = len(geoms)

        def run():
            blobs = gpkg_blobs(geoms, self._srs_id, self.multipolygon, bounds)
            cols = [records.get(f) or [None] * n for f, _t in FIELDS]
            if group is not None:
                self._db.executemany(self._sql_group, zip(blobs, *cols, [int(g) for g in group]))
            else:
                self._db.executemany(self._sql, zip(blobs, *cols))

        self._guarded(run)
        self.count += n

    def enable_boxes(self) -> None:
        """Streamed detections: features carry their settled group, and every box of a settled
        group (kept by NMS or not) is stashed in a side table, to be taken back by :meth:`take_back`."""
        t = ident(self.layer_name)
        self._db.execute(f"ALTER TABLE {t} ADD COLUMN idfhr_group INTEGER")  # noqa: S608
        self._db.execute(
            "CREATE TABLE idfhr_boxes (seq INTEGER, grp INTEGER, cls INTEGER, x0 REAL, y0 REAL, x1 REAL, "
            "y1 REAL, score REAL, tile INTEGER, cut INTEGER, rbox BLOB, poly BLOB, topk_ids BLOB, topk_scores BLOB)"
        )
        self._db.execute("CREATE INDEX idfhr_boxes_y1 ON idfhr_boxes (y1)")
        self._db.execute("CREATE INDEX idfhr_boxes_grp ON idfhr_boxes (grp)")
        self._db.execute(f"CREATE INDEX idfhr_features_group ON {t} (idfhr_group)")  # noqa: S608
        self._sql_group = self._sql.replace(") VALUES (", ", idfhr_group) VALUES (?, ")

    def stash_boxes(self, rows: dict, group: Any) -> None:
        """Keep the boxes of settled groups (grid px and what NMS needs), out of memory."""
        import numpy as np

        n = len(rows["seq"])

        def blob(a, k):
            return None if a is None else np.ascontiguousarray(a[k]).tobytes()

        polys = rows.get("polys") or [None] * n
        data = (
            (
                int(rows["seq"][k]),
                int(group[k]),
                int(rows["cls"][k]),
                *(float(v) for v in rows["boxes"][k]),
                float(rows["scores"][k]),
                int(rows["tiles"][k]),
                int(bool(rows["cut"][k])),
                blob(rows.get("rboxes"), k),
                None if polys[k] is None else polys[k].wkb,
                blob(rows.get("topk_ids"), k),
                blob(rows.get("topk_scores"), k),
            )
            for k in range(n)
        )
        self._guarded(lambda: self._db.executemany(_STASH_SQL, data))

    def take_back(self, boxes: Any, classes: Any) -> Optional[dict]:
        """The stashed groups that ``boxes`` (grid px; ``classes``, or None for any class) touch:
        their boxes leave the side table (returned, as :meth:`stash_boxes` got them) and their
        features leave the staging layer. None when no group is touched."""
        import numpy as np

        b = np.asarray(boxes, np.float64)
        cur = self._db.execute(
            "SELECT grp, cls, x0, y0, x1, y1 FROM idfhr_boxes WHERE y1 >= ?", (float(b[:, 1].min()),)
        )
        cand = np.array(cur.fetchall(), np.float64).reshape(-1, 6)
        if not len(cand):
            return None
        hit = np.zeros(len(cand), bool)
        for k in range(len(b)):
            near = (
                (cand[:, 2] <= b[k, 2])
                & (cand[:, 4] >= b[k, 0])
                & (cand[:, 3] <= b[k, 3])
                & (cand[:, 5] >= b[k, 1])
            )
            if classes is not None:
                near &= cand[:, 1] == float(classes[k])
            hit |= near
        groups = sorted({int(g) for g in cand[hit, 0]})
        if not groups:
            return None
        got = []

        def run():
            t = ident(self.layer_name)
            for i in range(0, len(groups), 500):
                part = groups[i : i + 500]
                q = ", ".join("?" * len(part))
                got.extend(self._db.execute(f"SELECT * FROM idfhr_boxes WHERE grp IN ({q})", part).fetchall())  # noqa: S608  # nosec B608
                self._db.execute(f"DELETE FROM idfhr_boxes WHERE grp IN ({q})", part)  # noqa: S608  # nosec B608
                self._db.execute(f"DELETE FROM {t} WHERE idfhr_group IN ({q})", part)  # noqa: S608  # nosec B608

        self._guarded(run)
        return _unstash(got)

    def totals(self) -> tuple:
        """(features per label, area per label, features) of the staging layer as it stands."""
        t = ident(self.layer_name)
        rows = self._db.execute(f"SELECT label, count(*), sum(area_m2) FROM {t} GROUP BY label").fetchall()  # noqa: S608  # nosec B608
        counts = {lab: int(n) for lab, n, _a in rows}
        return counts, {lab: float(a or 0.0) for lab, _n, a in rows}, sum(counts.values())

    def _guarded(self, fn) -> None:
        try:
            fn()
        except Exception as exc:
            raise UserInputError(
                tr(
                    "Writing the results to a temporary file in {folder} failed ({err}); free some disk "
                    "space or choose another output folder. Nothing was written."
                ).format(folder=self.path.parent, err=str(exc)[:200])
            ) from exc

    def close(self) -> None:
        """Commit and close the staging file (before it is copied)."""
        if self._db is not None:
            try:
                self._guarded(lambda: self._db.execute("COMMIT"))
            finally:
                self._db.close()
                self._db = None

    def discard(self) -> None:
        """Close and remove the staging file."""
        if self._db is not None:
            with contextlib.suppress(Exception):  # the file is removed next: nothing to keep
                self._db.close()
            self._db = None
        remove_with_sidecars(self.path)


_STASH_SQL = "INSERT INTO idfhr_boxes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _unstash(rows: list) -> dict:
    """Rows of ``idfhr_boxes`` -> the arrays of a stream's pool (see :meth:`StagedFeatures.stash_boxes`)."""
    import numpy as np
    from shapely import wkb

    n = len(rows)
    col = list(zip(*rows)) if rows else [()] * 14
    out = {
        "seq": np.array(col[0], np.int64),
        "cls": np.array(col[2], np.int32),
        "boxes": np.array(list(zip(*col[3:7])), np.float64).reshape(n, 4),
        "scores": np.array(col[7], np.float32),
        "tiles": np.array(col[8], np.int64),
        "cut": np.array(col[9], bool),
        "polys": [None if p is None else wkb.loads(bytes(p)) for p in col[11]],
    }
    for name, k, dt in (
        ("rboxes", 10, np.float64),
        ("topk_ids", 12, np.int32),
        ("topk_scores", 13, np.float32),
    ):
        vals = col[k]
        out[name] = None if n == 0 or vals[0] is None else np.stack([np.frombuffer(v, dt) for v in vals])
    return out


def _sqlite_connect(path: Path):
    import sqlite3

    # used by the post-processing thread, then committed by the caller once that thread has ended
    db = sqlite3.connect(str(path), isolation_level=None, timeout=60, check_same_thread=False)
    db.execute("PRAGMA journal_mode=OFF")  # a private scratch file: removed whole on failure
    db.execute("PRAGMA synchronous=OFF")
    return db


def gpkg_blobs(geoms: Sequence[Any], srs_id: int, multipolygon: bool, bounds: Any = None) -> list:
    """GeoPackage geometry blobs (little-endian header with the XY envelope, then WKB) of
    shapely geometries or WKB (a Polygon made a one-part MultiPolygon if ``multipolygon``).
    ``bounds``: the (N, 4) envelopes already known (NaN rows: to compute)."""
    import numpy as np
    from affine import Affine

    from .geom import affine_wkb

    wkbs = [bytes(g) if isinstance(g, (bytes, bytearray, memoryview)) else g.wkb for g in geoms]
    if multipolygon:
        wkbs = [_MULTI1 + w if w[:5] == b"\x01\x03\x00\x00\x00" else w for w in wkbs]
    env = np.full((len(wkbs), 4), np.nan) if bounds is None else np.array(bounds, np.float64)
    todo = np.nonzero(np.isnan(env).any(axis=1))[0]
    if todo.size:
        got: list = []
        try:
            affine_wkb([wkbs[i] for i in todo], Affine.identity(), bounds=got)
            env[todo] = got[0]
        except ValueError:  # not plain 2D little-endian (multi)polygons: OGR reads them
            return [_gpkg_blob_ogr(w, srs_id) for w in wkbs]
    head = struct.Struct("<2sBBi4d")
    out = []
    for w, (x0, y0, x1, y1) in zip(wkbs, env.tolist()):
        if x0 != x0:  # empty geometry: no envelope, the empty flag
            out.append(struct.pack("<2sBBi", b"GP", 0, 0x11, srs_id) + w)
        else:
            out.append(head.pack(b"GP", 0, 0x03, srs_id, x0, x1, y0, y1) + w)
    return out


def _gpkg_blob_ogr(w: bytes, srs_id: int) -> bytes:
    from osgeo import ogr

    g = ogr.CreateGeometryFromWkb(w)
    x0, x1, y0, y1 = g.GetEnvelope()
    return struct.pack("<2sBBi4d", b"GP", 0, 0x03, srs_id, x0, x1, y0, y1) + g.ExportToIsoWkb(ogr.wkbNDR)


def _same(v: Any) -> Any:
    return v


_MULTI1 = b"\x01" + struct.pack("<II", 6, 1)  # little-endian MultiPolygon header of one polygon


def _ogr_geometry(ogr: Any, g: Any, multipolygon: bool) -> Any:
    """OGR geometry of a shapely geometry (or its WKB), as a MultiPolygon if ``multipolygon``."""
    wkb = g if isinstance(g, (bytes, bytearray)) else g.wkb
    if multipolygon and wkb[:5] == b"\x01\x03\x00\x00\x00":  # little-endian Polygon
        return ogr.CreateGeometryFromWkb(_MULTI1 + wkb)
    og = ogr.CreateGeometryFromWkb(wkb)
    return ogr.ForceToMultiPolygon(og) if multipolygon else og


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
    staged: Optional[StagedFeatures] = None,
) -> str:
    """Write one result layer (+ a row in ``idfhr_runs``) as one all-or-nothing step; returns the layer name.

    ``records`` maps names of :data:`FIELDS` to sequences as long as ``geoms`` (shapely,
    in ``crs_wkt``; a missing name is left empty). ``run_record`` is the run report (stored as JSON). A free name is chosen
    (``name_2``...) when ``layer_name`` exists. Another writer of the same file is waited for
    up to ``lock_wait_s`` seconds. ``staged``: the features were written during the run to this
    :class:`StagedFeatures` (then ``geoms`` and ``records`` are not used).
    """
    out = check_output_path(out_path)
    args = (layer_name, crs_wkt, geoms, records, run_record, multipolygon, staged)
    if staged is None:
        return add_to_gpkg(out, lambda ds: _fill(ds, *args), lock_wait_s=lock_wait_s)
    staged.close()
    return add_to_gpkg(
        out, lambda ds: _fill(ds, *args), lock_wait_s=lock_wait_s, attach={_STAGED: staged.path}
    )


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
