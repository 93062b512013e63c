"""Offline packs: an extent of any GDAL-readable imagery source, saved as a COG or GeoPackage raster.

``download_pack`` reads the source window by window (native CRS and resolution by default) into
a hidden, tiled GeoTIFF next to the destination, with a JSON journal of completed blocks:

    <folder>/.<name>.partial.tif     pixels read so far
    <folder>/.<name>.partial.json    the arguments + indices of the blocks safely in the partial

An interrupted run (error, cancel, killed process) resumes from the journal when called again
with the same source, extent, CRS, resolution and block size (anything else starts over; the
output format may change between runs). At the end the partial is converted (COG with
overviews, or GeoPackage raster with overviews) into a temporary file that is ``os.replace``d
onto ``out_path``; partial and journal are then deleted. A cancelled or failed run never leaves
anything at ``out_path``. A GeoPackage raster written to an existing GeoPackage is added to it in
place in one transaction (:func:`..gpkg_tx.copy_tiles_table`): its other layers and tables are
kept, a raster table of the same name is replaced, and a failure changes nothing.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.transform import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from ..errors import Cancelled, IdfHrError, NetworkError, UserInputError
from ..fsutil import is_disk_full
from ..gpkg_tx import add_to_gpkg, copy_tiles_table, publish
from ..i18n import tr
from ..inference.reader import check_complete
from ..paths import cache_dir
from ..tempfiles import remove_stale_temps, remove_with_sidecars, temp_path
from . import service as cache_service

LOG = logging.getLogger("idf_hr.tiles.offline")

# What rasterio raises when GDAL fails (RasterioIOError is an OSError, CPLE_* are not RasterioError).
GDAL_ERRORS = (RasterioError, RasterioIOError, CPLE_BaseError)

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, message)
CancelFn = Callable[[], bool]

JOURNAL_VERSION = 1
GDAL_HTTP_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
}


@dataclass
class PackResult:
    """What :func:`download_pack` produced."""

    path: Path
    bytes: int
    pixels: int
    width: int
    height: int
    bands: int
    crs: str
    bounds: tuple[float, float, float, float]
    seconds: float
    blocks_done: int
    blocks_total: int
    blocks_resumed: int  # blocks already in the partial when this run started
    resumed: bool


def partial_paths(out_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The hidden (partial GeoTIFF, journal) pair used to resume a pack bound for ``out_path``."""
    out = Path(out_path)
    return out.with_name(f".{out.name}.partial.tif"), out.with_name(f".{out.name}.partial.json")


def _wms_cache_in_cache_dir() -> None:
    """GDAL's WMS/WMTS drivers cache tiles in ./gdalwmscache by default: keep them in our cache."""
    from osgeo import gdal

    if not gdal.GetConfigOption("GDAL_DEFAULT_WMS_CACHE_PATH"):
        gdal.SetConfigOption("GDAL_DEFAULT_WMS_CACHE_PATH", str(cache_dir() / "gdalwms"))


def download_pack(
    source: str,
    extent: tuple[float, float, float, float],
    extent_crs: str,
    out_path: str | os.PathLike[str],
    *,
    fmt: str = "COG",
    resolution: float | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    block: int = 512,
    metadata: dict[str, Any] | None = None,
    compress: str = "DEFLATE",
    checkpoint_seconds: float = 2.0,
    layer: str | None = None,
) -> PackResult:
    """Save ``extent`` (in ``extent_crs``) of ``source`` to ``out_path`` as a COG or GeoPackage raster.

    ``source``: anything GDAL opens (local path, ``/vsicurl/URL``, VRT, ``WMTS:url,layer=...``).
    ``resolution``: output pixel size in source CRS units; ``None`` keeps the native pixels.
    ``progress(fraction, message)`` is called as blocks complete; ``cancel()`` returning True
    stops the run with :class:`Cancelled` (the partial stays for resuming, see module doc).
    ``metadata`` (e.g. ``licence``, ``attribution``) is written into the output with the source,
    extent and date. ``compress``: ``DEFLATE`` (lossless, default) or ``JPEG`` (8-bit RGB/grey).
    Remote imagery is read through the persistent tile cache (:mod:`.service`), so a second
    download of the same area costs no network and works with the server unreachable; the
    journal, messages and metadata name the source in its origin form, without credentials.
    ``layer``: the raster table of a GeoPackage output (default: the file name without suffix);
    an existing GeoPackage keeps its other layers (see the module doc).
    """
    t0 = time.monotonic()
    _wms_cache_in_cache_dir()
    fmt = fmt.upper()
    if fmt not in ("COG", "GPKG"):
        raise UserInputError(tr("Unknown pack format {fmt}: choose COG or GPKG.").format(fmt=fmt))
    compress = compress.upper()
    if compress not in ("DEFLATE", "JPEG"):
        raise UserInputError(tr("Unknown compression {name}: choose DEFLATE or JPEG.").format(name=compress))
    if block % 16 or block < 64:
        raise UserInputError(tr("The block size must be a multiple of 16, at least 64 pixels."))
    out_path = Path(out_path)
    _check_writable(out_path.parent)
    partial, journal = partial_paths(out_path)
    say = progress or (lambda _f, _m: None)
    read_path = cache_service.cached_gdal_path(source)
    source = cache_service.redact(cache_service.origin_gdal_path(source))

    with rasterio.Env(**GDAL_HTTP_ENV):
        src = _open_source(read_path, source)
        with src:
            check_complete(src, source)  # a truncated GeoTIFF is refused before any work
            grid = _plan(src, source, extent, extent_crs, resolution)
            args = {
                "version": JOURNAL_VERSION,
                "source": source,
                "extent": [float(v) for v in extent],
                "extent_crs": str(extent_crs),
                "resolution": resolution,
                "block": block,
                "grid": grid["key"],
            }
            nbx = math.ceil(grid["width"] / block)
            nby = math.ceil(grid["height"] / block)
            total = nbx * nby
            done = _load_journal(journal, partial, args)
            resumed = done is not None
            if done is None:
                done = set()
                _discard(partial, journal)
                _create_partial(src, partial, grid, block)
                _write_journal(journal, args, done, total)
            blocks_resumed = len(done)
            LOG.info("pack %s: %d/%d blocks already done", out_path.name, blocks_resumed, total)
            job = _Job(source, grid, partial, journal, args, nbx, total, block, out_path, checkpoint_seconds)
            _fill_partial(src, job, done, say, cancel)

    say(0.9, tr("Writing {name}…").format(name=out_path.name))
    meta = {
        "source": source,
        "extent": ",".join(repr(float(v)) for v in extent),
        "extent_crs": str(extent_crs),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "generator": "IdF HR offline pack",
    }
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    _finalize(partial, out_path, fmt, compress, meta, say, cancel, layer or out_path.stem)
    _discard(partial, journal)
    say(1.0, tr("Offline pack ready: {path}").format(path=out_path))
    return PackResult(
        path=out_path,
        bytes=out_path.stat().st_size,
        pixels=grid["width"] * grid["height"],
        width=grid["width"],
        height=grid["height"],
        bands=grid["count"],
        crs=grid["crs"],
        bounds=grid["bounds"],
        seconds=time.monotonic() - t0,
        blocks_done=len(done),
        blocks_total=total,
        blocks_resumed=blocks_resumed,
        resumed=resumed,
    )


# -- planning ------------------------------------------------------------------------------
def _is_remote(source: str) -> bool:
    s = source.lower()
    return s.startswith(("/vsicurl", "http://", "https://", "wmts:", "/vsis3", "/vsigs", "/vsiaz"))


def _open_source(path: str, source: str):
    """Open ``path`` (``source`` as read through the cache); errors name ``source``."""
    try:
        return rasterio.open(path)
    except GDAL_ERRORS as exc:
        if _is_remote(source):
            raise NetworkError(
                tr(
                    "Could not open the imagery source {source} ({error}). Check your network "
                    "connection and the source address."
                ).format(source=source, error=exc)
            ) from exc
        raise UserInputError(
            tr(
                "Could not open the imagery {source} ({error}). Check that the file exists and is a raster."
            ).format(source=source, error=exc)
        ) from exc


def _plan(src, source: str, extent, extent_crs: str, resolution: float | None) -> dict[str, Any]:
    """Output grid: size, transform, CRS, and how to read each block from the source."""
    if src.crs is None:
        raise UserInputError(
            tr(
                "The imagery {source} has no coordinate reference system; it cannot be cut to an extent."
            ).format(source=source)
        )
    tr_ = src.transform
    if tr_.b != 0 or tr_.d != 0:
        raise UserInputError(
            tr("The imagery {source} is rotated; only north-up imagery can be packed.").format(source=source)
        )
    xmin, ymin, xmax, ymax = (float(v) for v in extent)
    if not (xmax > xmin and ymax > ymin):
        raise UserInputError(tr("The extent is empty: xmax must exceed xmin and ymax exceed ymin."))
    try:
        bx = transform_bounds(extent_crs, src.crs, xmin, ymin, xmax, ymax, densify_pts=21)
    except (*GDAL_ERRORS, ValueError) as exc:
        raise UserInputError(
            tr("The extent CRS {crs} is not understood ({error}).").format(crs=extent_crs, error=exc)
        ) from exc
    sb = src.bounds
    left, bottom = max(bx[0], sb.left), max(bx[1], sb.bottom)
    right, top = min(bx[2], sb.right), min(bx[3], sb.top)
    if left >= right or bottom >= top:
        raise UserInputError(
            tr("The chosen extent does not overlap the imagery of {source}. Pick an extent over it.").format(
                source=source
            )
        )
    native = abs(tr_.a)
    if resolution is not None and resolution <= 0:
        raise UserInputError(tr("The resolution must be a positive number of metres per pixel."))
    if resolution is None or abs(resolution - native) <= 1e-9 * native:
        win = from_bounds(left, bottom, right, top, tr_)
        eps = 1e-6
        c0 = max(0, math.floor(win.col_off + eps))
        r0 = max(0, math.floor(win.row_off + eps))
        c1 = min(src.width, math.ceil(win.col_off + win.width - eps))
        r1 = min(src.height, math.ceil(win.row_off + win.height - eps))
        width, height = c1 - c0, r1 - r0
        transform = src.window_transform(Window(c0, r0, width, height))
        mode = "native"
        offset = (c0, r0)
    else:
        x0, y0 = tr_.c, tr_.f
        c0 = math.floor((left - x0) / resolution + 1e-6)
        c1 = math.ceil((right - x0) / resolution - 1e-6)
        r0 = math.floor((y0 - top) / resolution + 1e-6)
        r1 = math.ceil((y0 - bottom) / resolution - 1e-6)
        width, height = c1 - c0, r1 - r0
        transform = Affine(resolution, 0, x0 + c0 * resolution, 0, -resolution, y0 - r0 * resolution)
        mode = "resampled"
        offset = (0, 0)
    if width <= 0 or height <= 0:
        raise UserInputError(tr("The chosen extent is smaller than one pixel of the imagery."))
    crs = src.crs.to_string()
    bounds = (transform.c, transform.f + height * transform.e, transform.c + width * transform.a, transform.f)
    key = {
        "mode": mode,
        "width": width,
        "height": height,
        "transform": list(transform)[:6],
        "crs": crs,
        "count": src.count,
        "dtype": src.dtypes[0],
    }
    return {
        "key": key,
        "mode": mode,
        "width": width,
        "height": height,
        "transform": transform,
        "offset": offset,
        "crs": crs,
        "count": src.count,
        "dtype": src.dtypes[0],
        "bounds": bounds,
        "upsample": resolution is not None and resolution < native,
    }


# -- the partial and its journal ---------------------------------------------------------------
def _create_partial(src, partial: Path, grid: dict[str, Any], block: int) -> None:
    profile = {
        "driver": "GTiff",
        "width": grid["width"],
        "height": grid["height"],
        "count": grid["count"],
        "dtype": grid["dtype"],
        "crs": src.crs,
        "transform": grid["transform"],
        "nodata": src.nodata,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        **_partial_compression(),
        "bigtiff": "IF_SAFER",
        "interleave": "pixel",
    }
    try:
        with rasterio.open(partial, "w", **profile) as dst:
            try:
                dst.colorinterp = src.colorinterp
            except (*GDAL_ERRORS, ValueError):
                pass
    except (*GDAL_ERRORS, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise _write_error(partial.parent, exc) from exc


def _partial_compression() -> dict[str, Any]:
    """Fast, lossless compression for the partial: ZSTD level 1 when GDAL has it, else DEFLATE 1."""
    from osgeo import gdal

    options = gdal.GetDriverByName("GTiff").GetMetadataItem("DMD_CREATIONOPTIONLIST") or ""
    if "ZSTD" in options:
        return {"compress": "ZSTD", "zstd_level": 1}
    return {"compress": "DEFLATE", "zlevel": 1}


def _load_journal(journal: Path, partial: Path, args: dict[str, Any]) -> set[int] | None:
    """Completed block indices if the journal matches ``args`` and the partial opens, else None."""
    try:
        state = json.loads(journal.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if state.get("args") != json.loads(json.dumps(args)) or not partial.is_file():
        LOG.info("journal %s does not match this request; starting over", journal)
        return None
    try:
        with rasterio.open(partial) as p:
            key = args["grid"]
            if (p.width, p.height, p.count) != (key["width"], key["height"], key["count"]):
                return None
    except GDAL_ERRORS:
        return None
    return {int(i) for i in state.get("done", [])}


def _write_journal(journal: Path, args: dict[str, Any], done: set[int], total: int) -> None:
    tmp = journal.with_name(journal.name + ".tmp")
    payload = {"args": args, "blocks_total": total, "done": sorted(done)}
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, journal)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@dataclass
class _Job:
    """Everything the block loop needs about one pack."""

    source: str
    grid: dict[str, Any]
    partial: Path
    journal: Path
    args: dict[str, Any]
    nbx: int
    total: int
    block: int
    out_path: Path
    checkpoint_seconds: float


def _fill_partial(src, job: _Job, done: set[int], say: ProgressFn, cancel: CancelFn | None) -> None:
    """Read every missing block into the partial, checkpointing the journal as it goes."""
    width, height, block, total = job.grid["width"], job.grid["height"], job.block, job.total
    partial, journal, args = job.partial, job.journal, job.args
    todo = [i for i in range(total) if i not in done]
    pending: set[int] = set()
    last = time.monotonic()
    try:
        dst = rasterio.open(partial, "r+")
    except GDAL_ERRORS as exc:
        raise _write_error(partial.parent, exc) from exc
    ok = False
    try:
        for i in todo:
            if cancel is not None and cancel():
                raise Cancelled(
                    tr(
                        "Download cancelled: nothing was written to {path}. Run it again with the same "
                        "settings to resume ({done} of {total} blocks are kept in {partial})."
                    ).format(path=job.out_path, done=len(done) + len(pending), total=total, partial=partial)
                )
            bx, by = i % job.nbx, i // job.nbx
            win = Window(
                bx * block, by * block, min(block, width - bx * block), min(block, height - by * block)
            )
            data = _read_block(src, job.source, job.grid, win)
            try:
                dst.write(data, window=win)
            except GDAL_ERRORS as exc:
                raise _write_error(partial.parent, exc) from exc
            pending.add(i)
            if time.monotonic() - last >= job.checkpoint_seconds:
                dst.close()
                _fsync(partial)
                done |= pending
                pending.clear()
                _write_journal(journal, args, done, total)
                dst = rasterio.open(partial, "r+")
                last = time.monotonic()
            n = len(done) + len(pending)
            say(0.9 * n / total, tr("Downloaded {n} of {total} blocks").format(n=n, total=total))
        ok = True
    finally:
        try:
            dst.close()
            _fsync(partial)
            done |= pending
            _write_journal(journal, args, done, total)
        except (*GDAL_ERRORS, OSError) as exc:
            if ok:
                raise _write_error(partial.parent, exc) from exc
            LOG.warning("could not checkpoint %s: %s", partial, exc)


def _read_block(src, source: str, grid: dict[str, Any], win: Window) -> np.ndarray:
    try:
        if grid["mode"] == "native":
            c0, r0 = grid["offset"]
            return src.read(window=Window(c0 + win.col_off, r0 + win.row_off, win.width, win.height))
        t = grid["transform"]
        left = t.c + win.col_off * t.a
        top = t.f + win.row_off * t.e
        right = left + win.width * t.a
        bottom = top + win.height * t.e
        swin = from_bounds(left, bottom, right, top, src.transform)
        inside = (
            swin.col_off >= 0
            and swin.row_off >= 0
            and swin.col_off + swin.width <= src.width
            and swin.row_off + swin.height <= src.height
        )
        return src.read(
            window=swin,
            out_shape=(src.count, int(win.height), int(win.width)),
            resampling=Resampling.bilinear if grid["upsample"] else Resampling.average,
            boundless=not inside,
            fill_value=src.nodata if src.nodata is not None else 0,
        )
    except GDAL_ERRORS as exc:
        if _is_remote(source):
            raise NetworkError(
                tr(
                    "Reading {source} failed ({error}). Check your network connection, then run the "
                    "download again: it resumes where it stopped."
                ).format(source=source, error=exc)
            ) from exc
        raise UserInputError(
            tr("Reading {source} failed ({error}). The file may be damaged.").format(source=source, error=exc)
        ) from exc


def _discard(*paths: Path) -> None:
    for p in paths:
        for q in (p, p.with_name(p.name + ".aux.xml"), p.with_name(p.name + ".tmp")):
            q.unlink(missing_ok=True)


# -- conversion to the final format -----------------------------------------------------------------
def _finalize(
    partial: Path,
    out_path: Path,
    fmt: str,
    compress: str,
    meta: dict[str, str],
    say,
    cancel,
    table: str | None = None,
) -> None:
    from osgeo import gdal  # same libgdal as rasterio (Debian); gives progress callbacks

    suffix = ".gpkg" if fmt == "GPKG" else ".tif"
    remove_stale_temps(out_path)
    tmp = temp_path(out_path, suffix)
    table = table or out_path.stem
    cancelled = []

    def callback(fraction, _msg, _data):
        if cancel is not None and cancel():
            cancelled.append(True)
            return 0
        say(0.9 + 0.1 * min(1.0, fraction), tr("Writing {name}…").format(name=out_path.name))
        return 1

    src = gdal.Open(str(partial))
    bands = src.RasterCount
    dtype = gdal.GetDataTypeName(src.GetRasterBand(1).DataType)
    if compress == "JPEG" and not (dtype == "Byte" and bands in (1, 3, 4)):
        raise UserInputError(
            tr("JPEG compression needs 8-bit grey or RGB imagery; use DEFLATE for this source.")
        )
    md = [f"{k}={v}" for k, v in meta.items()]
    if "attribution" in meta and fmt == "COG":
        md.append(f"TIFFTAG_COPYRIGHT={meta['attribution']}")
    if fmt == "COG":
        co = ["BLOCKSIZE=512", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS", "OVERVIEW_RESAMPLING=AVERAGE"]
        co += (
            ["COMPRESS=JPEG", "QUALITY=90"]
            if compress == "JPEG"
            else ["COMPRESS=DEFLATE", "PREDICTOR=YES", "LEVEL=3"]
        )
        driver = "COG"
    else:
        if dtype != "Byte" and bands > 1:
            raise UserInputError(
                tr("A GeoPackage raster holds 8-bit imagery or a single band; choose the COG format instead.")
            )
        co = ["TILE_FORMAT=" + ("JPEG" if compress == "JPEG" else "PNG"), f"RASTER_TABLE={table}"]
        driver = "GPKG"
    gdal.ErrorReset()
    try:
        try:  # GDAL may be in exception mode (another module called gdal.UseExceptions())
            ds = gdal.Translate(
                str(tmp),
                src,
                options=gdal.TranslateOptions(
                    format=driver, creationOptions=co, metadataOptions=md, callback=callback
                ),
            )
        except RuntimeError as exc:
            raise _gdal_failure(cancelled, out_path, str(exc)) from exc
        src = None
        if ds is None:
            raise _gdal_failure(cancelled, out_path, gdal.GetLastErrorMsg())
        if fmt == "GPKG":
            factors, size = [], max(ds.RasterXSize, ds.RasterYSize)
            while size / (2 ** (len(factors) + 1)) >= 256:
                factors.append(2 ** (len(factors) + 1))
            try:
                failed = bool(factors) and ds.BuildOverviews("AVERAGE", factors, callback=callback) != 0
            except RuntimeError:
                failed = True
            if failed:
                ds = None
                raise _gdal_failure(cancelled, out_path, gdal.GetLastErrorMsg())
        ds = None  # close: everything flushed
        _fsync(tmp)
        if fmt != "GPKG":
            os.replace(tmp, out_path)
        elif out_path.exists() or not publish(tmp, out_path):
            if cancel is not None and cancel():
                raise _gdal_failure([True], out_path, "")
            add_to_gpkg(out_path, lambda gpkg: copy_tiles_table(gpkg, table), attach={"src": tmp})
    finally:
        ds = None
        remove_with_sidecars(tmp)
        tmp.with_name(tmp.name + ".aux.xml").unlink(missing_ok=True)


def _gdal_failure(cancelled: list, out_path: Path, message: str) -> IdfHrError:
    if cancelled:
        return Cancelled(
            tr(
                "Download cancelled while writing {path}: nothing was written there. Run it again to "
                "finish; the downloaded pixels are kept."
            ).format(path=out_path)
        )
    return _write_error(out_path.parent, OSError(message))


# -- errors ----------------------------------------------------------------------------------------------
def _check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written there, else UserInputError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".idfhr-write-test-{os.getpid()}"
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        probe.unlink()
    except OSError as exc:
        raise _write_error(folder, exc) from exc


def _write_error(folder: Path, exc: BaseException) -> UserInputError:
    text = str(exc)
    if is_disk_full(exc, folder):
        return UserInputError(
            tr(
                "There is not enough free disk space in {folder} for this offline pack. Free some "
                "space or choose another folder, then run it again: it resumes where it stopped."
            ).format(folder=folder)
        )
    return UserInputError(
        tr("Cannot write the offline pack in {folder} ({error}). Choose a folder you can write to.").format(
            folder=folder, error=text
        )
    )
