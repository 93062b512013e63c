"""Run a model over an extent: plan -> read (background thread) -> infer -> decode -> merge -> write.

Reading and pre-processing of the next batch happen in a background thread (bounded queue)
while ONNX Runtime runs the current one, and the previous batch is decoded (NMS, polygons,
segmentation stitching) in a second one; only vectors are kept, segmentation seams are stitched
window by window, finished segments go to a staging file next to the output as they are found,
and GDAL's block cache is bounded, so memory does not grow with the extent.
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
from . import results as _results
from .clip import analysed_area, clip_features, clip_to_plan, dropped_note
from .decoders import decode_detections, decode_semantic, materialise_masks, output_mapping
from .model import ModelSpec, create_session, load_model_spec, overlap_px
from .nms import nms
from .params import check_detection_params
from .polygonise import label4, polygonise, region_boxes
from .reader import RasterioWindowReader, WindowReader, raster_band_info, raster_error, resolve_band_map
from .report import RunReport, energy_estimate, watts_per_core
from .results import (
    Features,
    MaskPiece,
    PartialResult,
    PxRect,
    SegmentStitcher,
    detection_features,
    finish_segments,
    merge_results,
)
from .stream import DetectionStream
from .tiling import Grid, Job, Tile, TilePlan, plan_tiles, to_crs
from .writer import StagedFeatures, check_output_path, class_scores_texts, layer_name_for, write_gpkg

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


def regions_cut_note(n: int, grid: Grid) -> str:
    """The note saying that ``n`` segmented regions were cut along the REGION_BLOCK_PX grid."""
    block = _results.REGION_BLOCK_PX
    step = block * abs(grid.transform.a)
    return tr(
        "{n} segmented region(s) wider or taller than {m} were cut along a grid of {m} squares, so that "
        "each part stays workable in QGIS; dissolve the layer by class to join them again."
    ).format(n=n, m=f"{step:,.0f} m".replace(",", " ") if step >= 10 else f"{block} px")


def _segment_tile(
    scores: np.ndarray, tile: Tile, grid: Grid, thresh: float, fast_rects: bool = False
) -> list:
    """Threshold + polygonise the core (centre crop) of one tile's class score maps.

    Returns the pieces ``(geometry, class, mean score, touches a seam)``: a polygon in grid px
    for a piece inside the core, a :class:`MaskPiece` (its pixels) for a piece on a seam, to be
    stitched with its neighbours'. With ``fast_rects``, a rectangular piece inside the core
    (most small specks) is a :class:`PxRect`: the same ring, without the polygoniser or shapely.
    """
    cx0, cy0, cx1, cy1 = tile.core
    sub = scores[:, cy0 - tile.row : cy1 - tile.row, cx0 - tile.col : cx1 - tile.col]
    out = []
    for k in range(sub.shape[0]):
        binary = sub[k] > thresh
        if not binary.any():
            continue
        lab, n = label4(binary)
        flat = lab.ravel()
        count = np.bincount(flat, minlength=n + 1)[1:]
        sums = np.bincount(flat, weights=sub[k].ravel().astype(np.float64), minlength=n + 1)[1:]
        means = sums / np.maximum(count, 1)
        b = region_boxes(lab, n)
        gx0, gy0, gx1, gy1 = b[:, 0] + cx0, b[:, 1] + cy0, b[:, 2] + cx0, b[:, 3] + cy0
        seam = (
            ((gx0 <= cx0) & (cx0 > 0))
            | ((gy0 <= cy0) & (cy0 > 0))
            | ((gx1 >= cx1) & (cx1 < grid.width))
            | ((gy1 >= cy1) & (cy1 < grid.height))
            # wider or taller than a block (tiles of thousands of px): cut by the stitcher
            | (b[:, 2] - b[:, 0] > _results.REGION_BLOCK_PX)
            | (b[:, 3] - b[:, 1] > _results.REGION_BLOCK_PX)
        )
        rect = (
            (count == (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) & ~seam if fast_rects else np.zeros(n, bool)
        )
        for i in np.nonzero(rect)[0]:
            out.append(
                (
                    PxRect(float(gx0[i]), float(gy0[i]), float(gx1[i]), float(gy1[i])),
                    k,
                    float(means[i]),
                    False,
                )
            )
        for i in np.nonzero(seam)[0]:
            x0, y0, x1, y1 = b[i]
            piece = MaskPiece(int(gx0[i]), int(gy0[i]), lab[y0:y1, x0:x1] == i + 1)
            out.append((piece, k, float(means[i]), True))
        inner = ~(rect | seam)
        if inner.any():
            todo = np.concatenate([[False], inner])[lab]
            for g, v in polygonise(todo, cx0, cy0, lab):
                out.append((g, k, float(means[v - 1]), False))
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
                [g for g, _v in polygonise(m, x0 + tile.col, y0 + tile.row)] if m.size and m.any() else []
            )
            polys.append(G.union(pieces) if pieces else None)
    part.add_detections(det, tile, grid, polys)


class _Stager:
    """Finished features (grid CRS, WKB or shapely) clipped to the analysed area, put in the
    output CRS and written to a :class:`StagedFeatures` file as the run goes; counts the drops."""

    def __init__(self, staged: StagedFeatures, plan: TilePlan, spec: ModelSpec, crs_out, fixed: dict):
        self.staged, self.plan, self.spec, self.crs_out, self.fixed = staged, plan, spec, crs_out, fixed
        self.area = analysed_area(plan)
        self.multipart = spec.task in ("semantic_segmentation", "instance_segmentation")
        self.counts: dict = {}
        self.areas: dict = {}
        self.features = self.dropped_plan = self.dropped_mask = 0
        self.finish_s = self.write_s = 0.0

    def _stage(self, feats, group: Optional[np.ndarray] = None) -> None:
        feats, dropped = clip_features(feats, self.area, multipart=self.multipart)
        self.dropped_plan += dropped
        self.dropped_mask += feats.dropped_outside_mask
        geoms, bounds = feats.geoms, feats.bounds
        if self.crs_out != self.plan.grid.crs and geoms:
            from shapely import wkb

            loaded = [wkb.loads(bytes(g)) if isinstance(g, (bytes, bytearray)) else g for g in geoms]
            geoms, bounds = G.reproject(loaded, self.plan.grid.crs, self.crs_out), None
        labels = [self.spec.label(c) for c in feats.class_ids]
        t1 = time.perf_counter()
        self.staged.add(
            geoms,
            _records(feats, labels, self.fixed, self.spec.label),
            bounds=bounds,
            group=None if group is None else group[feats.index],
        )
        self.write_s += time.perf_counter() - t1

    def totals(self) -> None:
        """Counts and areas per label, and features, of what the staging file holds in the end
        (detection groups taken back and decided again are counted once)."""
        self.counts, self.areas, self.features = self.staged.totals()


class _DetectionsStaged(_Stager):
    """Writes the detections a :class:`DetectionStream` settles, :data:`STAGE_CHUNK` at a time."""

    def __init__(self, staged: StagedFeatures, plan: TilePlan, spec: ModelSpec, crs_out, fixed: dict, cancel):
        super().__init__(staged, plan, spec, crs_out, fixed)
        self.cancel = cancel

    def __call__(self, sel, group: np.ndarray) -> None:
        t0, w0 = time.perf_counter(), self.write_s
        for lo in range(0, sel.n, STAGE_CHUNK):
            if self.cancel is not None and self.cancel():
                raise Cancelled()
            self._stage(
                detection_features(
                    sel, self.plan.grid, lo, lo + STAGE_CHUNK, mask=self.plan.mask, as_wkb=True
                ),
                group,
            )
        self.finish_s += time.perf_counter() - t0 - (self.write_s - w0)


STAGE_CHUNK = 20000  # detections finished and written at a time


class _SegmentSink(_Stager):
    """Final segments, batch by batch: finished as :func:`merge_results` + :func:`clip_to_plan`
    would (small ones dropped, simplified, clipped, in the output CRS) and written to a
    :class:`StagedFeatures` file, so that memory does not grow with the extent."""

    def __init__(
        self, staged: StagedFeatures, plan: TilePlan, spec: ModelSpec, crs_out, *, small, simp, fixed
    ):
        super().__init__(staged, plan, spec, crs_out, fixed)
        self.small, self.simp = small, simp

    def __call__(self, geoms: list, classes: list, scores: list) -> None:
        t0, w0 = time.perf_counter(), self.write_s
        feats = finish_segments(
            geoms,
            classes,
            scores,
            self.plan.grid,
            mask=self.plan.mask,
            min_area_px=self.small,
            simplify_px=self.simp,
            as_wkb=True,
        )
        self._stage(feats)
        self.finish_s += time.perf_counter() - t0 - (self.write_s - w0)


def _records(feats, labels: list, fixed: dict, label: Callable) -> dict:
    """The attribute columns of the result layer: per feature, and ``fixed`` (model, run...) repeated."""
    n = len(labels)
    rec = {
        "class_id": [int(c) for c in feats.class_ids],
        "label": labels,
        "score": [float(s) for s in feats.scores],
        "area_m2": [float(a) for a in feats.areas_m2],
        "class_scores": class_scores_texts(feats.topk_ids, feats.topk_scores, label, n),
        "tile_id": [None] * n if feats.tile_ids is None else [int(t) for t in feats.tile_ids],
    }
    rec.update({k: [v] * n for k, v in fixed.items()})
    return rec


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
    sink: Optional[Callable[[list, list, list], None]] = None,
    stream: Optional[DetectionStream] = None,
) -> PartialResult:
    """Run the model on ``tiles`` (read through ``reader``) and return their vectors.

    ``sink(geoms, classes, scores)``: semantic segmentation only; receives the final segments
    (grid px) as soon as they are final, instead of keeping them in the partial result.
    ``stream``: detections only; takes the detections batch by batch and writes those settled.
    """
    part = PartialResult()
    T = plan.tile_size
    input_name = spec.input.name
    seg = spec.task == "semantic_segmentation"
    stitcher = SegmentStitcher(plan.tiles) if seg else None
    # post_cpu_s: CPU time of decoding + merging (its wall time also holds the waits for a core)
    clock = {"decode_s": 0.0, "merge_s": 0.0, "post_cpu_s": 0.0}

    def flush() -> None:
        if sink is not None and stitcher is not None and stitcher.geoms:
            done = stitcher.geoms, stitcher.classes, stitcher.scores
            stitcher.geoms, stitcher.classes, stitcher.scores = [], [], []
            sink(*done)

    if stitcher is not None:
        stitcher.spill = flush

    tile_rows = {t.id: t.row for t in tiles} if stream is not None else {}

    def post(kept: list, outs, chunk: Sequence[Tile], next_row: float = float("inf")) -> None:
        """Decode + NMS (or polygonise + stitch) one batch; runs while the next one is inferred."""
        t1, c1 = time.perf_counter(), time.thread_time()
        by_tile: dict = {}
        if kept and seg:
            scores, _margin = decode_semantic(outs, spec.seg_output_classes, (T, T), spec.seg_activation)
            for i, (tile, valid) in enumerate(kept):
                by_tile[tile.id] = _segment_tile(
                    scores[i] * valid[None], tile, plan.grid, seg_thresh, fast_rects=True
                )
                part.detections += len(by_tile[tile.id])
        elif kept:
            dets = decode_detections(spec, outs, conf)
            for i, (tile, valid) in enumerate(kept):
                _detect_tile(part, dets[i], tile, valid, plan.grid, spec, iou, agnostic)
        t2 = time.perf_counter()
        clock["decode_s"] += t2 - t1
        if stream is not None:
            stream.take(part, tile_rows)
            stream.flush(next_row)
            clock["merge_s"] += time.perf_counter() - t2
        if stitcher is not None:
            for tile in chunk:  # no-data tiles are added empty
                stitcher.add(tile.id, by_tile.get(tile.id, ()))
            clock["merge_s"] += time.perf_counter() - t2
            flush()
        clock["post_cpu_s"] += time.thread_time() - c1

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
            nxt = float(tiles[done + n_chunk].row) if done + n_chunk < total else float("inf")
            worker.submit((kept, outs, tiles[done : done + n_chunk], nxt))
            done += n_chunk
            if progress is not None:
                el = time.perf_counter() - t_start
                progress(done, total, el / done * (total - done) if done else 0.0)
        worker.close()
    finally:
        worker.close(drop=True)
        pre.close()
    if stream is not None:
        t2 = time.perf_counter()
        stream.flush(float("inf"))
        clock["merge_s"] += time.perf_counter() - t2
    if stitcher is not None:
        t2 = time.perf_counter()
        if len(tiles) == len(plan.tiles):
            stitcher.finish()
        else:  # a job: pieces next to other jobs' windows are stitched by merge_results
            part.seg_pending, part.seg_cores = stitcher.pending()
        clock["merge_s"] += time.perf_counter() - t2
        flush()
        part.seg_polys, part.seg_class, part.seg_score = stitcher.geoms, stitcher.classes, stitcher.scores
        part.regions_cut = stitcher.cut
    part.tiles_nodata = pre.nodata
    if timings is not None:
        timings["read_s"] = timings.get("read_s", 0.0) + pre.read_s
        timings["infer_s"] = timings.get("infer_s", 0.0) + infer_s
        timings["decode_s"] = timings.get("decode_s", 0.0) + clock["decode_s"]
        timings["post_cpu_s"] = timings.get("post_cpu_s", 0.0) + clock["post_cpu_s"]
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
    own_session = session is None
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
    small = min_area_px if min_area_px is not None else float(spec.seg_small_segment_px)
    simp = simplify_px if simplify_px is not None else (0.5 if spec.task == "semantic_segmentation" else 0.0)
    crs_out = to_crs(out_crs) if out_crs is not None else plan.grid.crs
    run_id = uuid.uuid4().hex
    src_name = source or os.path.basename(str(raster))
    fixed = {
        "model": spec.name,
        "model_sha256": spec.sha256,
        "source": src_name,
        "vintage": vintage,
        "run_id": run_id,
    }
    staged = sink = stream = None
    multipart = spec.task in ("semantic_segmentation", "instance_segmentation")
    if out_path is not None and job is None:
        # final features go to disk as they are finished (a staging file next to the output):
        # segments as the run finds them, detections chunk by chunk after the global NMS
        try:
            staged = StagedFeatures(out_path, crs_out.to_wkt(), multipolygon=multipart)
        except Exception as exc:
            reader.close()
            raise UserInputError(
                tr(
                    "Cannot write a temporary file next to '{path}' ({err}); free some disk space or choose "
                    "another output folder."
                ).format(path=out_path, err=str(exc)[:200])
            ) from exc
        if spec.task == "semantic_segmentation":
            sink = _SegmentSink(staged, plan, spec, crs_out, small=small, simp=simp, fixed=fixed)
        else:  # detections settle and leave memory as the run passes them
            sink = _DetectionsStaged(staged, plan, spec, crs_out, fixed, cancel)
            stream = DetectionStream(
                staged, sink, width=plan.grid.width, iou=iou_v, ios=ios, agnostic=agnostic
            )
    try:
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
                    sink=sink if stream is None else None,
                    stream=stream,
                )
        finally:
            reader.close()
        if own_session:  # ONNX Runtime's memory goes back before the merge needs its own
            session = None
        if cancel is not None and cancel():
            raise Cancelled()
        t_m = time.perf_counter()
        if stream is not None:  # settled and written as the run went
            feats = Features([], np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0), stream.n0)
            timings["taken_back"] = stream.taken_back
        elif sink is not None:  # the final segments went to the sink as the run went
            feats = finish_segments([], [], [], plan.grid, n0=part.detections)
        else:
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
        cut = part.regions_cut if sink is not None else feats.regions_cut
        if cut:
            notes.append(regions_cut_note(cut, plan.grid))
        feats = clip_to_plan(feats, plan, multipart=multipart, notes=notes)  # areas on what was analysed
        geoms = feats.geoms
        if crs_out != plan.grid.crs and geoms:
            geoms = G.reproject(geoms, plan.grid.crs, crs_out)
        labels = [spec.label(c) for c in feats.class_ids]
        counts: dict = {}
        areas: dict = {}
        for lab, a in zip(labels, feats.areas_m2):
            counts[lab] = counts.get(lab, 0) + 1
            areas[lab] = areas.get(lab, 0.0) + float(a)
        n_features, dropped_mask = len(geoms), feats.dropped_outside_mask
        if sink is not None:  # the features are in the staging file already
            sink.totals()
            counts, areas, n_features, dropped_mask = (
                sink.counts,
                sink.areas,
                sink.features,
                sink.dropped_mask,
            )
            if sink.dropped_plan:
                notes.append(dropped_note(sink.dropped_plan))
            timings["merge_s"] = timings.get("merge_s", 0.0) + sink.finish_s
            timings["write_s"] = sink.write_s
        timings["merge_s"] = timings.get("merge_s", 0.0) + time.perf_counter() - t_m
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
            source=src_name,
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
            features=n_features,
            km2=plan.area_km2 if job is None else plan.area_km2 * len(tiles) / max(1, len(plan.tiles)),
            pixels=len(tiles) * T * T if job is not None else plan.pixels,
            tiles_total=plan.total_tiles,
            tiles_run=part.tiles_run,
            tiles_skipped_mask=plan.skipped_outside_mask,
            tiles_skipped_nodata=part.tiles_nodata,
            detections_before_nms=feats.detections_before_nms,
            dropped_outside_mask=dropped_mask,
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
            report.layer = write_gpkg(
                out_path,
                report.layer,
                crs_out.to_wkt(),
                geoms,
                _records(feats, labels, fixed, spec.label),
                report.to_dict(),
                multipolygon=spec.task in ("semantic_segmentation", "instance_segmentation"),
                staged=staged,
            )
            timings["write_s"] = timings.get("write_s", 0.0) + time.perf_counter() - t_w
        _finish_cost(report, wall0, cpu0, watts)
        return report
    finally:
        if staged is not None:
            staged.discard()


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
