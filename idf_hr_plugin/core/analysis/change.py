"""Change between two vintages: one-to-one matching of detections per class, and overlay of
semantic-segmentation polygons.

Matching (``compare_detections``):

1. candidate pairs of the same class come from a spatial index (``geometry.candidate_pairs``);
2. their IoU (intersection over union of the footprints: boxes, rotated boxes and instance masks
   are all polygons) is computed vectorised;
3. pairs with ``IoU >= iou_min`` form a bipartite graph; each connected component is solved as an
   assignment problem maximising the summed IoU (``scipy.optimize.linear_sum_assignment``), so two
   small objects overlapping one large one give one match, not two, and a chain of overlaps gets
   the assignment a greedy pass would miss; single-edge components (almost all) are matched
   directly, vectorised;
4. an unmatched piece lying mostly inside a matched object of the other vintage and touching that
   object's partner (an object cut by a tile seam in one vintage only) is merged into the partner;
5. matched pairs are ``modified`` when the area changed by more than ``area_change`` (relative) or
   the footprint's centroid moved by more than ``shift_m``, else ``unchanged``; unmatched objects
   are ``new`` / ``removed`` only when they lie inside both runs' analysed areas, at least
   ``edge_m`` from their edges; otherwise (near an edge, under a NoData/mask hole of the other
   vintage) they are ``uncertain``.

Confidence (probability-like, in [0, 1]; documented in the output metadata):

* matched pair: ``score_before * score_after`` — both detections must be real, so two low scores
  (0.3 and 0.3 → 0.09) never read as a sure result;
* ``new``: ``score_after``, ``removed``: ``score_before`` — the only evidence of the change is the one
  detection (its absence in the other vintage is trusted only inside the analysed area);
* ``uncertain``: 0 — no claim is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ..i18n import tr
from . import geometry as G
from .errors import AnalysisError, check_cancel

NEW, REMOVED, UNCHANGED, MODIFIED, UNCERTAIN = "new", "removed", "unchanged", "modified", "uncertain"
STATUSES = (NEW, REMOVED, UNCHANGED, MODIFIED, UNCERTAIN)
CONFIDENCE_FORMULA = (
    "matched: score_before*score_after; new: score_after; removed: score_before; uncertain: 0"
)
# the part of each run's record kept with a change layer: what "Why this detection?" needs to
# read both vintages again (imagery, model, the run's grid)
PROVENANCE_KEYS = (
    "run_id",
    "layer",
    "started_at",
    "model_name",
    "model_path",
    "model_sha256",
    "task",
    "layout",
    "raster",
    "raster_path",
    "source",
    "vintage",
    "parameters",
)


@dataclass
class Detections:
    """One run's detections, geometries in a metric CRS (Lambert-93 expected).

    ``classes`` are the class keys matched on (class id or name); ``analysed_area`` is the
    (Multi)Polygon the run actually analysed (extent minus NoData / mask holes).
    """

    geometry: Any
    classes: Any
    scores: Any
    analysed_area: Any
    labels: Any = None
    crs: str = G.LAMBERT93
    model_name: str = ""
    model_sha256: str = ""
    vintage: str = ""
    run_id: str = ""
    attributes: dict = field(default_factory=dict)  # extra columns, e.g. ``fid`` when read from a file
    run_record: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.geometry = G.as_geometry_array(self.geometry)
        n = len(self.geometry)
        self.classes = np.asarray(self.classes)
        if n == 0 and self.classes.dtype.kind == "f":  # np.asarray([]) is float: no class type to keep
            self.classes = self.classes.astype(object)
        self.scores = np.asarray(self.scores, dtype=float)
        self.labels = np.asarray(self.labels if self.labels is not None else self.classes.astype(str))
        if not (len(self.classes) == len(self.scores) == len(self.labels) == n):
            raise AnalysisError(
                tr(
                    "The detections have {n} geometries but {c} classes, {s} scores and {l} labels; "
                    "every detection needs one of each."
                ).format(n=n, c=len(self.classes), s=len(self.scores), l=len(self.labels))
            )

    def __len__(self) -> int:
        return len(self.geometry)


@dataclass
class ChangeResult:
    """Columnar change records (one per row of ``geometry``) plus metadata."""

    geometry: np.ndarray
    columns: dict[str, np.ndarray]
    metadata: dict = field(default_factory=dict)
    compared_area: Any = None  # ground both runs analysed (Lambert-93 or the runs' metric CRS)

    def __len__(self) -> int:
        return len(self.geometry)

    def rows(self) -> list[dict]:
        """Records as dicts (``geometry`` included)."""
        keys = list(self.columns)
        cols = [self.columns[k].tolist() for k in keys]
        return [dict(zip(keys, vals), geometry=g) for vals, g in zip(zip(*cols), self.geometry)]

    def counts(self) -> dict[tuple, int]:
        """``{(class, change): count}``."""
        out: dict[tuple, int] = {}
        for c, s in zip(self.columns["class"].tolist(), self.columns["change"].tolist()):
            out[(c, s)] = out.get((c, s), 0) + 1
        return out


def _provenance(run: Detections) -> dict:
    """The part of a run record that says how to read its imagery and run its model again."""
    rec = run.run_record or {}
    return {k: rec[k] for k in PROVENANCE_KEYS if k in rec} if rec.get("run_id") else {}


def _same_model(before: Detections, after: Detections) -> None:
    if before.model_sha256 and after.model_sha256:
        same = before.model_sha256.lower() == after.model_sha256.lower()
    elif before.model_name or after.model_name:
        same = before.model_name == after.model_name
    else:
        same = True
    if not same:
        raise AnalysisError(
            tr(
                "The two runs come from different models ('{a}' and '{b}'), so their detections "
                "cannot be compared; run the same model on both vintages."
            ).format(
                a=before.model_name or before.model_sha256[:12], b=after.model_name or after.model_sha256[:12]
            )
        )


def _prepare(before: Detections, after: Detections) -> tuple[np.ndarray, np.ndarray, Any, Any, list[str]]:
    """Both runs' geometries and analysed areas in one metric CRS; notes say what was reprojected."""
    notes: list[str] = []
    for run in (before, after):
        if run.analysed_area is None or run.analysed_area.is_empty:
            raise AnalysisError(
                tr(
                    "The run '{run}' has no analysed area, so new and removed objects cannot be told "
                    "apart from unanalysed ground; give the extent the run covered."
                ).format(run=run.run_id or run.vintage or "?")
            )
    if str(before.crs) == str(after.crs):
        G.check_metric(before.crs)
        return before.geometry, after.geometry, before.analysed_area, after.analysed_area, notes
    geoms, areas = [], []
    for run in (before, after):
        g, moved = G.to_lambert93(run.geometry, run.crs)
        a, _ = G.to_lambert93(G.as_geometry_array([run.analysed_area]), run.crs)
        geoms.append(g)
        areas.append(a[0])
        if moved:
            notes.append(
                tr("Run {run} was reprojected from {crs} to Lambert-93 (EPSG:2154).").format(
                    run=run.run_id or run.vintage or "?", crs=run.crs
                )
            )
    return geoms[0], geoms[1], areas[0], areas[1], notes


def _common_ground(before: Detections, after: Detections):
    """Same model, one metric CRS, and the ground both runs analysed: ``(geoms_before, geoms_after,
    common_area, notes)``; refuses different models or runs that do not overlap."""
    _same_model(before, after)
    ga, gb, area_a, area_b, notes = _prepare(before, after)
    common = area_a.intersection(area_b)
    if common.is_empty or common.area <= 0:
        raise AnalysisError(
            tr(
                "The two runs do not overlap (their analysed areas have no common ground), so nothing "
                "can be compared; run both vintages over the same extent."
            )
        )
    return ga, gb, common, notes


def _pick(idx_a, vals_a, idx_b, vals_b, fill, dtype) -> np.ndarray:
    """Per record, the value of its before object (``idx_a``), overridden by its after object's."""
    n = len(idx_a) if idx_a is not None else len(idx_b)
    out = np.full(n, fill, dtype=dtype)
    for idx, vals in ((idx_a, vals_a), (idx_b, vals_b)):
        if idx is not None:
            has = idx >= 0
            out[has] = vals[idx[has]]
    return out


def _iou(a, b) -> float:
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _assign(ia: np.ndarray, ib: np.ndarray, iou: np.ndarray, na: int, nb: int, cancel=None):
    """One-to-one assignment maximising the summed IoU per connected component of the pair graph;
    ``cancel()`` is checked every 1000 multi-object components."""
    if len(ia) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = na + nb
    graph = coo_matrix((np.ones(len(ia)), (ia, ib + na)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    comp = label[ia]
    edges_per_comp = np.bincount(comp, minlength=label.max() + 1)
    single = edges_per_comp[comp] == 1
    out_a, out_b, out_iou = [ia[single]], [ib[single]], [iou[single]]
    multi = np.nonzero(~single)[0]
    if len(multi):
        multi = multi[np.argsort(comp[multi], kind="stable")]
        cuts = np.nonzero(np.diff(comp[multi]))[0] + 1
        for k, grp in enumerate(np.split(multi, cuts)):  # only components with several candidates
            if k % 1000 == 0:
                check_cancel(cancel)
            ua, ra = np.unique(ia[grp], return_inverse=True)
            ub, rb = np.unique(ib[grp], return_inverse=True)
            m = np.zeros((len(ua), len(ub)))
            m[ra, rb] = iou[grp]
            r, c = linear_sum_assignment(m, maximize=True)
            ok = m[r, c] > 0
            out_a.append(ua[r[ok]])
            out_b.append(ub[c[ok]])
            out_iou.append(m[r[ok], c[ok]])
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_iou)


def compare_detections(
    before: Detections,
    after: Detections,
    *,
    iou_min: float = 0.3,
    area_change: float = 0.25,
    shift_m: float = 1.5,
    edge_m: float = 2.0,
    fragment_cover: float = 0.5,
    seam_tol_m: float = 0.5,
    exclude_classes: Optional[set] = None,
    cancel: Optional[Callable[[], bool]] = None,
) -> ChangeResult:
    """Match ``before`` and ``after`` one-to-one per class; one record per object (pair).

    Columns: ``change``, ``class``, ``label``, ``score_before``, ``score_after``,
    ``area_before_m2``, ``area_after_m2``, ``iou``, ``confidence``, ``vintage_before``,
    ``vintage_after``, ``run_before``, ``run_after``, ``index_before``, ``index_after`` (-1 when
    absent), ``merged_parts``. Geometry: the after footprint, or the before one for removed
    objects. Raises :class:`AnalysisError` for different models or runs that do not overlap, and
    ``Cancelled`` as soon as ``cancel()`` returns True (checked every few thousand objects or pairs).
    """
    check_cancel(cancel)
    ga, gb, common, notes = _common_ground(before, after)
    if exclude_classes:
        keep_a = ~np.isin(before.classes, list(exclude_classes))
        keep_b = ~np.isin(after.classes, list(exclude_classes))
    else:
        keep_a = np.ones(len(ga), bool)
        keep_b = np.ones(len(gb), bool)
    ka, kb = np.nonzero(keep_a)[0], np.nonzero(keep_b)[0]
    ga, gb = ga[ka], gb[kb]
    cls_a, cls_b = before.classes[ka], after.classes[kb]
    na, nb = len(ga), len(gb)

    box_a, box_b = (G.batched(lambda s, g=g: G.bounds(g[s]), len(g), cancel) for g in (ga, gb))
    ar_a, ar_b = (G.batched(lambda s, g=g: G.areas(g[s]), len(g), cancel) for g in (ga, gb))
    rect_a, rect_b = G.is_rectangle(ar_a, box_a), G.is_rectangle(ar_b, box_b)
    ia, ib = G.candidate_pairs(ga, gb, box_a, box_b, cancel)
    if cls_a.dtype.kind != cls_b.dtype.kind:  # e.g. an empty run's float array vs names
        cls_a, cls_b = cls_a.astype(str), cls_b.astype(str)
    same = cls_a[ia] == cls_b[ib]
    ia, ib = ia[same], ib[same]
    inter = G.batched(
        lambda s: G.pair_intersection_areas(ga, gb, ia[s], ib[s], box_a, box_b, rect_a, rect_b),
        len(ia),
        cancel,
    )
    pos = inter > 0
    ia, ib, inter = ia[pos], ib[pos], inter[pos]
    union = ar_a[ia] + ar_b[ib] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    good = iou >= iou_min
    ma, mb, miou = _assign(ia[good], ib[good], iou[good], na, nb, cancel)

    partner_a = np.full(na, -1, np.int64)
    partner_b = np.full(nb, -1, np.int64)
    partner_a[ma] = mb
    partner_b[mb] = ma

    # seam fragments: an unmatched piece mostly inside a matched object of the other vintage,
    # touching that object's partner, is merged into the partner when that improves the pair's IoU
    # (so a small object under an unchanged large one is never swallowed)
    geoms_a_final = ga.copy()
    geoms_b_final = gb.copy()
    merged_a: dict = {}  # matched index in A -> absorbed A indices
    merged_b: dict = {}
    for side in ("a", "b"):
        if side == "a":
            own, other, own_partner, other_partner, own_area = ia, ib, partner_a, partner_b, ar_a
            geoms, final, other_final, merged = ga, geoms_a_final, geoms_b_final, merged_a
        else:
            own, other, own_partner, other_partner, own_area = ib, ia, partner_b, partner_a, ar_b
            geoms, final, other_final, merged = gb, geoms_b_final, geoms_a_final, merged_b
        sel = (
            (own_partner[own] == -1) & (other_partner[other] >= 0) & (inter >= fragment_cover * own_area[own])
        )
        for n_seen, k in enumerate(np.nonzero(sel)[0]):  # rare: only pieces left over by a seam
            if n_seen % 1000 == 0:
                check_cancel(cancel)
            u, host = own[k], other_partner[other[k]]
            if own_partner[u] != -1 or geoms[u].distance(final[host]) > seam_tol_m:
                continue
            target = other_final[other[k]]
            grown = final[host].union(geoms[u])
            if _iou(grown, target) <= _iou(final[host], target):
                continue
            final[host] = grown
            own_partner[u] = -2  # absorbed
            merged.setdefault(host, []).append(u)
    n_merged = len(merged_a) + len(merged_b)
    if n_merged:
        ar_a, ar_b = ar_a.copy(), ar_b.copy()
        for k in range(len(ma)):
            if ma[k] in merged_a or mb[k] in merged_b:
                miou[k] = _iou(geoms_a_final[ma[k]], geoms_b_final[mb[k]])
                ar_a[ma[k]] = geoms_a_final[ma[k]].area
                ar_b[mb[k]] = geoms_b_final[mb[k]].area

    # matched pairs
    a_area, b_area = ar_a[ma], ar_b[mb]
    rel = np.abs(b_area - a_area) / np.maximum(np.maximum(a_area, b_area), 1e-12)
    if n_merged:  # merged footprints are no longer their original boxes
        box_a, box_b, rect_a, rect_b = box_a.copy(), box_b.copy(), rect_a.copy(), rect_b.copy()
        for merged, final, bx, rc in (
            (merged_a, geoms_a_final, box_a, rect_a),
            (merged_b, geoms_b_final, box_b, rect_b),
        ):
            for host in merged:
                bx[host] = final[host].bounds
                rc[host] = False
    ca = G.batched(lambda s: G.centroids(geoms_a_final[ma[s]], box_a[ma[s]], rect_a[ma[s]]), len(ma), cancel)
    cb = G.batched(lambda s: G.centroids(geoms_b_final[mb[s]], box_b[mb[s]], rect_b[mb[s]]), len(mb), cancel)
    moved = np.hypot(*(cb - ca).T) if len(ma) else np.zeros(0)
    status_m = np.where((rel > area_change) | (moved > shift_m), MODIFIED, UNCHANGED)

    # unmatched objects: new/removed only well inside both analysed areas
    core = common.buffer(-edge_m) if edge_m > 0 else common
    ua = np.nonzero(partner_a == -1)[0]
    ub = np.nonzero(partner_b == -1)[0]
    inside_a, inside_b = (
        G.batched(lambda s, g=g: G.within_mask(g[s], core), len(g), cancel)
        if not core.is_empty
        else np.zeros(len(g), bool)
        for g in (ga[ua], gb[ub])
    )
    check_cancel(cancel)

    nm, nr, nn = len(ma), len(ua), len(ub)
    idx_a = np.concatenate([ma, ua, np.full(nn, -1, np.int64)])
    idx_b = np.concatenate([mb, np.full(nr, -1, np.int64), ub])
    has_a, has_b = idx_a >= 0, idx_b >= 0
    change = np.concatenate(
        [status_m, np.where(inside_a, REMOVED, UNCERTAIN), np.where(inside_b, NEW, UNCERTAIN)]
    ).astype(object)
    score_before = _pick(idx_a, before.scores[ka], None, None, np.nan, float)
    score_after = _pick(None, None, idx_b, after.scores[kb], np.nan, float)
    conf = np.where(
        has_a & has_b,
        score_before * score_after,
        np.where(has_a, score_before, score_after),
    )
    conf = np.where(change == UNCERTAIN, 0.0, np.nan_to_num(conf))
    ints = before.classes.dtype.kind in "iu" and after.classes.dtype.kind in "iu"
    cls = _pick(
        idx_a,
        before.classes[ka],
        idx_b,
        after.classes[kb],
        -1 if ints else None,
        np.int64 if ints else object,
    )
    lab = _pick(idx_a, before.labels[ka], idx_b, after.labels[kb], None, object)
    geom = np.empty(nm + nr + nn, dtype=object)
    geom[:nm] = geoms_b_final[mb]
    geom[nm : nm + nr] = geoms_a_final[ua]
    geom[nm + nr :] = geoms_b_final[ub]
    merged_parts = np.zeros(nm + nr + nn, np.int64)
    for k in range(nm) if n_merged else ():
        merged_parts[k] = len(merged_a.get(ma[k], ())) + len(merged_b.get(mb[k], ()))
    n = nm + nr + nn
    columns = {
        "change": change,
        "class": cls,
        "label": lab,
        "score_before": score_before,
        "score_after": score_after,
        "area_before_m2": _pick(idx_a, ar_a, None, None, np.nan, float),
        "area_after_m2": _pick(None, None, idx_b, ar_b, np.nan, float),
        "iou": np.concatenate([miou, np.full(nr + nn, np.nan)]),
        "confidence": conf,
        "vintage_before": np.full(n, str(before.vintage), dtype=object),
        "vintage_after": np.full(n, str(after.vintage), dtype=object),
        "run_before": np.full(n, str(before.run_id), dtype=object),
        "run_after": np.full(n, str(after.run_id), dtype=object),
        "index_before": _pick(idx_a, ka, None, None, -1, np.int64),
        "index_after": _pick(None, None, idx_b, kb, -1, np.int64),
        "merged_parts": merged_parts,
    }
    metadata = {
        "method": "one-to-one IoU assignment per class (spatial index + linear_sum_assignment)",
        "iou_min": iou_min,
        "area_change": area_change,
        "shift_m": shift_m,
        "edge_m": edge_m,
        "confidence_formula": CONFIDENCE_FORMULA,
        "compared_area_m2": float(common.area),
        "excluded_classes": sorted(map(str, exclude_classes or ())),
        "model_name": after.model_name or before.model_name,
        "model_sha256": after.model_sha256 or before.model_sha256,
        "notes": notes,
        "crs": G.LAMBERT93 if notes else str(before.crs),
    }
    runs = {role: _provenance(run) for role, run in (("before", before), ("after", after))}
    if all(runs.values()):
        metadata["runs"] = runs
    return ChangeResult(geometry=geom, columns=columns, metadata=metadata, compared_area=common)


@dataclass
class SegmentationChange:
    """Per-class overlay of two segmentation runs: totals table and gained / lost polygons."""

    totals: list[dict]
    geometry: np.ndarray
    columns: dict[str, np.ndarray]
    metadata: dict = field(default_factory=dict)
    compared_area: Any = None


def compare_segmentation(
    before: Detections, after: Detections, *, cancel: Optional[Callable[[], bool]] = None
) -> SegmentationChange:
    """Overlay per class, clipped to the ground both runs analysed.

    ``totals`` rows: ``class``, ``label``, ``area_before_m2``, ``area_after_m2``, ``gained_m2``,
    ``lost_m2``, ``net_m2``. Geometry rows: one (Multi)Polygon per class and ``change`` ∈
    {``gained``, ``lost``} with its ``area_m2`` (empty ones are left out).
    """
    from shapely.ops import unary_union

    ga, gb, common, notes = _common_ground(before, after)
    totals, geoms, cls_col, lab_col, chg_col, area_col = [], [], [], [], [], []
    keys = list(dict.fromkeys(before.classes.tolist() + after.classes.tolist()))
    for key in keys:
        check_cancel(cancel)  # each class is one (possibly long) union and overlay
        sel_a = before.classes == key
        sel_b = after.classes == key
        label = str((after.labels[sel_b] if sel_b.any() else before.labels[sel_a])[0])
        ua = unary_union(list(ga[sel_a])).intersection(common) if sel_a.any() else None
        ub = unary_union(list(gb[sel_b])).intersection(common) if sel_b.any() else None
        if ua is None and ub is None:
            continue
        if ua is None:
            gained, lost = ub, None
        elif ub is None:
            gained, lost = None, ua
        else:
            gained, lost = ub.difference(ua), ua.difference(ub)
        a0 = ua.area if ua is not None else 0.0
        a1 = ub.area if ub is not None else 0.0
        g_m2 = gained.area if gained is not None else 0.0
        l_m2 = lost.area if lost is not None else 0.0
        totals.append(
            {
                "class": key,
                "label": label,
                "area_before_m2": a0,
                "area_after_m2": a1,
                "gained_m2": g_m2,
                "lost_m2": l_m2,
                "net_m2": a1 - a0,
            }
        )
        for name, g, a in (("gained", gained, g_m2), ("lost", lost, l_m2)):
            if g is not None and a > 0:
                geoms.append(g)
                cls_col.append(key)
                lab_col.append(label)
                chg_col.append(name)
                area_col.append(a)
    columns = {
        "change": np.array(chg_col, dtype=object),
        "class": np.array(cls_col),
        "label": np.array(lab_col, dtype=object),
        "area_m2": np.array(area_col, dtype=float),
    }
    metadata = {
        "method": "polygon overlay per class, clipped to both runs' analysed areas",
        "compared_area_m2": float(common.area),
        "notes": notes,
        "vintage_before": str(before.vintage),
        "vintage_after": str(after.vintage),
        "crs": G.LAMBERT93 if notes else str(before.crs),
    }
    return SegmentationChange(totals, G.as_geometry_array(geoms), columns, metadata, compared_area=common)
