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
from typing import Any, Callable, TypeVar

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


def _publish(tmp: Path, out: Path) -> bool:
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


def _write_new(out: Path, fill: FillFn) -> Any:
    """Write a new GeoPackage; ``_NOT_PUBLISHED`` when ``out`` was created by someone else meanwhile."""
    from osgeo import ogr

    tmp = temp_path(out, ".gpkg")
    ds = None
    try:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        ds.StartTransaction()
        result = fill(ds)
        ds.CommitTransaction()
        ds = None  # close: flush everything before the move
        return result if _publish(tmp, out) else _NOT_PUBLISHED
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


def _append_in_place(out: Path, fill: FillFn, wait_s: float) -> Any:
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


def add_to_gpkg(out_path: str | os.PathLike, fill: FillFn, *, lock_wait_s: float = LOCK_WAIT_S) -> Any:
    """Run ``fill(ds)`` on the GeoPackage ``out_path`` as one all-or-nothing step; returns its result.

    A missing file is created (temporary file + link into place); an existing one is changed in
    place in one transaction, waiting up to ``lock_wait_s`` seconds for another writer. Errors
    become a :class:`UserInputError` saying that nothing was changed.
    """
    out = Path(out_path)
    with gdal_exceptions():
        try:
            remove_stale_temps(out)
            if not out.exists():
                result = _write_new(out, fill)
                if result is not _NOT_PUBLISHED:
                    return result
            return _append_in_place(out, fill, lock_wait_s)
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
