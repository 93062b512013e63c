"""Worker side of a distributed run: one task = one :class:`Job` of the tile plan.

The worker opens the imagery itself, loads the model from the path it sees and checks its
sha256 against the client's, runs the job's tiles with the single-process engine, then splits
what it found: features that cannot interact with another job's (interior) are finished
(NMS, clip, areas) and written to ``job-NNNNN.parquet`` (GeoParquet); the rest (seam) is
returned to the client, and kept in ``job-NNNNN.seams.parquet`` for ``resume``. Both files are
written to a temporary name and renamed, seams first, so a job that ran twice (worker lost,
task rescheduled) leaves one copy, and a job counts as done only when both exist.

Interior/seam split of detections: NMS only pairs boxes whose envelopes intersect, so a
connected group of boxes decides alone. A box is seam when its envelope comes within
``margin`` px of a tile of another job, and so is every box of its connected group; the client
checks that no box of any job reaches further than ``margin`` past its own tile (else the
split would not be exact and the run is refused). Semantic segmentation is split by the
engine's :class:`SegmentStitcher` (pending pieces = seam).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import UserInputError
from ..i18n import tr
from ..inference.results import MaskPiece, PartialResult

SEAMS_SUFFIX = ".seams.parquet"
REPORT_KEY = b"idfhr_job"


@dataclass
class RunTask:
    """Everything a worker needs to run any job of one run (small: sent with every task)."""

    run_id: str
    model: str  # model path as the workers see it
    model_sha256: str  # the client's copy: workers refuse a different file
    raster: str
    out_dir: str  # the GeoParquet dataset folder (shared with the client on a cluster)
    params: dict = field(default_factory=dict)  # run_detection keyword arguments
    finish: dict = field(default_factory=dict)  # iou, ios, agnostic, min_area_px, simplify_px, out_crs
    margin_px: float = 128.0
    threads: Optional[int] = None
    cancel_event: str = ""  # name of the distributed.Event set when the client cancels
    source: str = ""
    vintage: str = ""


def job_name(index: int) -> str:
    return f"job-{index:05d}"


def job_files(out_dir: str | os.PathLike, index: int) -> tuple:
    """(features GeoParquet, seams parquet) of job ``index``."""
    d = Path(out_dir)
    return d / (job_name(index) + ".parquet"), d / (job_name(index) + SEAMS_SUFFIX)


# ------------------------------------------------------------------ split interior / seam


def _topk(part: PartialResult, n: int) -> tuple:
    """(top-k class ids, scores) of all of a part's detections, or (None, None) when not known for all."""
    ids = getattr(part, "topk_ids", None) or []
    if not ids or sum(len(a) for a in ids) != n:
        return None, None
    return np.concatenate(ids), np.concatenate(part.topk_scores)


def _subset(
    part: PartialResult, keep: np.ndarray, boxes, scores, cls, tiles, cut, rboxes, topk
) -> PartialResult:
    out = PartialResult()
    if keep.any():
        out.boxes = [boxes[keep]]
        out.scores = [scores[keep]]
        out.class_ids = [cls[keep]]
        out.tile_ids = [tiles[keep]]
        out.cut = [cut[keep]]
        if rboxes is not None:
            out.rboxes = [rboxes[keep]]
        if topk[0] is not None:
            out.topk_ids, out.topk_scores = [topk[0][keep]], [topk[1][keep]]
        out.polys = [g for g, k in zip(part.polys, keep) if k]
    out.detections = int(keep.sum())
    return out


def _components(boxes: np.ndarray) -> np.ndarray:
    """Label of the connected group of each box (envelopes touching, any class)."""
    from ..inference.nms import candidate_pairs

    n = len(boxes)
    grown = boxes + np.array([-1e-6, -1e-6, 1e-6, 1e-6])
    i, j = candidate_pairs(grown)
    parent = np.arange(n)

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, b in zip(i.tolist(), j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(k) for k in range(n)], np.int64)


def split_seams(part: PartialResult, plan, job, margin_px: float) -> tuple:
    """-> (interior PartialResult, seam PartialResult, px the job's boxes reach past their tile)."""
    if part.seg_polys or part.seg_pending or part.seg_cores:
        interior = PartialResult(
            seg_polys=part.seg_polys,
            seg_class=part.seg_class,
            seg_score=part.seg_score,
            regions_cut=part.regions_cut,
        )
        seam = PartialResult(seg_pending=part.seg_pending, seg_cores=part.seg_cores)
        return interior, seam, 0.0
    if not part.boxes:
        return PartialResult(), PartialResult(), 0.0
    boxes = np.concatenate(part.boxes).astype(np.float64)
    scores = np.concatenate(part.scores)
    cls = np.concatenate(part.class_ids)
    tiles = np.concatenate(part.tile_ids)
    cut = np.concatenate(part.cut)
    rboxes = np.concatenate(part.rboxes).astype(np.float64) if part.rboxes else None
    T = float(plan.tile_size)
    tcol = np.array([t.col for t in plan.tiles], np.float64)
    trow = np.array([t.row for t in plan.tiles], np.float64)
    # how far each box reaches past its own tile (tile ids are positions in plan.tiles)
    own_c, own_r = tcol[tiles], trow[tiles]
    reach = np.maximum.reduce(
        [own_c - boxes[:, 0], boxes[:, 2] - (own_c + T), own_r - boxes[:, 1], boxes[:, 3] - (own_r + T)]
    )
    overreach = float(max(0.0, reach.max()))
    # tiles of other jobs (widened by the margin) near this job's boxes
    m = float(margin_px)
    bx0, by0 = boxes[:, 0].min(), boxes[:, 1].min()
    bx1, by1 = boxes[:, 2].max(), boxes[:, 3].max()
    own = np.zeros(len(plan.tiles), bool)
    own[np.asarray(list(job.tile_ids()), np.int64)] = True
    foreign = ~own & ((tcol - m <= bx1) & (tcol + T + m >= bx0) & (trow - m <= by1) & (trow + T + m >= by0))
    fx0, fy0 = tcol[foreign] - m, trow[foreign] - m
    fx1, fy1 = tcol[foreign] + T + m, trow[foreign] + T + m
    touch = np.zeros(len(boxes), bool)
    for k in range(0, fx0.size, 256):
        s = slice(k, k + 256)
        touch |= (
            (boxes[:, 0:1] <= fx1[None, s])
            & (boxes[:, 2:3] >= fx0[None, s])
            & (boxes[:, 1:2] <= fy1[None, s])
            & (boxes[:, 3:4] >= fy0[None, s])
        ).any(axis=1)
    labels = _components(boxes)
    seam_groups = np.zeros(len(boxes), bool)
    seam_groups[labels[touch]] = True
    is_seam = seam_groups[labels]
    args = (boxes, scores, cls, tiles, cut, rboxes, _topk(part, len(boxes)))
    return _subset(part, ~is_seam, *args), _subset(part, is_seam, *args), overreach


def in_plan_order(parts: list) -> list:
    """Seam detections of all jobs as one part, in the plan's tile order (stable within a tile).

    The single-process engine meets boxes tile by tile; NMS breaks score ties by that order, so
    the client merges in the same order whatever the shape of the jobs.
    """
    det = [p for p in parts if p.boxes]
    if not det or any(p.seg_pending or p.seg_cores for p in parts):
        return parts
    cat = {
        name: np.concatenate([a for p in det for a in getattr(p, name)])
        for name in ("boxes", "scores", "class_ids", "tile_ids", "cut")
    }
    rboxes = np.concatenate([a for p in det for a in p.rboxes]) if det[0].rboxes else None
    polys = [g for p in det for g in p.polys]
    topk = [_topk(p, sum(len(a) for a in p.boxes)) for p in det]
    order = np.argsort(cat["tile_ids"], kind="stable")
    out = PartialResult(**{name: [a[order]] for name, a in cat.items()})
    if rboxes is not None:
        out.rboxes = [rboxes[order]]
    if all(t[0] is not None for t in topk):
        out.topk_ids = [np.concatenate([t[0] for t in topk])[order]]
        out.topk_scores = [np.concatenate([t[1] for t in topk])[order]]
    out.polys = [polys[i] for i in order]
    out.detections = int(order.size)
    return [out]


# ------------------------------------------------------------------ seams on disk (for resume)


def seams_table(seam: PartialResult, report: dict):
    """The seam vectors of a job (grid px, as the engine holds them) as an Arrow table."""
    import pyarrow as pa
    from shapely import wkb

    cols: dict = {}
    if seam.seg_pending or seam.seg_cores:
        cols["kind"] = pa.array(["seg"] * len(seam.seg_pending), pa.string())
        pieces = [g for g, _c, _s, _t in seam.seg_pending]
        for name in ("x0", "y0", "w", "h", "count"):
            cols[name] = pa.array([getattr(g, name) for g in pieces], pa.int64())
        cols["bits"] = pa.array([g.bits.tobytes() for g in pieces], pa.binary())
        cols["class_id"] = pa.array([int(c) for _g, c, _s, _t in seam.seg_pending], pa.int32())
        cols["score"] = pa.array([float(s) for _g, _c, s, _t in seam.seg_pending], pa.float64())
        cols["tile_id"] = pa.array([int(t) for _g, _c, _s, t in seam.seg_pending], pa.int64())
        meta_cores = {str(k): list(v) for k, v in seam.seg_cores.items()}
    else:
        n = seam.detections if seam.boxes else 0
        b = np.concatenate(seam.boxes) if seam.boxes else np.zeros((0, 4))
        cols["kind"] = pa.array(["box"] * n, pa.string())
        for k, name in enumerate(("x0", "y0", "x1", "y1")):
            cols[name] = pa.array(b[:, k].astype(np.float64))
        cols["score"] = pa.array(np.concatenate(seam.scores) if n else np.zeros(0, np.float32))
        cols["class_id"] = pa.array(np.concatenate(seam.class_ids) if n else np.zeros(0, np.int32))
        cols["tile_id"] = pa.array(np.concatenate(seam.tile_ids) if n else np.zeros(0, np.int64))
        cols["cut"] = pa.array(np.concatenate(seam.cut) if n else np.zeros(0, bool))
        if seam.rboxes:
            rb = np.concatenate(seam.rboxes)
            for k, name in enumerate(("r_cx", "r_cy", "r_w", "r_h", "r_angle")):
                cols[name] = pa.array(rb[:, k].astype(np.float64))
        cols["wkb"] = pa.array([None if g is None else wkb.dumps(g) for g in seam.polys], pa.binary())
        top_ids, top_scores = _topk(seam, n)
        if top_ids is not None:
            cols["topk_ids"] = pa.array(top_ids.tolist(), pa.list_(pa.int32()))
            cols["topk_scores"] = pa.array(top_scores.tolist(), pa.list_(pa.float32()))
        meta_cores = {}
    meta = {
        REPORT_KEY: json.dumps(report, default=str).encode(),
        b"idfhr_cores": json.dumps(meta_cores).encode(),
    }
    return pa.table(cols).replace_schema_metadata(meta)


def read_seams(path: str | os.PathLike) -> tuple:
    """-> (seam PartialResult, job report) from a ``job-NNNNN.seams.parquet``."""
    import pyarrow.parquet as pq
    from shapely import wkb

    table = pq.read_table(str(path))
    meta = table.schema.metadata or {}
    report = json.loads(meta[REPORT_KEY])
    cores = {int(k): tuple(v) for k, v in json.loads(meta.get(b"idfhr_cores", b"{}")).items()}
    d = table.to_pydict()
    part = PartialResult()
    if cores or (d["kind"] and d["kind"][0] == "seg"):
        part.seg_pending = [
            (MaskPiece(x0, y0, w=w, h=h, bits=np.frombuffer(bits, np.uint8), count=n), c, s, t)
            for x0, y0, w, h, bits, n, c, s, t in zip(
                d["x0"],
                d["y0"],
                d["w"],
                d["h"],
                d["bits"],
                d["count"],
                d["class_id"],
                d["score"],
                d["tile_id"],
            )
        ]
        part.seg_cores = cores
        return part, report
    n = table.num_rows
    if n:
        col = table.column
        part.boxes = [np.stack([col(k).to_numpy() for k in ("x0", "y0", "x1", "y1")], axis=1)]
        part.scores = [col("score").to_numpy().astype(np.float32)]
        part.class_ids = [col("class_id").to_numpy().astype(np.int32)]
        part.tile_ids = [col("tile_id").to_numpy().astype(np.int64)]
        part.cut = [col("cut").to_numpy(zero_copy_only=False).astype(bool)]
        if "r_cx" in d:
            part.rboxes = [
                np.stack([col(k).to_numpy() for k in ("r_cx", "r_cy", "r_w", "r_h", "r_angle")], 1)
            ]
        part.polys = [None if g is None else wkb.loads(g) for g in d["wkb"]]
        if "topk_ids" in d:
            part.topk_ids = [np.asarray(d["topk_ids"], np.int32)]
            part.topk_scores = [np.asarray(d["topk_scores"], np.float32)]
    part.detections = n
    return part, report


def _atomic(write, final: Path) -> None:
    """``write(tmp_path)`` then rename into place (a rerun of the job replaces, never adds)."""
    from ..tempfiles import temp_path

    tmp = temp_path(final, ".part")
    try:
        write(str(tmp))
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_features_parquet(path: Path, geoms: list, records: dict, crs_wkt: str) -> None:
    """One job's finished features as GeoParquet (written atomically)."""
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(dict(records), geometry=list(geoms), crs=crs_wkt)
    _atomic(lambda tmp: gdf.to_parquet(tmp, index=False), path)


def read_features_parquet(path: str | os.PathLike) -> tuple:
    """-> (geoms, records) of a job's GeoParquet file."""
    import geopandas as gpd

    from ..inference.writer import FIELDS

    gdf = gpd.read_parquet(str(path))
    n = len(gdf)

    def column(name: str) -> list:  # Parquet nulls may come back as NaN: the writer wants None
        if name not in gdf:
            return [None] * n
        return [None if isinstance(v, float) and v != v else v for v in gdf[name].tolist()]

    return list(gdf.geometry), {name: column(name) for name, _t in FIELDS}


# ------------------------------------------------------------------ finishing features


def finish_features(parts: list, plan, spec, finish: dict, source: str, vintage: str, run_id: str) -> tuple:
    """Merge (NMS / stitch), clip to the analysed area, reproject: -> (geoms, records, dropped,
    semantic regions cut along the block grid)."""
    from ..inference import geom as G
    from ..inference.clip import analysed_area, clip_features
    from ..inference.results import merge_results
    from ..inference.tiling import to_crs
    from ..inference.writer import class_scores_texts

    seg = spec.task == "semantic_segmentation"
    small = (
        finish["min_area_px"] if finish.get("min_area_px") is not None else float(spec.seg_small_segment_px)
    )
    simp = finish["simplify_px"] if finish.get("simplify_px") is not None else (0.5 if seg else 0.0)
    feats = merge_results(
        parts,
        plan.grid,
        iou=finish["iou"],
        ios=finish["ios"],
        agnostic=finish["agnostic"],
        mask=plan.mask,
        min_area_px=small,
        simplify_px=simp,
    )
    multipart = spec.task in ("semantic_segmentation", "instance_segmentation")
    regions_cut = feats.regions_cut
    feats, dropped = clip_features(feats, analysed_area(plan), multipart=multipart)
    geoms = feats.geoms
    crs_out = to_crs(finish["out_crs"]) if finish.get("out_crs") else plan.grid.crs
    if crs_out != plan.grid.crs and geoms:
        geoms = G.reproject(geoms, plan.grid.crs, crs_out)
    n = len(geoms)
    records = {
        "class_id": [int(c) for c in feats.class_ids],
        "label": [spec.label(c) for c in feats.class_ids],
        "score": [float(s) for s in feats.scores],
        "area_m2": [float(a) for a in feats.areas_m2],
        "model": [spec.name] * n,
        "model_sha256": [spec.sha256] * n,
        "source": [source] * n,
        "vintage": [vintage] * n,
        "run_id": [run_id] * n,
        "class_scores": class_scores_texts(feats.topk_ids, feats.topk_scores, spec.label, n),
        "tile_id": [None] * n if feats.tile_ids is None else [int(t) for t in feats.tile_ids],
    }
    return geoms, records, dropped + int(feats.dropped_outside_mask), regions_cut


def class_totals(records: dict) -> tuple:
    """({label: count}, {label: m²}) of some features' records."""
    counts: dict = {}
    areas: dict = {}
    for lab, a in zip(records["label"], records["area_m2"]):
        counts[lab] = counts.get(lab, 0) + 1
        areas[lab] = areas.get(lab, 0.0) + float(a)
    return counts, areas


class FeatureStream:
    """The features of a run as sequences for the GeoPackage writer, without holding them all.

    The seam features (in memory) come first, then each job's GeoParquet file, loaded one at a
    time when the writer reaches it: the client's memory is one job's features, whatever the
    extent. ``geoms`` and ``records[field]`` are read by increasing index, as the writer does.
    """

    def __init__(self, geoms: list, records: dict, files: list, sizes: list):
        self._chunks = [(None, len(geoms))] + list(zip(files, sizes))
        self._starts = list(np.cumsum([0] + [n for _f, n in self._chunks]))
        self._current = (0, geoms, records)
        self._seam = (geoms, records)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _load(self, k: int) -> None:
        if self._current[0] == k:
            return
        path = self._chunks[k][0]
        geoms, records = self._seam if path is None else read_features_parquet(path)
        self._current = (k, geoms, records)

    def row(self, i: int, name: Optional[str]):
        import bisect

        k = bisect.bisect_right(self._starts, i) - 1
        self._load(k)
        _k, geoms, records = self._current
        j = i - int(self._starts[k])
        return geoms[j] if name is None else records[name][j]

    def column(self, name: Optional[str] = None) -> _Column:
        return _Column(self, name)


class _Column:
    def __init__(self, stream: FeatureStream, name: Optional[str]):
        self.stream, self.name = stream, name

    def __len__(self) -> int:
        return len(self.stream)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self.stream):
            raise IndexError(i)
        return self.stream.row(i, self.name)

    def __iter__(self):
        return (self.stream.row(i, self.name) for i in range(len(self.stream)))


# ------------------------------------------------------------------ the task


_cache_lock = threading.Lock()
_sessions: dict = {}  # (path, size, mtime, sha, threads) -> (spec, (session, info))


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def _model_on_worker(task: RunTask, where: str) -> tuple:
    """(spec, session) of the worker's model copy, verified against the client's sha256."""
    from ..inference.model import create_session, load_model_spec, sha256_file

    p = Path(task.model)
    if not p.is_file():
        raise UserInputError(
            tr(
                "The model file '{path}' does not exist on worker {worker}: copy the model there "
                "(every worker needs it at that path) or give the path the workers see."
            ).format(path=p, worker=where)
        )
    st = p.stat()
    key = (
        str(p),
        st.st_size,
        st.st_mtime_ns,
        task.model_sha256,
        task.threads,
        json.dumps(task.params.get("providers")),
    )
    with _cache_lock:
        got = _sessions.get(key)
        if got is None:
            digest = sha256_file(p)
            if digest != task.model_sha256:
                raise UserInputError(
                    tr(
                        "Worker {worker} refused the run: its model '{path}' has sha256 {got}, not {want} "
                        "as the client's. Copy the same model file to every worker."
                    ).format(worker=where, path=p, got=digest, want=task.model_sha256)
                )
            spec = load_model_spec(
                p, expected_sha256=digest, task=task.params.get("task"), layout=task.params.get("layout")
            )
            got = (spec, create_session(spec, providers=task.params.get("providers"), threads=task.threads))
            _sessions.clear()  # one model per worker process at a time
            _sessions[key] = got
    return got


def _cancel_check(name: str):
    """``cancel()`` polling the run's distributed.Event at most twice a second."""
    if not name:
        return None
    try:
        from distributed import Event

        ev = Event(name)
    except (ImportError, ValueError):
        return None
    state = {"t": 0.0, "set": False}

    def cancel() -> bool:
        now = time.monotonic()
        if not state["set"] and now - state["t"] > 0.5:
            state["t"] = now
            state["set"] = bool(ev.is_set())
        return state["set"]

    return cancel


def run_job(task: RunTask, job) -> dict:
    """Run one job on this worker; returns ``{"report": dict, "seam": PartialResult}``.

    Raises :class:`..errors.Cancelled` when the client cancelled the run (nothing published).
    """
    from ..errors import Cancelled
    from ..inference.runner import run_detection

    wall0, cpu0 = time.perf_counter(), time.process_time()
    where = _worker_address()
    cancel = _cancel_check(task.cancel_event)
    if cancel is not None and cancel():
        raise Cancelled()
    spec, session = _model_on_worker(task, where)
    rep = run_detection(spec, task.raster, job=job, session=session, cancel=cancel, **task.params)
    plan, part = rep.plan, rep.partial
    interior, seam, overreach = split_seams(part, plan, job, task.margin_px)
    geoms, records, dropped, regions_cut = finish_features(
        [interior], plan, spec, task.finish, task.source, task.vintage, task.run_id
    )
    n_tiles = len(job.tile_ids())
    report = {
        "job": job.index,
        "start": job.start,
        "stop": job.stop,
        "worker": where,
        "pid": os.getpid(),
        "tiles": n_tiles,
        "tiles_run": part.tiles_run,
        "tiles_nodata": part.tiles_nodata,
        "km2": plan.area_km2 * n_tiles / max(1, len(plan.tiles)),
        "pixels": n_tiles * plan.tile_size * plan.tile_size,
        "detections": part.detections,
        "interior_features": len(geoms),
        "counts": class_totals(records)[0],
        "areas_m2": class_totals(records)[1],
        "seam_vectors": seam.detections if not seam.seg_pending else len(seam.seg_pending),
        "dropped": dropped,
        "regions_cut": regions_cut,
        "overreach_px": overreach,
        "providers": list(rep.providers),
        "threads": rep.threads,
        "timings": dict(rep.timings),
    }
    if cancel is not None and cancel():
        raise Cancelled()
    feat_path, seam_path = job_files(task.out_dir, job.index)
    report["wall_s"] = time.perf_counter() - wall0
    report["cpu_s"] = time.process_time() - cpu0
    import pyarrow.parquet as pq

    table = seams_table(seam, report)
    _atomic(lambda tmp: pq.write_table(table, tmp), seam_path)
    crs_wkt = geoms_crs_wkt(plan, task.finish)
    write_features_parquet(feat_path, geoms, records, crs_wkt)
    return {"report": report, "seam": seam}


def geoms_crs_wkt(plan, finish: dict) -> str:
    from ..inference.tiling import to_crs

    return (to_crs(finish["out_crs"]) if finish.get("out_crs") else plan.grid.crs).to_wkt()
