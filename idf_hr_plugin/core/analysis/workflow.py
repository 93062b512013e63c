"""The change chain shared by the CLI, Processing, the Analyse tab and the accuracy check:
two detection runs (or two existing detection layers) -> ``compare_detections`` -> change layer;
and the yardstick that scores detected changes against a ground truth.

Cars are parked somewhere else on every flight, so a car "new" or "removed" says nothing about the
territory: :data:`DEFAULT_EXCLUDED` leaves them out of change detection unless the user asks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..errors import Cancelled
from ..gdal_errors import with_gdal_exceptions
from ..i18n import decimal_sep, tr
from .change import NEW, REMOVED, ChangeResult, Detections, compare_detections, compare_segmentation
from .errors import AnalysisError
from .io import read_detections

DEFAULT_EXCLUDED = ("car",)
ZONE_NAME_FIELDS = ("nom", "name", "NOM", "NAME", "nom_com", "libelle", "ept_nom", "zone")
CancelCb = Callable[[], bool]


def parse_classes(text: str | Sequence[str] | None) -> set:
    """``"car, tree"`` or a list -> ``{"car", "tree"}``; empty / None -> empty set."""
    if text is None:
        return set()
    items = text.split(",") if isinstance(text, str) else list(text)
    return {str(s).strip() for s in items if str(s).strip()}


def _exclusion_keys(run: Detections, names: set) -> set:
    """Excluded class keys of ``run``: names match the class key or its label (class ids stay ids)."""
    keys = set()
    for k, lab in zip(run.classes.tolist(), run.labels.tolist()):
        if str(k) in names or str(lab) in names:
            keys.add(k)
    return keys


def is_segmentation(run: Detections) -> bool:
    """True when the run record says the model was a semantic-segmentation model."""
    rec = run.run_record or {}
    return str(rec.get("task") or (rec.get("parameters") or {}).get("task") or "") == "semantic_segmentation"


def compare_runs(
    before: Detections,
    after: Detections,
    *,
    exclude: Optional[set] = None,
    cancel: Optional[CancelCb] = None,
    **options: Any,
) -> ChangeResult:
    """``compare_detections`` with classes excluded by name or label (default: cars); two
    semantic-segmentation runs are overlaid instead (``compare_segmentation``: gained / lost)."""
    names = set(DEFAULT_EXCLUDED) if exclude is None else set(exclude)
    if cancel is not None and cancel():
        raise Cancelled()
    if is_segmentation(before) and is_segmentation(after):
        result = compare_segmentation(before, after, cancel=cancel)
    else:
        keys = _exclusion_keys(before, names) | _exclusion_keys(after, names)
        result = compare_detections(before, after, exclude_classes=keys or None, cancel=cancel, **options)
    result.metadata["excluded_classes"] = sorted(names)
    result.metadata["compared_area_wkt"] = result.compared_area.wkt  # so zonal statistics can reuse it
    if cancel is not None and cancel():
        raise Cancelled()
    return result


def detect_vintages(
    model: str | os.PathLike,
    rasters: Sequence[str],
    vintages: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    extent: Optional[Sequence[float]] = None,
    extent_crs: Any = None,
    cancel: Optional[CancelCb] = None,
    progress: Optional[Callable[[float, str], None]] = None,
    session: Any = None,
) -> list[Detections]:
    """Run ``model`` on each raster over the same ``extent``; return the runs as :class:`Detections`.

    Each run is written to ``out_dir/detections_<vintage>.gpkg`` (an existing file is refused);
    both appear only once both runs are complete. ``cancel()`` is honoured inside each run;
    ``progress(fraction, message)``.
    """
    import shutil
    import tempfile

    if len(rasters) != len(vintages):
        raise AnalysisError(tr("Give one vintage per imagery layer."))
    out_dir = Path(out_dir)
    finals = [out_dir / f"detections_{v}.gpkg" for v in vintages]
    taken = [str(p) for p in finals if p.exists()]
    if taken:
        raise AnalysisError(
            tr("The detection output {paths} already exists; choose another output name.").format(
                paths=", ".join(taken)
            )
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # runs go to a hidden folder and are moved into place only when both are complete, so a
    # cancelled or failed chain leaves nothing behind
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.part-", dir=out_dir.parent))
    try:
        runs = _run_all(model, rasters, vintages, work, extent, extent_crs, cancel, progress, session)
        out_dir.mkdir(exist_ok=True)
        for final in finals:
            os.replace(work / final.name, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [read_detections(final, run.layer) for run, final in zip(runs, finals)]


def _run_all(model, rasters, vintages, out_dir: Path, extent, extent_crs, cancel, progress, session) -> list:
    from ..inference import run_detection

    reports = []
    n = len(rasters)
    for i, (raster, vintage) in enumerate(zip(rasters, vintages)):

        def tiles(done: int, total: int, _eta: float, i=i, vintage=vintage) -> None:
            if progress is not None and total:
                progress((i + done / total) / n, tr("Detection on {v}").format(v=vintage))

        report = run_detection(
            str(model),
            str(raster),
            extent=extent,
            extent_crs=extent_crs,
            out_path=out_dir / f"detections_{vintage}.gpkg",
            vintage=str(vintage),
            source=Path(str(raster)).name,
            progress=tiles,
            cancel=cancel,
            session=session,
        )
        reports.append(report)
    return reports


def check_name_field(name_field: Optional[str], fields: Sequence[str]) -> str:
    """The field naming the zones: ``name_field``, else a usual name (``nom``, ``name``…); when
    there is none, the error asks the user to choose one of ``fields``."""
    if not name_field:
        name_field = next((f for f in ZONE_NAME_FIELDS if f in fields), None)
    if not name_field or name_field not in fields:
        raise AnalysisError(
            tr(
                "The zones layer has no field '{field}' to name the zones; choose one of its fields: {fields}."
            ).format(field=name_field or "nom", fields=", ".join(fields) or "-")
        )
    return name_field


@with_gdal_exceptions
def read_zones(
    path: str | os.PathLike, layer: Optional[str] = None, name_field: Optional[str] = None
) -> tuple[list, list[str], str]:
    """Polygons of a vector file as ``(geometries, names, crs)``.

    ``name_field`` names the zones; when omitted, a field called ``nom``/``name``/``NOM`` is used,
    else the user is asked to choose one (the error lists the fields).
    """
    from shapely import wkb

    from .io import _layer_crs, _ogr, _open

    ogr, _ = _ogr()
    ds = _open(path, False, tr("'{path}' cannot be opened as a vector file ({err}); choose a polygon layer."))
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    if lyr is None:
        raise AnalysisError(tr("The layer '{layer}' is not in '{path}'.").format(layer=layer, path=path))
    defn = lyr.GetLayerDefn()
    name_field = check_name_field(
        name_field, [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    )
    geoms, names = [], []
    for f in lyr:
        g = f.GetGeometryRef()
        if g is None or g.IsEmpty():
            continue
        geoms.append(wkb.loads(bytes(g.ExportToIsoWkb())))
        names.append(f.GetField(name_field))
    return geoms, names, _layer_crs(lyr) or "EPSG:4326"


def boundary_zones(level: str, boundaries: Any = None) -> tuple[list, list[str], str]:
    """MGP zones from the boundaries service (cache first, offline-capable): ``level`` is
    ``commune``, ``ept`` or ``mgp`` (one zone). Returns ``(geometries, names, "EPSG:4326")``."""
    from shapely.geometry import shape
    from shapely.ops import unary_union

    from ..opendata.boundaries import Boundaries

    b = boundaries if boundaries is not None else Boundaries.fetch()
    if level not in ("commune", "ept", "mgp"):
        raise AnalysisError(
            tr("The zones must be commune, ept, mgp or a polygon file, not '{z}'.").format(z=level)
        )
    fc = b.feature_collection("ept" if level == "ept" else "commune")
    geoms = [shape(f["geometry"]) for f in fc["features"] if f.get("geometry")]
    key = "ept_nom" if level == "ept" else "nom"
    names = [f["properties"][key] for f in fc["features"] if f.get("geometry")]
    if level == "mgp":
        geoms, names = [unary_union(geoms)], ["Métropole du Grand Paris"]
    return geoms, names, "EPSG:4326"


@with_gdal_exceptions
def layer_statistics(
    gpkg: str | os.PathLike,
    layer: Optional[str],
    zones: Sequence,
    zone_names: Sequence,
    zones_crs: Any,
    cancel: Optional[CancelCb] = None,
):
    """Zonal statistics of a detection layer, or of a change layer written by this module (its
    compared area and statuses are used). Returns a ``ZonalResult``; ``cancel()`` raises
    ``Cancelled`` during the counting."""
    from shapely import wkt

    from .io import read_layer_metadata
    from .zonal import zonal_statistics

    run = read_detections(gpkg, layer, fields=())
    if layer is None:  # read_detections accepted the file's only layer
        from .io import _ogr

        ogr, _ = _ogr()
        ds = ogr.Open(str(gpkg))
        layer = next(
            n for n in (ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())) if n != "idfhr_runs"
        )
        ds = None
    meta = read_layer_metadata(gpkg, layer)
    change = None
    area = run.analysed_area
    if meta.get("compared_area_wkt"):
        area = wkt.loads(meta["compared_area_wkt"])
        change = read_detections(gpkg, layer, analysed_area=area, fields=("change",)).attributes["change"]
    if area is None:
        raise AnalysisError(
            tr(
                "The layer '{layer}' does not say which ground was analysed, so densities and the "
                "analysed fraction cannot be given; use a layer written by an IdF HR detection or "
                "change run."
            ).format(layer=layer or gpkg)
        )
    return zonal_statistics(
        zones,
        zone_names,
        run.geometry,
        run.classes,
        [area],
        zones_crs=zones_crs,
        crs=run.crs,
        labels=run.labels,
        change=change,
        cancel=cancel,
    )


def _prf(tp: int, detected: int, true: int) -> dict:
    """Precision / recall / F1 (None where undefined: nothing detected or nothing to find)."""
    p = tp / detected if detected else None
    r = tp / true if true else None
    f1 = (2 * p * r / (p + r) if p + r > 0 else 0.0) if p is not None and r is not None else None
    rnd = lambda v: None if v is None else round(v, 4)  # noqa: E731
    return {
        "precision": rnd(p),
        "recall": rnd(r),
        "f1": rnd(f1),
        "tp": tp,
        "detected": detected,
        "true": true,
    }


@with_gdal_exceptions
def check_new_layer(path: str | os.PathLike, layer: str) -> None:
    """Refuse, before any work, an output GeoPackage that already holds ``layer``."""
    from .io import _ogr

    if not Path(path).exists():
        return
    ogr, _ = _ogr()
    try:
        ds = ogr.Open(str(path))
    except RuntimeError:
        ds = None
    if ds is not None and ds.GetLayerByName(layer) is not None:
        raise AnalysisError(
            tr(
                "The GeoPackage '{path}' already has a layer '{layer}'; choose another file or layer name."
            ).format(path=path, layer=layer)
        )


def _truth_status(truth_before: Detections, truth_after: Detections, status: str):
    """Ground-truth objects of ``status`` (``new`` from the after truth, ``removed`` from the before)."""
    src = truth_after if status == NEW else truth_before
    sel = np.asarray(src.attributes["change"]).astype(str) == status
    return src.geometry[sel], src.classes[sel].astype(str)


def change_accuracy(
    result: ChangeResult,
    truth_before: Detections,
    truth_after: Detections,
    *,
    area: Any = None,
    iou_min: float = 0.3,
) -> dict:
    """Precision / recall / F1 of detected ``new`` and ``removed`` objects per class.

    ``truth_*`` are the ground truth of each vintage with a ``change`` attribute. A detected change
    is right when it overlaps (IoU >= ``iou_min``, one-to-one, greedy by IoU) a true change of the
    same status and class. Only objects whose representative point lies in ``area`` (default: the
    compared area) are scored. Returns ``{status: {class: {precision, recall, f1, tp, detected,
    true}}}``.
    """
    from shapely.geometry import Point

    area = result.compared_area if area is None else area
    out: dict = {}
    classes = sorted(set(truth_before.classes.astype(str)) | set(truth_after.classes.astype(str)))
    for status in (NEW, REMOVED):
        sel = result.columns["change"].astype(str) == status
        d_geom = result.geometry[sel]
        d_cls = result.columns["label"][sel].astype(str)
        t_geom, t_cls = _truth_status(truth_before, truth_after, status)

        def inside(geoms):
            return np.array([area.contains(Point(g.representative_point())) for g in geoms], bool)

        di, ti = inside(d_geom), inside(t_geom)
        per: dict = {}
        for c in classes:
            dg = [g for g, k, ok in zip(d_geom, d_cls, di) if k == c and ok]
            tg = [g for g, k, ok in zip(t_geom, t_cls, ti) if k == c and ok]
            pairs = []
            for i, a in enumerate(dg):
                for j, b in enumerate(tg):
                    if a.intersects(b):
                        inter = a.intersection(b).area
                        iou = inter / (a.area + b.area - inter)
                        if iou >= iou_min:
                            pairs.append((iou, i, j))
            used_d, used_t = set(), set()
            for _iou, i, j in sorted(pairs, reverse=True):
                if i not in used_d and j not in used_t:
                    used_d.add(i)
                    used_t.add(j)
            per[c] = _prf(len(used_d), len(dg), len(tg))
        kept = [v for c, v in per.items() if c not in DEFAULT_EXCLUDED]
        per["all_but_" + "_".join(DEFAULT_EXCLUDED)] = _prf(
            sum(v["tp"] for v in kept), sum(v["detected"] for v in kept), sum(v["true"] for v in kept)
        )
        out[status] = per
    return out


def pct_text(fraction: float, decimal: str = ".") -> str:
    """A share as a percentage that never reads 0 when something was analysed: 12, 0.04, < 0.01."""
    p = 100.0 * float(fraction)
    if p == 0 or p >= 1:
        text = f"{p:.0f}"
    elif p >= 0.01:
        text = f"{p:.2g}"
    else:
        text = "< 0.01"
    return text.replace(".", decimal)


def zone_summary(result: Any, most: Optional[int] = None) -> list[str]:
    """One line per zone that was (partly) analysed: "Paris: 3 objects, analysed at 0.04 %"; with
    ``most``, the lines after it are summed up in a last line."""
    seen = [z for z in result.zones if z["analysed_fraction"] > 0]
    lines = [
        tr("{zone}: {n} objects, analysed at {pct} %").format(
            zone=z["zone"], n=z["count"], pct=pct_text(z["analysed_fraction"], decimal_sep())
        )
        for z in seen[:most]
    ]
    if most is not None and len(seen) > most:
        lines.append(tr("and {n} more zones").format(n=len(seen) - most))
    if len(seen) < len(result.zones):
        lines.append(tr("{n} zones not analysed at all").format(n=len(result.zones) - len(seen)))
    return lines


def zone_indicators(result: Any) -> dict[str, np.ndarray]:
    """One row per zone of a ``ZonalResult``: the columns of the joined zones layer.

    ``analysed_label`` reads "analysé à 12 %" so a map label never hides how much was seen;
    densities are per analysed km² (None where nothing was analysed: no extrapolation).
    """
    zones = result.zones
    change = any("n_new" in r for r in result.rows)
    cols: dict[str, list] = {
        "zone": [z["zone"] for z in zones],
        "zone_area_km2": [z["zone_area_km2"] for z in zones],
        "analysed_km2": [z["analysed_km2"] for z in zones],
        "analysed_pct": [round(100 * z["analysed_fraction"], 2) for z in zones],
        "analysed_label": [f"analysé à {pct_text(z['analysed_fraction'], ',')} %" for z in zones],
        "count": [z["count"] for z in zones],
        "density_per_km2": [
            z["count"] / z["analysed_km2"] if z["analysed_km2"] > 0 else np.nan for z in zones
        ],
    }
    if change:
        for key in ("n_new", "n_removed", "net_change"):
            cols[key] = [sum(r[key] for r in result.rows if r["zone"] == z["zone"]) for z in zones]
    return {
        k: np.asarray(v, dtype=object if k in ("zone", "analysed_label") else None) for k, v in cols.items()
    }


def write_zones_layer(
    result: Any,
    zones: Sequence,
    zones_crs: Any,
    path: str | os.PathLike,
    layer: str = "zone_statistics",
    *,
    cancel: Optional[CancelCb] = None,
) -> str:
    """The zones (in Lambert-93) joined with :func:`zone_indicators`, as a GeoPackage layer."""
    from . import geometry as G
    from .io import write_layer

    geoms, _ = G.to_lambert93(G.as_geometry_array(list(zones)), zones_crs)
    return write_layer(
        path, layer, geoms, zone_indicators(result), crs=G.LAMBERT93, metadata=result.metadata, cancel=cancel
    )
