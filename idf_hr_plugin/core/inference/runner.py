"""Run a model over an extent: plan -> read (background thread) -> infer -> decode -> merge -> write.

Reading and pre-processing of the next batch happen in a background thread (bounded queue)
while ONNX Runtime runs the current one, and the previous batch is decoded (NMS, polygons,
segmentation stitching) in a second one; only vectors are kept, segmentation seams are stitched
window by window and GDAL's block cache is bounded, so memory does not grow with the extent.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import queue
import sys
import threading
import time
import uuid
from typing import Callable, Optional, Sequence, Union

import numpy as np

from ..errors import Cancelled, IdfHrError, UserInputError
from ..i18n import tr
from . import geom as G
from .clip import analysed_area, clip_to_plan
from .decoders import decode_detections, decode_semantic, materialise_masks, output_mapping
from .model import ModelSpec, create_session, load_model_spec, overlap_px
from .nms import nms
from .params import check_detection_params
from .reader import RasterioWindowReader, WindowReader, raster_band_info, raster_error, resolve_band_map
from .report import RunReport, energy_estimate, watts_per_core
from .results import PartialResult, SegmentStitcher, merge_results
from .tiling import Grid, Job, Tile, TilePlan, plan_tiles, to_crs
from .writer import check_output_path, class_scores_texts, layer_name_for, write_gpkg

log = logging.getLogger(__name__)

ProgressCb = Callable[[int, int, float], None]
CancelCb = Callable[[], bool]

# GDAL's block cache defaults to 5 % of RAM and fills up with blocks read once: it is what made
# the peak RSS grow with the extent. Windows are read in row-major order, so a few rows of
# blocks is all the reuse there is (overlaps).
GDAL_CACHE_BYTES = 96 << 20


def auto_batch_size(spec: ModelSpec, tile: int) -> int:
    """Batch size: the model's fixed batch, else a few tiles (bounded to ~16 MB of input)."""
    if spec.fixed_batch:
        return int(spec.fixed_batch)
    per_tile = spec.channels * tile * tile * 4
    return int(max(1, min(8, (16 << 20) // max(per_tile, 1))))


def preprocess(
    arr: np.ndarray, out: np.ndarray, mean: Optional[np.ndarray], std: Optional[np.ndarray]
) -> None:
    """uint8 bands (C, H, W) -> float32 in ``out``: /255, then (x - mean) / std if given."""
    np.multiply(arr, np.float32(1.0 / 255.0), out=out, casting="unsafe")
    if mean is not None:
        out -= mean
    if std is not None:
        out /= std


def _model_tile_size(spec: ModelSpec, tile_size: Optional[int], notes: list) -> int:
    shape = spec.input.shape
    h, w = shape[2], shape[3]
    if isinstance(h, int) and h > 0 and isinstance(w, int) and w > 0:
        if h != w:
            raise UserInputError(
                tr("The model input is {h}x{w} px; only square inputs are supported.").format(h=h, w=w)
            )
        if tile_size and int(tile_size) != h:
            notes.append(
                tr("The model has a fixed {n} px input: tile size {t} px replaced by {n} px.").format(
                    n=h, t=tile_size
                )
            )
        return int(h)
    return int(tile_size or spec.tile_size or 512)


class _Prefetcher:
    """Background thread that reads + pre-processes batches into a bounded queue."""

    def __init__(self, reader: WindowReader, tiles: Sequence[Tile], spec: ModelSpec, tile: int, batch: int):
        self.reader, self.tiles, self.tile, self.batch = reader, list(tiles), tile, batch
        self.channels = spec.channels
        self.fixed = spec.fixed_batch
        self.mean = None if spec.mean is None else np.asarray(spec.mean, np.float32).reshape(-1, 1, 1)
        self.std = None if spec.std is None else np.asarray(spec.std, np.float32).reshape(-1, 1, 1)
        self.q: queue.Queue = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.read_s = 0.0
        self.nodata = 0
        self.thread = threading.Thread(target=self._run, name="idfhr-prefetch", daemon=True)

    def start(self) -> _Prefetcher:
        self.thread.start()
        return self

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            T, C = self.tile, self.channels
            for k in range(0, len(self.tiles), self.batch):
                if self.stop.is_set():
                    return
                t0 = time.perf_counter()
                chunk = self.tiles[k : k + self.batch]
                rows = self.fixed or len(chunk)
                arr = np.zeros((rows, C, T, T), np.float32)
                kept = []
                for t in chunk:
                    bands, valid = self.reader.read(t.col, t.row, T, T)
                    if not valid.any():
                        self.nodata += 1
                        continue
                    preprocess(bands, arr[len(kept)], self.mean, self.std)
                    kept.append((t, valid))
                if not self.fixed:
                    arr = arr[: max(len(kept), 1)]
                self.read_s += time.perf_counter() - t0
                if not self._put((kept, arr, len(chunk))):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the consumer, re-raised there
            self._put(exc)

    def close(self) -> None:
        self.stop.set()
        try:
            while True:
                self.q.get_nowait()
        except queue.Empty:
            pass
        self.thread.join(timeout=30)


class _PostWorker:
    """One thread that post-processes batches in order while ONNX Runtime runs the next one.

    The queue holds one batch, so at most two batches of model outputs are alive. An error is
    re-raised in the caller's thread by :meth:`submit` or :meth:`close`.
    """

    def __init__(self, fn: Callable):
        self.fn = fn
        self.q: queue.Queue = queue.Queue(maxsize=1)
        self.error: Optional[BaseException] = None
        self.drop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="idfhr-post", daemon=True)

    def start(self) -> _PostWorker:
        self.thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            if self.error is not None or self.drop.is_set():
                continue  # keep draining so the producer never blocks
            try:
                self.fn(*item)
            except BaseException as exc:  # handed to the producer, re-raised there
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def submit(self, item: tuple) -> None:
        self._raise()
        self.q.put(item)

    def close(self, drop: bool = False) -> None:
        """Wait for the batches submitted (``drop``: skip those not started) and stop the thread."""
        if not self.thread.is_alive():
            return
        if drop:
            self.drop.set()
        self.q.put(None)
        self.thread.join()
        if not drop:
            self._raise()


def _polygonise(mask: np.ndarray, x0: float, y0: float, values: Optional[np.ndarray] = None) -> list:
    """Polygons (grid px) of the True areas of ``mask`` whose top-left is at (x0, y0)."""
    from affine import Affine
    from rasterio import features
    from shapely.geometry import shape

    tr_ = Affine.translation(x0, y0)
    src = values if values is not None else mask.astype(np.uint8)
    return [(shape(g), int(v)) for g, v in features.shapes(src, mask=mask, transform=tr_)]


def _segment_tile(scores: np.ndarray, tile: Tile, grid: Grid, thresh: float) -> list:
    """Threshold + polygonise the core (centre crop) of one tile's class score maps.

    Returns the pieces ``(polygon in grid px, class, mean score, touches a seam)``.
    """
    cx0, cy0, cx1, cy1 = tile.core
    sub = scores[:, cy0 - tile.row : cy1 - tile.row, cx0 - tile.col : cx1 - tile.col]
    try:
        from scipy import ndimage
    except ImportError:  # pragma: no cover - scipy is optional
        ndimage = None
    out = []
    for k in range(sub.shape[0]):
        binary = sub[k] > thresh
        if not binary.any():
            continue
        if ndimage is not None:
            lab, n = ndimage.label(binary)
            means = np.asarray(ndimage.mean(sub[k], lab, index=np.arange(1, n + 1)), np.float64)
            pieces = _polygonise(binary, cx0, cy0, lab.astype(np.int32))
        else:
            means = np.array([float(sub[k][binary].mean())])
            pieces = [(g, 1) for g, _v in _polygonise(binary, cx0, cy0)]
        for g, v in pieces:
            gx0, gy0, gx1, gy1 = g.bounds
            seam = (
                (gx0 <= cx0 and cx0 > 0)
                or (gy0 <= cy0 and cy0 > 0)
                or (gx1 >= cx1 and cx1 < grid.width)
                or (gy1 >= cy1 and cy1 < grid.height)
            )
            score = float(means[v - 1]) if v - 1 < len(means) else float(means[0])
            out.append((g, k, score, bool(seam)))
    return out


def _detect_tile(
    part, det, tile: Tile, valid: np.ndarray, grid: Grid, spec: ModelSpec, iou: float, agnostic: bool
):
    if len(det) == 0:
        return
    keep = nms(det.boxes, det.scores, det.class_ids, iou_thr=iou, agnostic=agnostic, rboxes=det.rboxes)
    det = det.select(keep)
    T = tile.size
    raw_cx = (det.boxes[:, 0] + det.boxes[:, 2]) / 2
    raw_cy = (det.boxes[:, 1] + det.boxes[:, 3]) / 2
    # a box centred outside the tile (or in the padding past the raster edge) is not an object of this raster
    ok = (raw_cx >= 0) & (raw_cx < T) & (raw_cy >= 0) & (raw_cy < T)
    cx = np.clip(raw_cx, 0, T - 1)
    cy = np.clip(raw_cy, 0, T - 1)
    ok &= (cx + tile.col < grid.width) & (cy + tile.row < grid.height)
    ok &= valid[cy.astype(int), cx.astype(int)]
    det = det.select(ok)
    polys = None
    if det.coeffs is not None and len(det):
        det = materialise_masks(det, (T, T))
        polys = []
        for m, (x0, y0, _x1, _y1) in zip(det.masks, det.mask_boxes):
            pieces = (
                [g for g, _v in _polygonise(m, x0 + tile.col, y0 + tile.row)] if m.size and m.any() else []
            )
            polys.append(G.union(pieces) if pieces else None)
    part.add_detections(det, tile, grid, polys)


def run_tiles(
    spec: ModelSpec,
    session,
    plan: TilePlan,
    reader: WindowReader,
    tiles: Sequence[Tile],
    *,
    batch_size: int,
    conf: float,
    iou: float,
    agnostic: bool = False,
    seg_thresh: float = 0.5,
    progress: Optional[ProgressCb] = None,
    cancel: Optional[CancelCb] = None,
    timings: Optional[dict] = None,
) -> PartialResult:
    """Run the model on ``tiles`` (read through ``reader``) and return their vectors."""
    part = PartialResult()
    T = plan.tile_size
    input_name = spec.input.name
    seg = spec.task == "semantic_segmentation"
    stitcher = SegmentStitcher(plan.tiles) if seg else None
    clock = {"decode_s": 0.0, "merge_s": 0.0}

    def post(kept: list, outs, chunk: Sequence[Tile]) -> None:
        """Decode + NMS (or polygonise + stitch) one batch; runs while the next one is inferred."""
        t1 = time.perf_counter()
        by_tile: dict = {}
        if kept and seg:
            scores, _margin = decode_semantic(outs, spec.seg_output_classes, (T, T), spec.seg_activation)
            for i, (tile, valid) in enumerate(kept):
                by_tile[tile.id] = _segment_tile(scores[i] * valid[None], tile, plan.grid, seg_thresh)
                part.detections += len(by_tile[tile.id])
        elif kept:
            dets = decode_detections(spec, outs, conf)
            for i, (tile, valid) in enumerate(kept):
                _detect_tile(part, dets[i], tile, valid, plan.grid, spec, iou, agnostic)
        t2 = time.perf_counter()
        clock["decode_s"] += t2 - t1
        if stitcher is not None:
            for tile in chunk:  # no-data tiles are added empty
                stitcher.add(tile.id, by_tile.get(tile.id, ()))
            clock["merge_s"] += time.perf_counter() - t2

    pre = _Prefetcher(reader, tiles, spec, T, batch_size).start()
    worker = _PostWorker(post).start()
    total, done = len(tiles), 0
    t_start = time.perf_counter()
    infer_s = 0.0
    try:
        while True:
            if cancel is not None and cancel():
                raise Cancelled()
            item = pre.q.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            kept, batch, n_chunk = item
            outs = None
            if kept:
                t0 = time.perf_counter()
                try:
                    outs = session.run(None, {input_name: batch})
                except Exception as exc:
                    raise UserInputError(
                        tr("ONNX Runtime failed on this model and imagery: {err}").format(err=str(exc)[:300])
                    ) from exc
                infer_s += time.perf_counter() - t0
                part.tiles_run += len(kept)
            worker.submit((kept, outs, tiles[done : done + n_chunk]))
            done += n_chunk
            if progress is not None:
                el = time.perf_counter() - t_start
                progress(done, total, el / done * (total - done) if done else 0.0)
        worker.close()
    finally:
        worker.close(drop=True)
        pre.close()
    if stitcher is not None:
        t2 = time.perf_counter()
        if len(tiles) == len(plan.tiles):
            stitcher.finish()
        else:  # a job: pieces next to other jobs' windows are stitched by merge_results
            part.seg_pending, part.seg_cores = stitcher.pending()
        part.seg_polys, part.seg_class, part.seg_score = stitcher.geoms, stitcher.classes, stitcher.scores
        clock["merge_s"] += time.perf_counter() - t2
    part.tiles_nodata = pre.nodata
    if timings is not None:
        timings["read_s"] = timings.get("read_s", 0.0) + pre.read_s
        timings["infer_s"] = timings.get("infer_s", 0.0) + infer_s
        timings["decode_s"] = timings.get("decode_s", 0.0) + clock["decode_s"]
        if seg:
            timings["merge_s"] = timings.get("merge_s", 0.0) + clock["merge_s"]
    return part


def _bound_cache(requested: Optional[bool]) -> bool:
    """Bound GDAL's block cache during the run? Default: only outside a running QGIS.

    The cache is process-wide: inside QGIS, shrinking it evicts blocks that QGIS's rendering
    threads are using, and QGIS sizes it itself. (``qgis.core`` is only looked up, never imported.)
    """
    if requested is not None:
        return requested
    qgis_core = sys.modules.get("qgis.core")
    return qgis_core is None or qgis_core.QgsApplication.instance() is None


@contextlib.contextmanager
def bounded_gdal_cache(limit: int = GDAL_CACHE_BYTES):
    """Lower GDAL's block cache to ``limit`` bytes for the duration of a run (restored after)."""
    try:
        from osgeo import gdal
    except ImportError:  # pragma: no cover - GDAL's Python bindings come with rasterio's GDAL
        yield
        return
    old = gdal.GetCacheMax()
    if old > limit:
        gdal.SetCacheMax(limit)
    try:
        yield
    finally:
        if old > limit:
            gdal.SetCacheMax(old)


def _load_mask(mask, mask_crs):
    """Mask argument: shapely geometry/list, or a vector file path -> (geoms, crs)."""
    if mask is None:
        return None, mask_crs
    if isinstance(mask, (str, os.PathLike)):
        return read_mask_file(str(mask))
    return mask, mask_crs


def read_mask_file(path: str) -> tuple:
    """Polygons of a vector file (first layer) -> (list of shapely geometries, CRS WKT)."""
    from osgeo import ogr
    from shapely import wkb

    ds = ogr.Open(path)
    if ds is None or ds.GetLayerCount() == 0:
        raise UserInputError(tr("The mask '{path}' is not a readable vector file.").format(path=path))
    lyr = ds.GetLayer(0)
    srs = lyr.GetSpatialRef()
    geoms = []
    for f in lyr:
        g = f.GetGeometryRef()
        if g is not None:
            geoms.append(wkb.loads(bytes(g.ExportToWkb())))
    polys = [g for g in geoms if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        raise UserInputError(tr("The mask '{path}' holds no polygon.").format(path=path))
    return polys, (srs.ExportToWkt() if srs is not None else None)


def run_detection(
    model: Union[str, os.PathLike, ModelSpec],
    raster: str,
    extent: Optional[Sequence[float]] = None,
    extent_crs=None,
    mask=None,
    out_path: Optional[Union[str, os.PathLike]] = None,
    *,
    mask_crs=None,
    batch_size: Optional[int] = None,
    conf: Optional[float] = None,
    iou: Optional[float] = None,
    ios: Optional[float] = 0.7,
    agnostic: bool = False,
    seg_thresh: Optional[float] = None,
    tile_size: Optional[int] = None,
    overlap: Optional[int] = None,
    band_map: Union[str, Sequence[int], None] = None,
    task: Optional[str] = None,
    layout: Optional[str] = None,
    expected_sha256: Optional[str] = None,
    out_crs=None,
    geographic: str = "warp",
    progress: Optional[ProgressCb] = None,
    cancel: Optional[CancelCb] = None,
    job: Optional[Job] = None,
    threads: Optional[int] = None,
    providers: Optional[Sequence[str]] = None,
    session=None,
    reader_factory: Optional[Callable[[TilePlan, ModelSpec], WindowReader]] = None,
    source: str = "",
    vintage: str = "",
    layer_name: Optional[str] = None,
    simplify_px: Optional[float] = None,
    min_area_px: Optional[float] = None,
    watts: Optional[float] = None,
    bound_gdal_cache: Optional[bool] = None,
) -> RunReport:
    """Detect/segment over ``extent`` of ``raster`` and write a GeoPackage layer to ``out_path``.

    ``model``: ONNX path or a loaded :class:`ModelSpec`. ``extent`` (xmin, ymin, xmax, ymax)
    in ``extent_crs`` (default: the raster's CRS). ``mask``: polygons (shapely, in ``mask_crs``)
    or a vector file. ``progress(done, total, eta_s)``; ``cancel()`` -> True stops the run
    (raises :class:`Cancelled`, nothing written). ``job``: run only that tile range; its
    vectors are in ``report.partial`` for :func:`merge_results`. Errors the user can fix raise
    :class:`UserInputError`. ``session``: a ``(session, SessionInfo)`` from
    :func:`create_session` to reuse across runs.
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    started = _dt.datetime.now(_dt.timezone.utc)
    notes: list = []
    check_detection_params(
        raster=raster if reader_factory is None else None,
        mask=mask,
        conf=conf,
        iou=iou,
        ios=ios,
        seg_thresh=seg_thresh,
        batch_size=batch_size,
        tile_size=tile_size,
        overlap=overlap,
        threads=threads,
        out_crs=out_crs,
    )
    if out_path is not None:
        check_output_path(out_path)
    spec = (
        model
        if isinstance(model, ModelSpec)
        else load_model_spec(model, expected_sha256=expected_sha256, task=task, layout=layout)
    )
    if spec.task not in ("detection", "obb", "instance_segmentation", "semantic_segmentation"):
        raise UserInputError(
            tr(
                "The model '{name}' is a {task} model: it produces a raster, not objects, and cannot be "
                "used for detection. Choose a detection or segmentation model."
            ).format(name=spec.name, task=spec.task)
        )
    T = _model_tile_size(spec, tile_size, notes)
    ov = int(overlap) if overlap is not None else overlap_px(spec, T)
    if spec.task == "semantic_segmentation":
        out0 = spec.outputs[0].shape
        if len(out0) >= 3 and isinstance(out0[-1], int) and isinstance(out0[-2], int):
            kind, margin = output_mapping(out0[-2:], (T, T))
            if kind == "centre" and ov < 2 * margin + 2:
                notes.append(
                    tr("The model sees only the centre of each tile: overlap raised to {ov} px.").format(
                        ov=2 * margin + 2
                    )
                )
                ov = 2 * margin + 2
    ov = min(ov, T - 1)
    mask_geoms, mask_crs = _load_mask(mask, mask_crs)
    bands = alpha = None
    read_path = raster
    if reader_factory is None:
        # remote imagery is read through the persistent cache, as in QGIS and for downloads
        from ..tiles.service import cached_gdal_path

        read_path = cached_gdal_path(str(raster))
        count, ci = raster_band_info_safe(read_path)
        bands, alpha = resolve_band_map(band_map, count, ci, spec.channels)
    plan = plan_tiles(
        read_path,
        tile_size=T,
        overlap=ov,
        gsd_m=spec.gsd_m,
        extent=extent,
        extent_crs=extent_crs,
        mask=mask_geoms,
        mask_crs=mask_crs,
        geographic=geographic,
    )
    notes.extend(plan.notes)
    tiles = [plan.tiles[i] for i in job.tile_ids()] if job is not None else plan.tiles
    session, sinfo = (
        session if session is not None else create_session(spec, providers=providers, threads=threads)
    )
    bs = int(spec.fixed_batch or batch_size or auto_batch_size(spec, T))
    reader = (
        reader_factory(plan, spec)
        if reader_factory
        else RasterioWindowReader(read_path, plan.grid, bands, alpha)
    )
    if getattr(reader, "channels", spec.channels) != spec.channels:
        reader.close()
        raise UserInputError(
            tr("The imagery gives {n} channel(s) but the model expects {mc}.").format(
                n=reader.channels, mc=spec.channels
            )
        )
    conf_v = float(conf if conf is not None else spec.conf)
    iou_v = float(iou if iou is not None else spec.iou)
    thr_v = float(seg_thresh if seg_thresh is not None else spec.seg_thresh)
    timings: dict = {}
    try:
        with bounded_gdal_cache() if _bound_cache(bound_gdal_cache) else contextlib.nullcontext():
            part = run_tiles(
                spec,
                session,
                plan,
                reader,
                tiles,
                batch_size=bs,
                conf=conf_v,
                iou=iou_v,
                agnostic=agnostic,
                seg_thresh=thr_v,
                progress=progress,
                cancel=cancel,
                timings=timings,
            )
    finally:
        reader.close()
    if cancel is not None and cancel():
        raise Cancelled()
    t_m = time.perf_counter()
    small = min_area_px if min_area_px is not None else float(spec.seg_small_segment_px)
    simp = simplify_px if simplify_px is not None else (0.5 if spec.task == "semantic_segmentation" else 0.0)
    feats = merge_results(
        [part],
        plan.grid,
        iou=iou_v,
        ios=ios,
        agnostic=agnostic,
        mask=plan.mask,
        min_area_px=small,
        simplify_px=simp,
    )
    multipart = spec.task in ("semantic_segmentation", "instance_segmentation")
    feats = clip_to_plan(feats, plan, multipart=multipart, notes=notes)  # areas on what was analysed
    timings["merge_s"] = timings.get("merge_s", 0.0) + time.perf_counter() - t_m
    geoms = feats.geoms
    crs_out = to_crs(out_crs) if out_crs is not None else plan.grid.crs
    if crs_out != plan.grid.crs and geoms:
        geoms = G.reproject(geoms, plan.grid.crs, crs_out)
    labels = [spec.label(c) for c in feats.class_ids]
    counts: dict = {}
    areas: dict = {}
    for lab, a in zip(labels, feats.areas_m2):
        counts[lab] = counts.get(lab, 0) + 1
        areas[lab] = areas.get(lab, 0.0) + float(a)
    run_id = uuid.uuid4().hex
    from shapely import wkt as _wkt

    report = RunReport(
        analysed_area_wkt=_wkt.dumps(analysed_area(plan), rounding_precision=3),
        analysed_area_crs=plan.grid.crs.to_string(),
        run_id=run_id,
        started_at=started.isoformat(timespec="seconds"),
        model_name=spec.name,
        model_sha256=spec.sha256,
        model_path=spec.path,
        task=spec.task,
        layout=spec.layout,
        raster=str(raster),
        raster_path=os.path.abspath(raster) if os.path.exists(str(raster)) else str(raster),
        source=source or os.path.basename(str(raster)),
        vintage=vintage,
        crs=crs_out.to_string(),
        parameters={
            "task": spec.task,
            "layout": spec.layout,
            "extent": list(extent) if extent is not None else None,
            "extent_crs": str(extent_crs) if extent_crs is not None else None,
            "mask": str(mask)
            if isinstance(mask, (str, os.PathLike))
            else (None if mask is None else "polygons"),
            "conf": conf_v,
            "iou": iou_v,
            "ios": ios,
            "agnostic": agnostic,
            "seg_thresh": thr_v,
            "tile_size": T,
            "overlap": ov,
            "gsd_m": plan.grid.gsd,
            "batch_size": bs,
            "band_map": bands if bands is not None else band_map,
            "out_crs": crs_out.to_string(),
        },
        counts=counts,
        areas_m2=areas,
        features=len(geoms),
        km2=plan.area_km2 if job is None else plan.area_km2 * len(tiles) / max(1, len(plan.tiles)),
        pixels=len(tiles) * T * T if job is not None else plan.pixels,
        tiles_total=plan.total_tiles,
        tiles_run=part.tiles_run,
        tiles_skipped_mask=plan.skipped_outside_mask,
        tiles_skipped_nodata=part.tiles_nodata,
        detections_before_nms=feats.detections_before_nms,
        dropped_outside_mask=feats.dropped_outside_mask,
        providers=sinfo.providers,
        available_providers=sinfo.available,
        threads=sinfo.intra_threads,
        batch_size=bs,
        timings=timings,
        notes=notes,
        job=None
        if job is None
        else {"index": job.index, "count": job.count, "start": job.start, "stop": job.stop},
    )
    report.partial = part
    report.plan = plan
    if part.tiles_run == 0 and len(tiles) > 0 and job is None:  # a job: the whole run is checked
        raise UserInputError(
            tr(
                "All {n} tile(s) of the extent hold no data (NoData everywhere); nothing was detected "
                "and nothing written. Pick an extent over the imagery."
            ).format(n=len(tiles))
        )
    if out_path is not None:
        if cancel is not None and cancel():
            raise Cancelled()
        t_w = time.perf_counter()
        when = started.astimezone().strftime("%Y%m%d_%H%M%S")
        report.out_path = str(out_path)
        report.layer = layer_name or layer_name_for(spec.name, when)
        _finish_cost(report, wall0, cpu0, watts)
        n = len(geoms)
        records = {
            "class_id": [int(c) for c in feats.class_ids],
            "label": labels,
            "score": [float(s) for s in feats.scores],
            "area_m2": [float(a) for a in feats.areas_m2],
            "model": [spec.name] * n,
            "model_sha256": [spec.sha256] * n,
            "source": [report.source] * n,
            "vintage": [vintage] * n,
            "run_id": [run_id] * n,
            "class_scores": class_scores_texts(feats.topk_ids, feats.topk_scores, spec.label, n),
            "tile_id": [None] * n if feats.tile_ids is None else [int(t) for t in feats.tile_ids],
        }
        report.layer = write_gpkg(
            out_path,
            report.layer,
            crs_out.to_wkt(),
            geoms,
            records,
            report.to_dict(),
            multipolygon=spec.task in ("semantic_segmentation", "instance_segmentation"),
        )
        timings["write_s"] = time.perf_counter() - t_w
    _finish_cost(report, wall0, cpu0, watts)
    return report


def raster_band_info_safe(raster: str) -> tuple:
    try:
        return raster_band_info(raster)
    except IdfHrError:
        raise
    except Exception as exc:
        raise raster_error(raster, exc) from exc


def _finish_cost(report: RunReport, wall0: float, cpu0: float, watts: Optional[float]) -> None:
    report.duration_s = time.perf_counter() - wall0
    report.cpu_s = time.process_time() - cpu0
    report.energy_wh, report.energy_method = energy_estimate(report.cpu_s, watts_per_core(watts))
    if any(p != "CPUExecutionProvider" for p in report.providers[:1]):
        report.energy_method += " " + tr("GPU energy is not included.")
