"""Results shared in a PostGIS database: one table of features, one table of runs (the provenance).

``idfhr_runs`` has one row per (partner, run id); ``idfhr_results`` one row per feature, keyed
(partner, run id, fid), its attributes as JSON (every result kind has its own columns) and its
geometry in Lambert-93. A publish is one transaction: the run's earlier rows (same partner, same
run id) are replaced, never another partner's, and a run first published by another database
role is refused. The tables are created by the first publisher whose role may create them.

Uses psycopg2 (``python3-psycopg2`` on Debian; shipped with QGIS on Windows and macOS), imported
only here. Bulk loads go through ``COPY``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional

from ..errors import Cancelled, NetworkError, UserInputError
from ..i18n import tr
from .source import LAMBERT93, ResultRun, check_partner

RUNS_TABLE = "idfhr_runs"
FEATURES_TABLE = "idfhr_results"
SRID = 2154
COPY_CHUNK = 20_000
_SQL_TYPES = {"int": "bigint", "real": "double precision", "str": "text"}
_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(value: Any) -> str:
    """``value`` as an SQL string literal (standard conforming strings)."""
    return "'" + str(value).replace("'", "''") + "'"


def check_schema(schema: str) -> str:
    s = str(schema or "public").strip()
    if not _SCHEMA_RE.match(s):
        raise UserInputError(
            tr("The database schema '{schema}' is not a plain SQL name (letters, digits, _).").format(
                schema=schema
            )
        )
    return s


def _psycopg2():
    try:
        import psycopg2
        import psycopg2.errors  # noqa: F401 (the error classes below)
    except ImportError as exc:
        raise UserInputError(
            tr(
                "Publishing to PostGIS needs the Python module psycopg2, which this Python lacks. "
                "Install it (Debian/Ubuntu: apt install python3-psycopg2; it ships with QGIS on "
                "Windows and macOS), or publish to a catalog folder only."
            )
        ) from exc
    return psycopg2


def _where(dsn: str) -> str:
    """``user@host:port/dbname`` of a libpq connection string (never the password)."""
    try:
        from psycopg2.extensions import parse_dsn

        d = parse_dsn(dsn)
    except Exception:  # noqa: BLE001 (only used in a message)
        return "?"
    return f"{d.get('user', '')}@{d.get('host', 'localhost')}:{d.get('port', '5432')}/{d.get('dbname', '')}"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


@contextmanager
def read_cursor(dsn: str) -> Iterator[Any]:
    """A cursor on the shared store for reading; a database error becomes a sentence."""
    pg = _psycopg2()
    con = connect(dsn, purpose="read")
    try:
        with con, con.cursor() as cur:
            yield cur
    except pg.Error as exc:
        raise UserInputError(
            tr("The shared results of {where} cannot be read ({err}).").format(
                where=_where(dsn), err=_first_line(exc)
            )
        ) from exc
    finally:
        con.close()


def connect(dsn: str, *, purpose: str = "publish"):
    """A psycopg2 connection, or a clear error saying what to check (nothing was done)."""
    pg = _psycopg2()
    try:
        con = pg.connect(dsn)
    except pg.OperationalError as exc:
        first = _first_line(exc)
        msg = (
            tr(
                "The PostGIS database {where} cannot be reached ({err}), so nothing was published. "
                "Check that the server is running and reachable from this computer, and the host, port, "
                "database, user and password of the connection (in QGIS: Data Source Manager > PostgreSQL)."
            )
            if purpose == "publish"
            else tr(
                "The PostGIS database {where} cannot be reached ({err}). Check that the server is running "
                "and reachable from this computer, and the settings of the connection."
            )
        )
        raise NetworkError(msg.format(where=_where(dsn), err=first)) from exc
    except pg.ProgrammingError as exc:  # e.g. an invalid connection string
        raise UserInputError(
            tr("The PostgreSQL connection string is not valid ({err}).").format(err=str(exc).strip())
        ) from exc
    return con


def _ddl(schema: str) -> list[str]:
    s = ident(schema)
    return [
        f"""CREATE TABLE IF NOT EXISTS {s}.{RUNS_TABLE} (
            partner text NOT NULL,
            run_id text NOT NULL,
            kind text NOT NULL,
            layer text NOT NULL,
            model text,
            model_sha256 text,
            model_item text,
            vintages text[],
            start_datetime timestamptz,
            end_datetime timestamptz,
            counts jsonb,
            classes text[],
            cost jsonb,
            record jsonb,
            fields jsonb NOT NULL,
            geometry_type text,
            source_crs text,
            features integer NOT NULL,
            published_by text NOT NULL DEFAULT current_user,
            published_at timestamptz NOT NULL DEFAULT now(),
            area geometry(Geometry, 4326),
            PRIMARY KEY (partner, run_id))""",
        f"""CREATE TABLE IF NOT EXISTS {s}.{FEATURES_TABLE} (
            partner text NOT NULL,
            run_id text NOT NULL,
            fid bigint NOT NULL,
            attributes jsonb NOT NULL,
            geom geometry(Geometry, {SRID}),
            PRIMARY KEY (partner, run_id, fid),
            FOREIGN KEY (partner, run_id) REFERENCES {s}.{RUNS_TABLE} (partner, run_id) ON DELETE CASCADE)""",
        f"CREATE INDEX IF NOT EXISTS {FEATURES_TABLE}_geom_idx ON {s}.{FEATURES_TABLE} USING gist (geom)",
        f"CREATE INDEX IF NOT EXISTS {RUNS_TABLE}_area_idx ON {s}.{RUNS_TABLE} USING gist (area)",
    ]


def _ensure_tables(cur, schema: str) -> None:
    cur.execute(
        "SELECT to_regclass(%s), to_regclass(%s)", (f"{schema}.{RUNS_TABLE}", f"{schema}.{FEATURES_TABLE}")
    )
    if all(cur.fetchone()):
        return
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('idfhr_sharing_ddl'))")  # concurrent first publishers
    for stmt in _ddl(schema):
        cur.execute(stmt)


def _ewkb_hex(wkb: bytes, srid: int) -> str:
    """Little-endian 2D WKB -> hex EWKB with ``srid`` (what a ``geometry`` column reads in COPY)."""
    gtype = struct.unpack_from("<I", wkb, 1)[0]
    return (wkb[:1] + struct.pack("<II", gtype | 0x20000000, srid) + wkb[5:]).hex()


def _clean(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _csv_rows(run: ResultRun, partner: str, cancel: Optional[Callable[[], bool]]) -> Iterable[list]:
    from osgeo import ogr, osr

    tf = None
    if run.crs != LAMBERT93:
        src = osr.SpatialReference()
        src.SetFromUserInput(run.crs)
        dst = osr.SpatialReference()
        dst.ImportFromEPSG(SRID)
        for s in (src, dst):
            s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        tf = osr.CoordinateTransformation(src, dst)
    for i, (fid, attrs, g) in enumerate(run.iter_features()):
        if cancel is not None and i % 5000 == 0 and cancel():
            raise Cancelled(tr("Publishing cancelled; nothing was published."))
        geom = ""
        if g is not None and not g.IsEmpty():
            g = g.Clone()
            if tf is not None:
                g.Transform(tf)
            g.FlattenTo2D()
            geom = _ewkb_hex(bytes(g.ExportToWkb(ogr.wkbNDR)), SRID)
        clean = {k: _clean(v) for k, v in attrs.items()}
        yield [partner, run.run_id, fid, json.dumps(clean, ensure_ascii=False, allow_nan=False), geom]


def _copy(cur, schema: str, rows: Iterable[list]) -> int:
    sql = (
        f"COPY {ident(schema)}.{FEATURES_TABLE} (partner, run_id, fid, attributes, geom) "
        "FROM STDIN WITH (FORMAT csv)"
    )
    n = 0
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
        n += 1
        if n % COPY_CHUNK == 0:
            buf.seek(0)
            cur.copy_expert(sql, buf)
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
    if buf.tell():
        buf.seek(0)
        cur.copy_expert(sql, buf)
    return n


def _geometry_type(run: ResultRun) -> str:
    from osgeo import ogr

    from ..analysis.io import open_vector_layer

    ds, lyr, _ = open_vector_layer(str(run.gpkg), run.layer, "{path}: {err}", "{path}: {names}")
    name = ogr.GeometryTypeToName(ogr.GT_Flatten(lyr.GetGeomType())).replace(" ", "")
    del ds
    return {"3DPolygon": "Polygon"}.get(name, name)


def _refusal(exc: Exception, dsn: str, schema: str) -> Exception:
    pg = _psycopg2()
    if isinstance(exc, pg.errors.InsufficientPrivilege):
        first = _first_line(exc)
        return UserInputError(
            tr(
                "The database role of {where} may not write the shared results ({err}), so nothing was "
                "published. Ask the database administrator to grant this role INSERT, UPDATE, DELETE and "
                "SELECT on {schema}.{runs} and {schema}.{features} (and CREATE on the schema {schema} for "
                "the very first publish), or use a connection with write rights."
            ).format(where=_where(dsn), err=first, schema=schema, runs=RUNS_TABLE, features=FEATURES_TABLE)
        )
    if isinstance(exc, pg.OperationalError):
        return NetworkError(
            tr(
                "The connection to the PostGIS database {where} was lost while publishing ({err}); the "
                "database rolled the publish back, so nothing was published. Try again once it is reachable."
            ).format(where=_where(dsn), err=_first_line(exc))
        )
    if isinstance(exc, pg.Error):
        return UserInputError(
            tr("The PostGIS database {where} refused the publish ({err}); nothing was published.").format(
                where=_where(dsn), err=_first_line(exc)
            )
        )
    return exc


def publish_postgis(
    run: ResultRun,
    dsn: str,
    partner: str,
    *,
    schema: str = "public",
    cancel: Optional[Callable[[], bool]] = None,
) -> int:
    """Publish ``run``'s features and provenance in one transaction; returns the number of features.

    Idempotent by (partner, run id). Refused, with nothing published: a role without write
    rights, an unreachable database, a run id of this partner first published by another role.
    """
    from pyproj import CRS, Transformer
    from shapely import wkt
    from shapely.ops import transform

    partner = check_partner(partner)
    schema = check_schema(schema)
    from .stac import run_dates

    dates = run_dates(run)
    start = dates.get("start_datetime") or dates.get("datetime")
    end = dates.get("end_datetime") or dates.get("datetime")
    tf = Transformer.from_crs(CRS.from_user_input(run.area_crs), CRS.from_epsg(4326), always_xy=True)
    area = transform(tf.transform, wkt.loads(run.area_wkt)).wkt
    gtype = _geometry_type(run)
    con = connect(dsn)
    pg = _psycopg2()
    try:
        with con:  # one transaction: committed at the end, rolled back on any error
            with con.cursor() as cur:
                _ensure_tables(cur, schema)
                from psycopg2 import sql as q

                runs = q.Identifier(schema, RUNS_TABLE)
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{partner}\x1f{run.run_id}",))
                cur.execute(
                    q.SQL("SELECT published_by FROM {} WHERE partner = %s AND run_id = %s FOR UPDATE").format(
                        runs
                    ),
                    (partner, run.run_id),
                )
                row = cur.fetchone()
                cur.execute("SELECT current_user")
                me = cur.fetchone()[0]
                if row is not None and row[0] != me:
                    raise UserInputError(
                        tr(
                            "The run {run} of partner '{partner}' was published by the database role "
                            "'{owner}', not '{me}'; it was left as it is and nothing was published. "
                            "Publish under your own partner name, or ask '{owner}' to publish it again."
                        ).format(run=run.run_id, partner=partner, owner=row[0], me=me)
                    )
                cur.execute(
                    q.SQL("DELETE FROM {} WHERE partner = %s AND run_id = %s").format(runs),
                    (partner, run.run_id),
                )
                cur.execute(
                    q.SQL("""INSERT INTO {} (partner, run_id, kind, layer, model, model_sha256,
                        model_item, vintages, start_datetime, end_datetime, counts, classes, cost, record,
                        fields, geometry_type, source_crs, features, area)
                        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0,
                        ST_SetSRID(ST_GeomFromText(%s), 4326))""").format(runs),
                    (
                        partner,
                        run.run_id,
                        run.kind,
                        run.layer,
                        run.model_name,
                        run.model_sha256,
                        run.model_item,
                        list(run.vintages),
                        start,
                        end,
                        json.dumps(run.counts),
                        sorted(run.counts),
                        json.dumps(run.cost(), default=str),
                        json.dumps(run.record, default=str),
                        json.dumps(run.fields),
                        gtype,
                        run.crs,
                        area,
                    ),
                )
                n = _copy(cur, schema, _csv_rows(run, partner, cancel))
                if n != run.features:
                    raise UserInputError(
                        tr(
                            "The layer '{layer}' changed while it was being published ({n} features read, "
                            "{m} expected); nothing was published. Publish it again."
                        ).format(layer=run.layer, n=n, m=run.features)
                    )
                cur.execute(
                    q.SQL("UPDATE {} SET features = %s WHERE partner = %s AND run_id = %s").format(runs),
                    (n, partner, run.run_id),
                )
    except pg.Error as exc:
        raise _refusal(exc, dsn, schema) from exc
    finally:
        con.close()
    return n


def features_query(
    schema: str, partner: str, run_id: str, fields: list, bbox: Optional[tuple] = None, *, srid: int = SRID
) -> str:
    """SQL giving a run's features with their original columns and types (``fid``, fields…, ``geom``).

    ``bbox`` (xmin, ymin, xmax, ymax in ``srid``) keeps the features that touch it. The same query
    serves QGIS (a PostgreSQL query layer) and :func:`load_features`.
    """
    schema = check_schema(schema)
    cols = []
    for name, ftype in fields:
        expr = f"(attributes->>{literal(name)})"
        if ftype in ("int", "real"):
            expr += "::" + _SQL_TYPES[ftype]
        cols.append(f"{expr} AS {ident(name)}")
    where = f"partner = {literal(partner)} AND run_id = {literal(run_id)}"
    if bbox is not None:
        x0, y0, x1, y1 = (float(v) for v in bbox)
        env = f"ST_MakeEnvelope({x0!r}, {y0!r}, {x1!r}, {y1!r}, {int(srid)})"
        if int(srid) != SRID:
            env = f"ST_Transform({env}, {SRID})"
        where += f" AND geom && {env}"
    select = ", ".join(["fid", *cols, "geom"])
    table = f"{ident(schema)}.{FEATURES_TABLE}"
    return " ".join(("SELECT", select, "FROM", table, "WHERE", where))  # names and values quoted above


@dataclass
class PublishedRun:
    """A run as listed from the ``runs`` table (what browsing and loading need)."""

    partner: str
    run_id: str
    kind: str
    layer: str
    model: str
    fields: list
    geometry_type: str
    features: int


def run_row(dsn: str, partner: str, run_id: str, *, schema: str = "public") -> PublishedRun:
    """One published run, or a clear error when it is not in the database."""
    schema = check_schema(schema)
    from psycopg2 import sql as q

    with read_cursor(dsn) as cur:
        cur.execute(
            q.SQL(
                "SELECT partner, run_id, kind, layer, model, fields, geometry_type, features "
                "FROM {} WHERE partner = %s AND run_id = %s"
            ).format(q.Identifier(schema, RUNS_TABLE)),
            (partner, run_id),
        )
        row = cur.fetchone()
    if row is None:
        raise UserInputError(
            tr("The run {run} of partner '{partner}' is not in the shared results of {where}.").format(
                run=run_id, partner=partner, where=_where(dsn)
            )
        )
    p, r, kind, layer, model, fields, gtype, n = row
    return PublishedRun(p, r, kind, layer, model or "", [tuple(f) for f in fields], gtype or "", n)


def load_features(
    dsn: str,
    partner: str,
    run_id: str,
    out_gpkg: str | os.PathLike,
    *,
    schema: str = "public",
    bbox: Optional[tuple] = None,
    layer: Optional[str] = None,
) -> str:
    """Copy a published run (optionally only what touches ``bbox``, Lambert-93) into a GeoPackage layer.

    Features keep their fid, columns and types. Returns the layer name written.
    """
    from osgeo import gdal, ogr

    from ..gdal_errors import gdal_exceptions
    from ..gpkg_tx import add_to_gpkg

    run = run_row(dsn, partner, run_id, schema=schema)
    sql = features_query(schema, partner, run_id, run.fields, bbox)
    name = layer or run.layer
    gtypes = {"Polygon": ogr.wkbPolygon, "MultiPolygon": ogr.wkbMultiPolygon}

    def fill(ds) -> str:
        # OGR warns "multi-column primary key not supported" about the features table: expected
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            return copy_into(ds)
        finally:
            gdal.PopErrorHandler()

    def copy_into(ds) -> str:
        # listing only the runs table skips OGR's scan of every table of the database
        src = gdal.OpenEx("PG:" + dsn, gdal.OF_VECTOR, open_options=[f"TABLES={schema}.{RUNS_TABLE}"])
        res = src.ExecuteSQL(sql)
        try:
            srs = res.GetSpatialRef()
            lyr = ds.CreateLayer(name, srs, gtypes.get(run.geometry_type, ogr.wkbUnknown), ["FID=fid"])
            ftypes = {"int": ogr.OFTInteger64, "real": ogr.OFTReal, "str": ogr.OFTString}
            for fname, ftype in run.fields:
                lyr.CreateField(ogr.FieldDefn(fname, ftypes[ftype]))
            defn = lyr.GetLayerDefn()
            sdefn = res.GetLayerDefn()
            # source field -> target field (the fid column becomes the feature id), copied in C
            fmap = [defn.GetFieldIndex(sdefn.GetFieldDefn(i).GetName()) for i in range(sdefn.GetFieldCount())]
            fid_idx = sdefn.GetFieldIndex("fid")
            if fid_idx >= 0:
                fmap[fid_idx] = -1
            for sf in res:
                f = ogr.Feature(defn)
                f.SetFromWithMap(sf, 1, fmap)
                f.SetFID(sf.GetFID() if fid_idx < 0 else sf.GetFieldAsInteger64(fid_idx))
                lyr.CreateFeature(f)
            lyr.SyncToDisk()
        finally:
            src.ReleaseResultSet(res)
        return name

    with gdal_exceptions():
        try:
            return add_to_gpkg(out_gpkg, fill)
        except RuntimeError as exc:
            raise UserInputError(
                tr("The run {run} cannot be read from {where} ({err}).").format(
                    run=run_id, where=_where(dsn), err=str(exc)[:200]
                )
            ) from exc
