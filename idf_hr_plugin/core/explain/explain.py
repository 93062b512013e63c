"""Explain one object of a detection (or change) layer from the run that made it.

The run record (``idfhr_runs``) gives the model (path + sha256), the imagery and the run's grid
(tile size, overlap, GSD, extent, bands). The crop is one model input (``tile_size`` px at the
run's GSD) centred on the object and clamped to the run's grid, read the way the run read it;
the model is run on it again and the box best matching the clicked object is reported with its
best classes. The occlusion map slides a grey patch over the object and its surroundings,
re-runs the model (batched, ~64-144 runs, bounded to that one crop) and records how much the
matched object's score drops: where hiding the image hurts the score most is what the model
looked at.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ..errors import Cancelled, UserInputError
from ..i18n import tr

MIN_IOU = 0.3  # a re-run box overlapping the clicked object less than this is another object
SAME_IOU = 0.5  # boxes of the same object (before NMS, several anchors see it)
FIND_CONF = 0.01  # the object is looked for even if its score fell below the run's threshold
SCORE_GAP = 0.25  # a re-run score this far from the run's is said in the notes
GREY = 128  # the occluding patch, in 8-bit imagery values
PATCHES_PER_SIDE = (8, 12)  # the occlusion map is 64 to 144 model runs

ProgressCb = Callable[[float], None]
CancelCb = Callable[[], bool]


@dataclass
class View:
    """The crop of one run around the object (one per vintage for a change), and the re-run."""

    role: str  # "detection", "before" or "after"
    run_id: str
    run_date: str
    vintage: str
    raster: str
    crs: str
    window: tuple  # col, row, size of the crop in the run's grid (px)
    bounds: tuple  # xmin, ymin, xmax, ymax of the crop in ``crs``
    crop: np.ndarray  # (C, T, T) uint8: what the model saw (its channels, before normalisation)
    valid: np.ndarray  # (T, T) bool: pixels with imagery
    object_px: list  # outline of the clicked object in crop px [(x, y), ...]
    object_box: tuple  # its enclosing box x0, y0, x1, y1 in crop px
    match: Optional[dict] = None  # the re-run's box for this object (None: not found)
    model_input: Optional[np.ndarray] = field(default=None, repr=False)  # (C, T, T) float32

    def to_dict(self) -> dict:
        return {
            "role": self.role,
            "run_id": self.run_id,
            "run_date": self.run_date,
            "vintage": self.vintage,
            "raster": self.raster,
            "crs": self.crs,
            "crop_window_px": list(self.window),
            "crop_bounds": [round(v, 3) for v in self.bounds],
            "object_box_px": [round(v, 1) for v in self.object_box],
            "rerun": self.match,
        }


@dataclass
class OcclusionMap:
    """Drop of the matched object's score when a grey patch hides each area of the crop."""

    heat: np.ndarray  # (T, T) float32: mean score drop of the patches covering a pixel; NaN: not tested
    view: int  # index of the view in ``Explanation.views``
    patch: int  # patch side (px)
    stride: int  # mean step between patches (px)
    runs: int  # model runs made
    seconds: float
    base_score: float  # the object's score on the crop without any patch

    @property
    def max_drop(self) -> float:
        return float(np.nanmax(self.heat)) if np.isfinite(self.heat).any() else 0.0

    def to_dict(self) -> dict:
        return {
            "view": self.view,
            "patch_px": self.patch,
            "stride_px": self.stride,
            "model_runs": self.runs,
            "seconds": round(self.seconds, 2),
            "base_score": round(self.base_score, 4),
            "max_drop": round(self.max_drop, 4),
            "meaning": occlusion_meaning(),
        }


def occlusion_meaning() -> str:
    """The sentence that says how to read the heat map."""
    return tr(
        "Red = hiding this area (with a grey square) lowered the score most: the model relied on it. "
        "Blue = hiding it raised the score. No colour = hiding it changed little, or it was not tested."
    )


@dataclass
class Explanation:
    """Everything "Why this detection?" shows about one object."""

    kind: str  # "detection" or "change"
    gpkg: str
    layer: str
    fid: int
    label: str
    class_id: Optional[int]
    score: Optional[float]  # as written by the run
    class_scores: list  # [(label, score)] best first, as written by the run
    tile: Optional[dict]
    run_id: str
    run_date: str
    model: dict  # name, sha256, path, description, limits, classes
    views: list
    change: dict = field(default_factory=dict)  # the change layer's attributes
    notes: list = field(default_factory=list)
    occlusion: Optional[OcclusionMap] = None
    spec: Any = field(default=None, repr=False)
    session: Any = field(default=None, repr=False)

    @property
    def main_view(self) -> int:
        """The view holding the object: the detection, or the vintage where the object is."""
        if self.kind != "change":
            return 0
        want = "before" if self.change.get("change") == "removed" else "after"
        for i, v in enumerate(self.views):
            if v.role == want and v.match is not None:
                return i
        return next((i for i, v in enumerate(self.views) if v.match is not None), len(self.views) - 1)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "gpkg": self.gpkg,
            "layer": self.layer,
            "fid": self.fid,
            "label": self.label,
            "class_id": self.class_id,
            "score": self.score,
            "class_scores": [{"label": lab, "score": s} for lab, s in self.class_scores],
            "tile": self.tile,
            "run_id": self.run_id,
            "run_date": self.run_date,
            "model": self.model,
            "known_limits": self.model.get("limits", []),
            "change": self.change,
            "views": [v.to_dict() for v in self.views],
            "occlusion": None if self.occlusion is None else self.occlusion.to_dict(),
            "notes": self.notes,
        }


# -- reading the layer and its run(s) ------------------------------------------------------------


def _read_feature(gpkg: str, layer: Optional[str], fid: int) -> tuple:
    from shapely import wkb

    from ..analysis.io import open_vector_layer

    try:
        ds, lyr, name = open_vector_layer(
            gpkg,
            layer,
            tr("'{path}' cannot be opened as a GeoPackage ({err}); choose a detection GeoPackage."),
            tr("'{path}' holds several layers ({names}); choose the layer with --layer."),
        )
    except Exception as exc:  # AnalysisError and GDAL errors: one sentence
        raise UserInputError(str(exc)) from exc
    f = lyr.GetFeature(int(fid))
    if f is None or f.GetGeometryRef() is None:
        raise UserInputError(
            tr("The layer '{layer}' has no object with fid {fid} (it holds {n} objects).").format(
                layer=name, fid=fid, n=lyr.GetFeatureCount()
            )
        )
    defn = lyr.GetLayerDefn()
    attrs = {defn.GetFieldDefn(i).GetName(): f.GetField(i) for i in range(defn.GetFieldCount())}
    geom = wkb.loads(bytes(f.GetGeometryRef().ExportToIsoWkb()))
    srs = lyr.GetSpatialRef()
    crs = srs.ExportToWkt() if srs is not None else ""
    return name, attrs, geom, crs


def _runs_of(gpkg: str, layer: str, attrs: dict) -> tuple:
    """-> (kind, {role: run record}) of the clicked layer."""
    from ..analysis.io import read_layer_metadata, read_runs_table

    try:
        rows = read_runs_table(gpkg)
    except Exception as exc:
        raise UserInputError(str(exc)) from exc
    if "change" in attrs and "run_after" in attrs:
        meta = read_layer_metadata(gpkg, layer)
        runs = dict(meta.get("runs") or {})
        for role in ("before", "after"):
            if role not in runs:
                rid = attrs.get(f"run_{role}")
                hit = [r for r in rows if rid and r.get("run_id") == rid]
                if hit:
                    runs[role] = hit[-1]
        if len(runs) < 2:
            raise UserInputError(
                tr(
                    "The change layer '{layer}' does not record the imagery and model of its two runs; "
                    "compute the changes again with this version of IdF HR, or explain the objects of "
                    "each vintage's detection layer."
                ).format(layer=layer)
            )
        return "change", runs
    hit = [r for r in rows if r.get("layer") == layer]
    if not hit and attrs.get("run_id"):
        hit = [r for r in rows if r.get("run_id") == attrs["run_id"]]
    if not hit:
        raise UserInputError(
            tr(
                "The layer '{layer}' has no run record (table idfhr_runs): only detection layers written "
                "by IdF HR can be explained."
            ).format(layer=layer)
        )
    return "detection", {"detection": hit[-1]}


def _load_model(run: dict):
    from ..inference.model import load_model_spec

    path = str(run.get("model_path") or "")
    want = str(run.get("model_sha256") or "")
    if not path or not os.path.isfile(path):
        raise UserInputError(
            tr(
                "The model '{path}' used by run {run} is no longer there; put it back to explain this "
                "detection."
            ).format(path=path or run.get("model_name", "?"), run=str(run.get("run_id", ""))[:12])
        )
    try:
        spec = load_model_spec(path, task=run.get("task"), layout=run.get("layout"))
    except UserInputError as exc:
        raise UserInputError(
            tr("The model of run {run} cannot be loaded: {err}").format(
                run=str(run.get("run_id"))[:12], err=exc
            )
        ) from exc
    if want and spec.sha256.lower() != want.lower():
        raise UserInputError(
            tr(
                "The model file '{path}' has changed since run {run} (sha256 {got}… instead of {want}…): "
                "an explanation would not be of the model that made this detection. Restore the model "
                "used by the run, or run the detection again."
            ).format(path=path, run=str(run.get("run_id"))[:12], got=spec.sha256[:12], want=want[:12])
        )
    if spec.task not in ("detection", "obb", "instance_segmentation"):
        raise UserInputError(
            tr(
                "Run {run} used a {task} model: only detections (boxes) can be explained object by object."
            ).format(run=str(run.get("run_id"))[:12], task=spec.task)
        )
    return spec


def _model_info(spec, run: dict) -> dict:
    card = spec.card or {}
    limits = card.get("limits", card.get("known_limits")) or []
    if isinstance(limits, str):
        limits = [limits]
    return {
        "name": spec.name,
        "version": str(card.get("version", "")),
        "sha256": spec.sha256,
        "path": spec.path,
        "description": str(card.get("description", "")),
        "limits": [str(x) for x in limits],
        "classes": {str(k): v for k, v in spec.class_names.items()},
        "conf": float((run.get("parameters") or {}).get("conf", spec.conf)),
    }


# -- the crop and the re-run ---------------------------------------------------------------------


def _is_remote(path: str) -> bool:
    return "://" in path or path.startswith("/vsi")


def _plan_of(run: dict, read_path: str):
    from ..inference.runner import read_mask_file
    from ..inference.tiling import plan_tiles

    p = run.get("parameters") or {}
    mask = mask_crs = None
    exact_tiles = p.get("mask") in (None, "")
    if isinstance(p.get("mask"), str) and os.path.isfile(p["mask"]):
        mask, mask_crs = read_mask_file(p["mask"])
        exact_tiles = True
    plan = plan_tiles(
        read_path,
        tile_size=int(p.get("tile_size") or 512),
        overlap=int(p.get("overlap") or 0),
        gsd_m=p.get("gsd_m"),
        extent=p.get("extent"),
        extent_crs=p.get("extent_crs"),
        mask=mask,
        mask_crs=mask_crs,
    )
    return plan, exact_tiles


def _infer(spec, session, batch: np.ndarray) -> list:
    """Model outputs of ``batch`` (padded to the model's fixed batch when it has one)."""
    n = batch.shape[0]
    if spec.fixed_batch and n != spec.fixed_batch:
        pad = np.zeros((spec.fixed_batch - n,) + batch.shape[1:], np.float32)
        batch = np.concatenate([batch, pad])
    try:
        return session.run(None, {spec.input.name: batch})
    except Exception as exc:
        raise UserInputError(
            tr("ONNX Runtime failed on this model and imagery: {err}").format(err=str(exc)[:300])
        ) from exc


def _normalisation(spec) -> tuple:
    """(mean, std) of the model as (C, 1, 1) arrays, or None each."""
    return tuple(
        None if v is None else np.asarray(v, np.float32).reshape(-1, 1, 1) for v in (spec.mean, spec.std)
    )


def _iou(boxes: np.ndarray, ref) -> np.ndarray:
    x0 = np.maximum(boxes[:, 0], ref[0])
    y0 = np.maximum(boxes[:, 1], ref[1])
    x1 = np.minimum(boxes[:, 2], ref[2])
    y1 = np.minimum(boxes[:, 3], ref[3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ref_area = (ref[2] - ref[0]) * (ref[3] - ref[1])
    return inter / np.maximum(area + ref_area - inter, 1e-9)


def _match(det, ref_box, class_id: Optional[int]) -> Optional[int]:
    """Index of the re-run box that is the clicked object: the best score among the boxes
    overlapping it (same class first), else the most overlapping box, else None."""
    if len(det) == 0:
        return None
    iou = _iou(det.boxes, ref_box)
    same = iou >= SAME_IOU
    for cand in ((same & (det.class_ids == class_id)) if class_id is not None else same, same):
        if cand.any():
            return int(np.argmax(np.where(cand, det.scores, -1.0)))
    k = int(np.argmax(iou))
    return k if iou[k] >= MIN_IOU else None


def _class_score(det, idx: np.ndarray, class_id: int) -> np.ndarray:
    """Score of ``class_id`` for the boxes ``idx`` (0 when it is not among their best classes)."""
    if det.topk_ids is None:
        return np.where(det.class_ids[idx] == class_id, det.scores[idx], 0.0)
    hit = det.topk_ids[idx] == class_id
    return np.where(hit, det.topk_scores[idx], 0.0).max(axis=1)


def _match_dict(spec, det, k: int, ref_box) -> dict:
    ids = det.topk_ids[k] if det.topk_ids is not None else [det.class_ids[k]]
    scores = det.topk_scores[k] if det.topk_scores is not None else [det.scores[k]]
    return {
        "class_id": int(det.class_ids[k]),
        "label": spec.label(int(det.class_ids[k])),
        "score": round(float(det.scores[k]), 4),
        "class_scores": [[spec.label(int(c)), round(float(s), 4)] for c, s in zip(ids, scores)],
        "box_px": [round(float(v), 1) for v in det.boxes[k]],
        "iou_with_object": round(float(_iou(det.boxes[k : k + 1], ref_box)[0]), 3),
    }


def _view(role: str, run: dict, geom, geom_crs: str, spec, session, class_id) -> tuple:
    from ..inference.decoders import decode_detections
    from ..inference.reader import RasterioWindowReader, raster_band_info, resolve_band_map
    from ..inference.runner import preprocess
    from ..inference.tiling import to_crs, transform_geom
    from ..tiles.service import cached_gdal_path

    raster = str(run.get("raster_path") or run.get("raster") or "")
    rid = str(run.get("run_id", ""))
    if not raster or (not _is_remote(raster) and not os.path.exists(raster)):
        raise UserInputError(
            tr(
                "The imagery '{path}' read by run {run} is no longer there; put it back where it was to "
                "explain this detection (web imagery streamed through QGIS is not kept: save it as a file, "
                "e.g. in an offline pack, and run the detection on that file)."
            ).format(path=raster or "?", run=rid[:12])
        )
    read_path = cached_gdal_path(raster)
    plan, exact_tiles = _plan_of(run, read_path)
    grid = plan.grid
    T = plan.tile_size
    if geom_crs and to_crs(geom_crs) != grid.crs:
        geom = transform_geom(geom, to_crs(geom_crs), grid.crs)
    inv = ~grid.transform
    ring = (
        geom.exterior.coords
        if geom.geom_type == "Polygon"
        else max(geom.geoms, key=lambda g: g.area).exterior.coords
    )
    px = np.array([inv * (x, y) for x, y, *_ in ring], np.float64)
    bx0, by0 = px.min(axis=0)
    bx1, by1 = px.max(axis=0)
    col = int(round((bx0 + bx1) / 2 - T / 2))
    row = int(round((by0 + by1) / 2 - T / 2))
    col = min(max(col, 0), max(grid.width - T, 0))
    row = min(max(row, 0), max(grid.height - T, 0))
    p = run.get("parameters") or {}
    count, ci = raster_band_info(read_path)
    band_map = p.get("band_map")
    bands, alpha = resolve_band_map(band_map if band_map else None, count, ci, spec.channels)
    with RasterioWindowReader(read_path, grid, bands, alpha) as reader:
        data, valid = reader.read(col, row, T, T)
    x = np.zeros((spec.channels, T, T), np.float32)
    preprocess(data, x, *_normalisation(spec))
    outs = _infer(spec, session, x[None])
    det = decode_detections(spec, outs, FIND_CONF)[0]
    obj = px - (col, row)
    ref = (float(bx0 - col), float(by0 - row), float(bx1 - col), float(by1 - row))
    k = _match(det, ref, class_id)
    t = grid.transform
    xa, ya = t * (col, row)
    xb, yb = t * (col + T, row + T)
    view = View(
        role=role,
        run_id=rid,
        run_date=str(run.get("started_at") or run.get("created_at") or ""),
        vintage=str(run.get("vintage") or ""),
        raster=raster,
        crs=grid.crs.to_string(),
        window=(col, row, T),
        bounds=(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)),
        crop=np.clip(data, 0, 255).astype(np.uint8),
        valid=valid,
        object_px=[(float(a), float(b)) for a, b in obj],
        object_box=ref,
        match=None if k is None else _match_dict(spec, det, k, ref),
        model_input=x,
    )
    return view, plan, exact_tiles


def _tile_info(plan, tile_id, exact: bool) -> Optional[dict]:
    if tile_id is None:
        return None
    info: dict = {"id": int(tile_id)}
    if exact and 0 <= int(tile_id) < len(plan.tiles):
        t = plan.tiles[int(tile_id)]
        tr_ = plan.grid.transform
        xa, ya = tr_ * (t.col, t.row)
        xb, yb = tr_ * (t.col + t.size, t.row + t.size)
        info.update(
            col_px=t.col,
            row_px=t.row,
            size_px=t.size,
            bounds=[round(v, 3) for v in (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))],
            crs=plan.grid.crs.to_string(),
        )
    return info


def explain_feature(
    gpkg: str | os.PathLike,
    fid: int,
    layer: Optional[str] = None,
    *,
    occlusion: bool = False,
    progress: Optional[ProgressCb] = None,
    cancel: Optional[CancelCb] = None,
    threads: Optional[int] = None,
) -> Explanation:
    """Explain object ``fid`` of ``layer`` in ``gpkg`` (a detection or a change layer).

    Raises :class:`UserInputError` (one sentence) when the object, its run, its imagery or the
    very model of the run (same sha256) cannot be found. ``occlusion``: also compute
    :func:`occlusion_map` (``progress(fraction)``, ``cancel() -> True`` stops it).
    """
    from ..inference.model import create_session
    from ..inference.writer import parse_class_scores

    gpkg = str(gpkg)
    if not os.path.isfile(gpkg):
        raise UserInputError(tr("The GeoPackage '{path}' does not exist.").format(path=gpkg))
    name, attrs, geom, crs = _read_feature(gpkg, layer, fid)
    kind, runs = _runs_of(gpkg, name, attrs)
    first = runs.get("after") or runs.get("detection") or runs.get("before")
    spec = _load_model(first)
    for run in runs.values():
        if run is not first and str(run.get("model_sha256", "")).lower() != spec.sha256.lower():
            raise UserInputError(
                tr(
                    "The two runs of this change layer used different models; they cannot be explained together."
                )
            )
    session, _info = create_session(spec, threads=threads)
    class_id = attrs.get("class_id", attrs.get("class"))
    class_id = int(class_id) if isinstance(class_id, (int, float)) or str(class_id).isdigit() else None
    if class_id is None and attrs.get("label") is not None:
        class_id = next((k for k, v in spec.class_names.items() if v == attrs.get("label")), None)
    views, tile = [], None
    for role in ("detection", "before", "after"):
        if role not in runs:
            continue
        view, plan, exact = _view(role, runs[role], geom, crs, spec, session, class_id)
        views.append(view)
        if role == "detection":
            tile = _tile_info(plan, attrs.get("tile_id"), exact)
    notes = []
    for v in views:
        if v.match is None:
            notes.append(
                tr(
                    "On the {role} crop the model does not find this object any more (no box overlaps it)."
                ).format(role=v.vintage or v.role)
            )
    stored = attrs.get("score")
    v0 = views[0]
    if kind == "detection" and v0.match is not None and stored is not None:
        gap = abs(float(v0.match["score"]) - float(stored))
        if gap > SCORE_GAP:
            notes.append(
                tr(
                    "On this crop the score is {now:.2f}, {gap:.2f} away from the run's {was:.2f}: the object "
                    "may have been cut by a tile border in the run, or the imagery may have changed since."
                ).format(now=v0.match["score"], gap=gap, was=float(stored))
            )
    label = str(attrs.get("label") or (spec.label(class_id) if class_id is not None else ""))
    score = attrs.get("score")
    change = {}
    if kind == "change":
        keys = (
            "change",
            "score_before",
            "score_after",
            "confidence",
            "iou",
            "vintage_before",
            "vintage_after",
        )
        change = {k: attrs.get(k) for k in keys if k in attrs}
        score = attrs.get("score_after") if attrs.get("change") != "removed" else attrs.get("score_before")
    run0 = runs.get("detection") or runs.get("after") or first
    exp = Explanation(
        kind=kind,
        gpkg=gpkg,
        layer=name,
        fid=int(fid),
        label=label,
        class_id=class_id,
        score=None if score is None else float(score),
        class_scores=parse_class_scores(attrs.get("class_scores")),
        tile=tile,
        run_id=str(run0.get("run_id", "")),
        run_date=str(run0.get("started_at") or run0.get("created_at") or ""),
        model=_model_info(spec, run0),
        views=views,
        change=change,
        notes=notes,
        spec=spec,
        session=session,
    )
    if occlusion:
        occlusion_map(exp, progress=progress, cancel=cancel)
    return exp


# -- occlusion -----------------------------------------------------------------------------------


def _starts(lo: float, hi: float, patch: int, size: int) -> np.ndarray:
    """Patch positions along one axis covering [lo, hi) (clamped to the crop), 8 to 12 of them."""
    lo = max(0, int(math.floor(lo)))
    hi = min(size, int(math.ceil(hi)))
    if hi - lo < patch:
        lo, hi = max(0, min(lo, size - patch)), min(size, max(hi, lo + patch))
    n = int(np.clip(math.ceil((hi - lo - patch) / max(patch / 2, 1)) + 1, *PATCHES_PER_SIDE))
    return np.unique(np.round(np.linspace(lo, max(lo, hi - patch), n)).astype(int))


def occlusion_plan(object_box: tuple, size: int) -> tuple:
    """-> (patch side, x starts, y starts): patches of half the object's size over the object and
    one object size of context around it, 8-12 positions per axis (64-144 model runs)."""
    x0, y0, x1, y1 = object_box
    s = max(x1 - x0, y1 - y0, 1.0)
    patch = int(np.clip(round(s / 2), 8, max(8, size // 4)))
    ctx = s / 2 + patch / 2
    return patch, _starts(x0 - ctx, x1 + ctx, patch, size), _starts(y0 - ctx, y1 + ctx, patch, size)


def occlusion_map(
    exp: Explanation,
    view: Optional[int] = None,
    *,
    progress: Optional[ProgressCb] = None,
    cancel: Optional[CancelCb] = None,
    batch_size: Optional[int] = None,
) -> OcclusionMap:
    """Slide a grey patch over the object's crop, re-run the model, map the score drop.

    Sets and returns ``exp.occlusion``. Raises :class:`Cancelled` when ``cancel()`` turns True
    (checked between batches), and :class:`UserInputError` when the model does not find the
    object on the crop (nothing to measure).
    """
    from ..inference.decoders import decode_detections
    from ..inference.runner import auto_batch_size

    t0 = time.perf_counter()
    vi = exp.main_view if view is None else int(view)
    v = exp.views[vi]
    if v.match is None:
        raise UserInputError(
            tr(
                "The model does not find this object on its crop, so there is no score to explain with "
                "an occlusion map."
            )
        )
    spec, session = exp.spec, exp.session
    cls = int(v.match["class_id"])
    ref = tuple(v.match["box_px"])
    base = float(v.match["score"])
    C, T, _ = v.model_input.shape
    patch, xs, ys = occlusion_plan(v.object_box, T)
    grey = np.full((C, 1, 1), GREY, np.uint8)
    grey_in = np.zeros((C, 1, 1), np.float32)
    from ..inference.runner import preprocess

    preprocess(grey, grey_in, *_normalisation(spec))
    positions = [(x, y) for y in ys for x in xs]
    bs = int(spec.fixed_batch or batch_size or auto_batch_size(spec, T))
    drop_sum = np.zeros((T, T), np.float64)
    count = np.zeros((T, T), np.int32)
    done = 0
    for k in range(0, len(positions), bs):
        if cancel is not None and cancel():
            raise Cancelled(tr("Occlusion map cancelled."))
        chunk = positions[k : k + bs]
        batch = np.repeat(v.model_input[None], len(chunk), axis=0)
        for i, (x, y) in enumerate(chunk):
            batch[i, :, y : y + patch, x : x + patch] = grey_in
        dets = decode_detections(spec, _infer(spec, session, batch), FIND_CONF)
        for i, (x, y) in enumerate(chunk):
            d = dets[i]
            score = 0.0
            if len(d):
                near = np.nonzero(_iou(d.boxes, ref) >= SAME_IOU)[0]
                if near.size:
                    score = float(_class_score(d, near, cls).max())
            drop_sum[y : y + patch, x : x + patch] += base - score
            count[y : y + patch, x : x + patch] += 1
        done += len(chunk)
        if progress is not None:
            progress(done / len(positions))
    heat = np.full((T, T), np.nan, np.float32)
    seen = count > 0
    heat[seen] = (drop_sum[seen] / count[seen]).astype(np.float32)
    steps = np.diff(xs) if len(xs) > 1 else np.array([patch])
    occ = OcclusionMap(
        heat=heat,
        view=vi,
        patch=patch,
        stride=int(round(float(steps.mean()))),
        runs=len(positions),
        seconds=time.perf_counter() - t0,
        base_score=base,
    )
    exp.occlusion = occ
    return occ
