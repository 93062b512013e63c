"""Add tables to a GeoPackage as one all-or-nothing step: the one mechanism every GeoPackage writer uses.

A new file is written to a hidden temporary file in the destination folder and linked into
place when complete. Tables added to an existing GeoPackage are written in place inside one
SQLite transaction that holds the file's write lock: a second writer waits for the first (it
does not fail, and neither is lost), tables edited by other programs are kept, and the file
keeps its permissions, owner and symlinks. A failed, cancelled or killed write changes
nothing: SQLite rolls an interrupted transaction back the next time the file is opened, and a
temporary file left by a killed process is removed by the next write into that folder.

Callers give a ``fill(ds)`` function that adds their tables to an open OGR datasource (GDAL
exceptions on) and must not start or commit transactions themselves.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from .errors import IdfHrError, UserInputError
from .fsutil import is_disk_full
from .gdal_errors import gdal_exceptions
from .i18n import tr
from .tempfiles import remove_stale_temps, remove_with_sidecars, temp_path

T = TypeVar("T")
FillFn = Callable[[Any], T]

LOCK_WAIT_S = 600.0  # how long a writer waits for another one holding the GeoPackage's write lock


def sql_value(ds: Any, sql: str) -> Any:
    """Run one SQL statement on an OGR datasource; returns the first column of the first row."""
    res = ds.ExecuteSQL(sql)
    if res is None:
        return None
    try:
        f = res.GetNextFeature()
        return f.GetField(0) if f is not None else None
    finally:
        ds.ReleaseResultSet(res)


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """``value`` as an SQL string literal (NULL for None)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def drop_layer(ds: Any, name: str) -> bool:
    """Delete the vector or attribute layer ``name`` (case-insensitive) from an open datasource, if present."""
    for i in range(ds.GetLayerCount()):
        if ds.GetLayer(i).GetName().lower() == name.lower():
            ds.DeleteLayer(i)
            return True
    return False


def publish(tmp: Path, out: Path) -> bool:
    """Move a complete new file to ``out`` unless ``out`` appeared meanwhile (then False)."""
    try:
        os.link(tmp, out)  # atomic, and never replaces a file another writer just created
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system
        if out.exists():
            return False
        os.replace(tmp, out)
        return True


_NOT_PUBLISHED = object()


def _attach(ds: Any, attach: tuple[tuple[str, Path], ...]) -> None:
    """Attach other SQLite files to ``ds`` (must run before the transaction starts)."""
    for schema, path in attach:
        ds.ExecuteSQL(f"ATTACH DATABASE {sql_literal(os.fspath(path))} AS {ident(schema)}")


def _write_new(out: Path, fill: FillFn, attach: tuple[tuple[str, Path], ...] = ()) -> Any:
    """Write a new GeoPackage; ``_NOT_PUBLISHED`` when ``out`` was created by someone else meanwhile."""
    from osgeo import ogr

    out.parent.mkdir(parents=True, exist_ok=True)  # as atomic_path did: cache sub-folders appear on first use
    tmp = temp_path(out, ".gpkg")
    ds = None
    try:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        _attach(ds, attach)
        ds.StartTransaction()
        result = fill(ds)
        ds.CommitTransaction()
        ds = None  # close: flush everything before the move
        return result if publish(tmp, out) else _NOT_PUBLISHED
    finally:
        ds = None
        remove_with_sidecars(tmp)


def _open_gpkg(out: Path) -> Any:
    from osgeo import ogr

    try:
        ds = ogr.Open(str(out), update=1)
    except RuntimeError:
        ds = None
    if ds is None or ds.GetDriver().GetName() != "GPKG":
        raise UserInputError(
            tr("The existing output '{path}' is not a GeoPackage; choose another file name.").format(path=out)
        )
    return ds


def _stale(ds: Any, version: Any, check_tables: bool) -> bool:
    """Whether another connection changed the file since ``ds`` read it (call holding the write lock)."""
    if sql_value(ds, "PRAGMA data_version") != version:
        return True
    if not check_tables:
        return False
    known = {ds.GetLayer(i).GetName().lower() for i in range(ds.GetLayerCount())}
    res = ds.ExecuteSQL("SELECT table_name FROM gpkg_contents WHERE data_type IN ('features', 'attributes')")
    try:
        registered = {str(f.GetField(0)).lower() for f in res}
    finally:
        ds.ReleaseResultSet(res)
    return not registered <= known  # a commit between GDAL's open and the first pragma


def _append_in_place(
    out: Path, fill: FillFn, wait_s: float, attach: tuple[tuple[str, Path], ...] = ()
) -> Any:
    """Run ``fill`` on an existing GeoPackage inside one transaction holding its write lock."""
    deadline = time.monotonic() + wait_s
    attempt = 0  # the table check is a heuristic: a file GDAL lists partly must not loop
    while True:
        ds = _open_gpkg(out)
        in_tx = False
        try:
            left_ms = max(1, int((deadline - time.monotonic()) * 1000))
            sql_value(ds, f"PRAGMA busy_timeout = {left_ms}")
            version = sql_value(ds, "PRAGMA data_version")
            _attach(ds, attach)
            ds.StartTransaction()
            in_tx = True
            # A write as the first statement takes the write lock now, so SQLite waits for a
            # writer holding it (a deferred upgrade after reads would fail at once instead).
            sql_value(ds, "UPDATE gpkg_contents SET identifier = identifier WHERE 0")
            attempt += 1
            if _stale(ds, version, attempt <= 3) and time.monotonic() < deadline:
                # Another writer committed since GDAL read the file: reopen for a fresh view.
                ds.RollbackTransaction()
                in_tx = False
                continue
            result = fill(ds)
            ds.CommitTransaction()
            in_tx = False
            return result
        except BaseException:
            if in_tx:
                with contextlib.suppress(Exception):  # closing without a commit rolls back too
                    ds.RollbackTransaction()
            raise
        finally:
            ds = None


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's 'database is locked' (another writer kept the lock)."""
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def locked_error(out: Path, wait_s: float) -> UserInputError:
    """The message for a GeoPackage another program kept locked."""
    return UserInputError(
        tr(
            "The GeoPackage '{path}' stayed locked by another program for {seconds} seconds. "
            "Close what is writing to it (or choose another file) and run again; nothing was changed."
        ).format(path=out, seconds=round(wait_s))
    )


def add_to_gpkg(
    out_path: str | os.PathLike,
    fill: FillFn,
    *,
    lock_wait_s: float = LOCK_WAIT_S,
    attach: Mapping[str, str | os.PathLike] | None = None,
) -> Any:
    """Run ``fill(ds)`` on the GeoPackage ``out_path`` as one all-or-nothing step; returns its result.

    A missing file is created (temporary file + link into place); an existing one is changed in
    place in one transaction, waiting up to ``lock_wait_s`` seconds for another writer.
    ``attach`` maps schema names to SQLite files ``fill`` may read (``schema.table``). Errors
    become a :class:`UserInputError` saying that nothing was changed.
    """
    out = Path(out_path)
    att = tuple((k, Path(v)) for k, v in (attach or {}).items())
    with gdal_exceptions():
        try:
            remove_stale_temps(out)
            if not out.exists():
                result = _write_new(out, fill, att)
                if result is not _NOT_PUBLISHED:
                    return result
            return _append_in_place(out, fill, lock_wait_s, att)
        except (IdfHrError, KeyboardInterrupt):  # already a message for the user (or a cancel)
            raise
        except Exception as exc:
            if is_locked(exc):
                raise locked_error(out, lock_wait_s) from exc
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


# -- raster (tiles) tables -------------------------------------------------------------------------------
# OGR's ExecuteSQL takes no bound parameters: every name below goes through ident() and every
# value through sql_literal(), hence the S608/B608 markers.
_TILE_SUPPORT = (
    "gpkg_tile_matrix_set",
    "gpkg_tile_matrix",
    "gpkg_extensions",
    "gpkg_metadata",
    "gpkg_metadata_reference",
    "gpkg_2d_gridded_coverage_ancillary",
    "gpkg_2d_gridded_tile_ancillary",
)


def _rows(ds: Any, sql: str) -> list[list[Any]]:
    res = ds.ExecuteSQL(sql)
    if res is None:
        return []
    try:
        return [[f.GetField(i) for i in range(f.GetFieldCount())] for f in res]
    finally:
        ds.ReleaseResultSet(res)


def _table_name(ds: Any, schema: str, table: str) -> str | None:
    """The real name of ``table`` (case-insensitive) in ``schema``, or None."""
    return sql_value(
        ds,
        f"SELECT name FROM {ident(schema)}.sqlite_master WHERE type = 'table' "  # noqa: S608  # nosec
        f"AND lower(name) = lower({sql_literal(table)})",
    )


def _ensure_table(ds: Any, src: str, table: str) -> None:
    """Create ``table`` (with its indexes and triggers) in ``main`` as it is in ``src``, if missing."""
    if _table_name(ds, "main", table) or not _table_name(ds, src, table):
        return
    for (sql,) in _rows(
        ds,
        f"SELECT sql FROM {ident(src)}.sqlite_master WHERE tbl_name = {sql_literal(table)} "  # noqa: S608  # nosec
        "AND sql IS NOT NULL ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END",
    ):
        ds.ExecuteSQL(sql)


def _columns(ds: Any, schema: str, table: str, skip: tuple[str, ...] = ()) -> str:
    cols = [r[1] for r in _rows(ds, f"PRAGMA {ident(schema)}.table_info({ident(table)})") if r[1] not in skip]
    return ", ".join(ident(c) for c in cols)


def _copy_rows(ds: Any, src: str, table: str, where: str, skip: tuple[str, ...] = ()) -> None:
    if not _table_name(ds, src, table):
        return
    cols = _columns(ds, src, table, skip)
    ds.ExecuteSQL(
        f"INSERT INTO main.{ident(table)} ({cols}) SELECT {cols} FROM {ident(src)}.{ident(table)} WHERE {where}"  # noqa: S608  # nosec
    )


def _drop_tiles_table(ds: Any, name: str) -> None:
    """Delete the raster table ``name`` of ``main`` with its GeoPackage bookkeeping, if present.

    A vector layer or a plain table of that name is never deleted for a raster: UserInputError.
    """
    real = _table_name(ds, "main", name)
    if real is None:
        return
    lit = sql_literal(real)
    kind = sql_value(ds, f"SELECT data_type FROM gpkg_contents WHERE table_name = {lit}")  # noqa: S608  # nosec
    if kind in ("features", "attributes"):
        raise UserInputError(
            tr(
                "The GeoPackage already has a vector layer named '{name}'; choose another layer name "
                "for the imagery (nothing was changed)."
            ).format(name=real)
        )
    if kind is None:
        raise UserInputError(
            tr(
                "The GeoPackage already has a table named '{name}' that is not a layer; "
                "choose another file or layer name (nothing was changed)."
            ).format(name=real)
        )
    refs = f"SELECT md_file_id FROM gpkg_metadata_reference WHERE table_name = {lit}"  # noqa: S608  # nosec
    md_ids = [r[0] for r in _rows(ds, refs)] if _table_name(ds, "main", "gpkg_metadata_reference") else []
    for table, col in (
        ("gpkg_tile_matrix", "table_name"),
        ("gpkg_tile_matrix_set", "table_name"),
        ("gpkg_extensions", "table_name"),
        ("gpkg_2d_gridded_coverage_ancillary", "tile_matrix_set_name"),
        ("gpkg_2d_gridded_tile_ancillary", "tpudt_name"),
        ("gpkg_metadata_reference", "table_name"),
        ("gpkg_contents", "table_name"),
    ):
        if _table_name(ds, "main", table):
            ds.ExecuteSQL(f"DELETE FROM {ident(table)} WHERE lower({ident(col)}) = lower({lit})")  # noqa: S608  # nosec
    for mid in md_ids:  # metadata no other table refers to
        ds.ExecuteSQL(
            f"DELETE FROM gpkg_metadata WHERE id = {int(mid)} "  # noqa: S608  # nosec
            "AND id NOT IN (SELECT md_file_id FROM gpkg_metadata_reference)"
        )
    ds.ExecuteSQL(f"DROP TABLE {ident(real)}")


def _map_srs(ds: Any, src: str, srs_id: int) -> int:
    """The ``main`` srs_id for ``src``'s ``srs_id`` (copied in when missing)."""
    cols = "srs_name, srs_id, organization, organization_coordsys_id, definition, description"
    org, code = _rows(
        ds,
        f"SELECT organization, organization_coordsys_id FROM {ident(src)}.gpkg_spatial_ref_sys "  # noqa: S608  # nosec
        f"WHERE srs_id = {int(srs_id)}",
    )[0]
    mine = _rows(
        ds,
        f"SELECT organization, organization_coordsys_id FROM gpkg_spatial_ref_sys WHERE srs_id = {int(srs_id)}",  # noqa: S608  # nosec
    )
    if mine and str(mine[0][0]).lower() == str(org).lower() and mine[0][1] == code:
        return srs_id
    if not mine:
        target = srs_id
    else:
        same = sql_value(
            ds,
            "SELECT srs_id FROM gpkg_spatial_ref_sys WHERE lower(organization) = lower("  # noqa: S608  # nosec
            f"{sql_literal(org)}) AND organization_coordsys_id = {int(code)}",
        )
        if same is not None:
            return int(same)
        target = int(sql_value(ds, "SELECT MAX(srs_id) + 1 FROM gpkg_spatial_ref_sys"))
    ds.ExecuteSQL(
        f"INSERT INTO gpkg_spatial_ref_sys ({cols}) SELECT srs_name, {target}, organization, "  # noqa: S608  # nosec
        f"organization_coordsys_id, definition, description FROM {ident(src)}.gpkg_spatial_ref_sys "
        f"WHERE srs_id = {int(srs_id)}"
    )
    return target


def copy_tiles_table(ds: Any, name: str, src: str = "src") -> None:
    """Copy the raster (tiles) table ``name`` from the attached GeoPackage ``src`` into ``main``.

    Run inside :func:`add_to_gpkg` (one transaction). A raster table of the same name in
    ``main`` is replaced; everything else is kept. The table, its tile matrices, extensions,
    coverage ancillary rows and GDAL metadata are copied; its CRS is added when missing.
    """
    lit = sql_literal(name)
    _drop_tiles_table(ds, name)
    for table in _TILE_SUPPORT:
        _ensure_table(ds, src, table)
    where = f"table_name = {lit}"
    srs_id = int(sql_value(ds, f"SELECT srs_id FROM {ident(src)}.gpkg_contents WHERE {where}"))  # noqa: S608  # nosec
    target = _map_srs(ds, src, srs_id)
    for table in ("gpkg_contents", "gpkg_tile_matrix_set", "gpkg_tile_matrix"):  # before the tiles: triggers
        _copy_rows(ds, src, table, where)
    if target != srs_id:
        for table in ("gpkg_contents", "gpkg_tile_matrix_set"):
            ds.ExecuteSQL(f"UPDATE {ident(table)} SET srs_id = {target} WHERE {where}")  # noqa: S608  # nosec
    _ensure_table(ds, src, name)
    ds.ExecuteSQL(f"INSERT INTO main.{ident(name)} SELECT * FROM {ident(src)}.{ident(name)}")  # noqa: S608  # nosec
    if _table_name(ds, src, "gpkg_extensions"):
        ds.ExecuteSQL(
            "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "  # noqa: S608  # nosec
            f"SELECT s.table_name, s.column_name, s.extension_name, s.definition, s.scope FROM {ident(src)}.gpkg_extensions s "
            f"WHERE (s.table_name = {lit} OR s.table_name LIKE 'gpkg\\_%' ESCAPE '\\') AND NOT EXISTS ("
            "SELECT 1 FROM gpkg_extensions m WHERE m.table_name IS s.table_name AND m.column_name IS s.column_name "
            "AND m.extension_name = s.extension_name)"
        )
    _copy_rows(ds, src, "gpkg_2d_gridded_coverage_ancillary", f"tile_matrix_set_name = {lit}", ("id",))
    _copy_rows(ds, src, "gpkg_2d_gridded_tile_ancillary", f"tpudt_name = {lit}", ("id",))
    if not _table_name(ds, src, "gpkg_metadata_reference"):
        return
    for (mid,) in _rows(ds, f"SELECT md_file_id FROM {ident(src)}.gpkg_metadata_reference WHERE {where}"):  # noqa: S608  # nosec
        ds.ExecuteSQL(
            "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "  # noqa: S608  # nosec
            f"SELECT md_scope, md_standard_uri, mime_type, metadata FROM {ident(src)}.gpkg_metadata WHERE id = {int(mid)}"
        )
        new_id = int(sql_value(ds, "SELECT last_insert_rowid()"))
        ds.ExecuteSQL(
            "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, row_id_value, "  # noqa: S608  # nosec
            f"timestamp, md_file_id, md_parent_id) SELECT reference_scope, table_name, column_name, row_id_value, "
            f"timestamp, {new_id}, NULL FROM {ident(src)}.gpkg_metadata_reference WHERE {where} AND md_file_id = {int(mid)}"
        )
