"""What a report shows, gathered from GeoPackage layers (Qt-free).

:func:`gather_report_data` reads a detection, change or zone-statistics layer, the ``idfhr_runs``
records of the runs behind it and the model card, and returns a :class:`ReportData`: counts per
class (and per change status), the per-zone table, the frugality record of each run, the model
card summary, the parameters, and the sources with their licences. The print layout and the HTML
report (``gis/report_layout.py``) only lay this out.

The report language is chosen per report (French by default, English available), independently of
the interface language, so its fixed labels live in :data:`LABELS` for both languages.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

from ..i18n import tr
from .change import STATUSES
from .errors import AnalysisError
from .io import _open, open_vector_layer, read_layer_metadata, read_runs_table

LANGS = ("fr", "en")

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "title_detections": "Rapport de détection",
        "title_changes": "Rapport de changements entre millésimes",
        "title_zonal": "Rapport de statistiques par zone",
        "generated": "Généré le {date}",
        "layer": "Couche : {layer}",
        "nothing": "Rien n'a été détecté dans l'emprise analysée.",
        "objects": "{n} objet(s)",
        "counts": "Objets par classe et par statut",
        "counts_classes": "Objets par classe",
        "class": "Classe",
        "status": "Statut",
        "count": "Nombre",
        "zone": "Zone",
        "area_m2": "Surface (m²)",
        "analysed_km2": "Analysé (km²)",
        "analysed_fraction": "Part analysée",
        "density": "Densité (/km²)",
        "net_change": "Solde",
        "zones": "Statistiques par zone",
        "no_zones": "Aucune zone fournie : pas de tableau par zone.",
        "zones_outside": "Aucune des zones fournies ne recoupe l'emprise analysée.",
        "more_rows": "… et {n} ligne(s) de plus : voir la version HTML du rapport.",
        "frugality": "Sobriété : coût des calculs",
        "run": "Exécution",
        "vintage": "Millésime",
        "duration": "Durée (s)",
        "cpu": "CPU (s)",
        "km2": "Surface (km²)",
        "energy": "Énergie (Wh, estimation)",
        "energy_method": "Méthode : {method}",
        "no_runs": "Aucun enregistrement d'exécution (table idfhr_runs) trouvé pour cette couche.",
        "model": "Modèle (fiche)",
        "model_none": "Aucune fiche de modèle trouvée.",
        "sha256": "SHA-256",
        "classes": "Classes",
        "limits": "Limites connues",
        "accuracy": "Exactitude mesurée (F1)",
        "parameters": "Paramètres",
        "sources": "Sources et licences",
        "legend": "Légende",
        "map": "Carte de l'emprise",
        "chart_missing": "Graphique indisponible : matplotlib n'est pas installé "
        "(installez python3-matplotlib). Les chiffres sont dans le tableau.",
        "new": "nouveau",
        "removed": "disparu",
        "unchanged": "inchangé",
        "modified": "modifié",
        "uncertain": "incertain",
        "detected": "détecté",
        "page": "IdF HR — rapport modifiable dans le gestionnaire de mises en page de QGIS",
        "synthetic": "Données de démonstration SYNTHÉTIQUES : ce ne sont pas des images réelles.",
    },
    "en": {
        "title_detections": "Detection report",
        "title_changes": "Change report between vintages",
        "title_zonal": "Statistics per zone report",
        "generated": "Generated on {date}",
        "layer": "Layer: {layer}",
        "nothing": "Nothing detected in the analysed extent.",
        "objects": "{n} object(s)",
        "counts": "Objects per class and status",
        "counts_classes": "Objects per class",
        "class": "Class",
        "status": "Status",
        "count": "Count",
        "zone": "Zone",
        "area_m2": "Area (m²)",
        "analysed_km2": "Analysed (km²)",
        "analysed_fraction": "Analysed share",
        "density": "Density (/km²)",
        "net_change": "Net change",
        "zones": "Statistics per zone",
        "no_zones": "No zones given: no per-zone table.",
        "zones_outside": "None of the zones given overlaps the analysed extent.",
        "more_rows": "… and {n} more row(s): see the HTML version of the report.",
        "frugality": "Frugality: what the computation cost",
        "run": "Run",
        "vintage": "Vintage",
        "duration": "Duration (s)",
        "cpu": "CPU (s)",
        "km2": "Area (km²)",
        "energy": "Energy (Wh, estimate)",
        "energy_method": "Method: {method}",
        "no_runs": "No run record (idfhr_runs table) found for this layer.",
        "model": "Model (card)",
        "model_none": "No model card found.",
        "sha256": "SHA-256",
        "classes": "Classes",
        "limits": "Known limits",
        "accuracy": "Measured accuracy (F1)",
        "parameters": "Parameters",
        "sources": "Sources and licences",
        "legend": "Legend",
        "map": "Map of the extent",
        "chart_missing": "Chart unavailable: matplotlib is not installed "
        "(install python3-matplotlib). The figures are in the table.",
        "new": "new",
        "removed": "removed",
        "unchanged": "unchanged",
        "modified": "modified",
        "uncertain": "uncertain",
        "detected": "detected",
        "page": "IdF HR — report editable in QGIS's layout manager",
        "synthetic": "SYNTHETIC demo data: this is not real imagery.",
    },
}


def labels(lang: str) -> dict[str, str]:
    """The fixed report labels in ``lang`` ("fr" or "en")."""
    if lang not in LABELS:
        raise AnalysisError(
            tr("The report language '{lang}' is not available; choose fr or en.").format(lang=lang)
        )
    return LABELS[lang]


@dataclass
class ReportData:
    """Everything a report shows; ``kind`` is ``detections``, ``changes`` or ``zonal``."""

    kind: str
    lang: str
    title: str
    path: str
    layer: str
    crs: str = ""
    extent: Optional[tuple] = None
    n_features: int = 0
    counts: dict = field(default_factory=dict)  # label -> {status: count} ("detected" for detections)
    zone_rows: list = field(default_factory=list)
    zones_given: bool = False
    count_key: str = "class"  # what ``counts`` is keyed by: "class", or "zone" for a per-zone table
    runs: list = field(default_factory=list)
    model: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    generated_at: str = ""

    @property
    def empty(self) -> bool:
        return self.n_features == 0

    @property
    def statuses(self) -> list[str]:
        """Statuses present in ``counts``, in the engine's order."""
        seen = {s for per in self.counts.values() for s in per}
        order = [*STATUSES, "detected"]
        return [s for s in order if s in seen]

    def text(self, key: str, **kw: Any) -> str:
        return labels(self.lang)[key].format(**kw)

    def count_rows(self) -> list[tuple[str, str, int]]:
        """(class label, status label, count), sorted by class then status order."""
        lab = labels(self.lang)
        return [
            (cls, lab.get(st, st), n)
            for cls in sorted(self.counts)
            for st in self.statuses
            if (n := self.counts[cls].get(st, 0))
        ]

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items()}
        d["empty"] = self.empty
        return d


def _layer_fields_and_rows(path: str, layer: Optional[str]):
    ds, lyr, layer = open_vector_layer(
        path,
        layer,
        tr("'{path}' cannot be opened as a vector file ({err}); choose a GeoPackage written by IdF HR."),
        tr("'{path}' holds several layers ({names}); choose the layer to report on."),
    )
    defn = lyr.GetLayerDefn()
    fields = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    rows = []
    for f in lyr:
        rows.append({k: f.GetField(k) for k in fields})
    ext = None
    if rows and lyr.GetGeomType() != 100:  # 100 = wkbNone (attribute-only table)
        try:
            xmin, xmax, ymin, ymax = lyr.GetExtent()
            ext = (xmin, ymin, xmax, ymax)
        except RuntimeError:
            ext = None
    srs = lyr.GetSpatialRef()
    crs = ""
    if srs is not None:
        srs.AutoIdentifyEPSG()
        code, auth = srs.GetAuthorityCode(None), srs.GetAuthorityName(None)
        crs = f"{auth}:{code}" if code and auth else ""
    return layer, fields, rows, ext, crs


def _analysed_zones_extent(path: str, layer: str) -> Optional[tuple]:
    ds = _open(path, False, tr("'{path}' cannot be opened ({err})."))
    lyr = ds.GetLayerByName(layer)
    lyr.SetAttributeFilter("analysed_km2 > 0")
    boxes = [f.GetGeometryRef().GetEnvelope() for f in lyr if f.GetGeometryRef() is not None]
    if not boxes:  # GetExtent() ignores the filter: envelopes of the analysed zones instead
        return None
    return (
        min(b[0] for b in boxes),
        min(b[2] for b in boxes),
        max(b[1] for b in boxes),
        max(b[3] for b in boxes),
    )


def _kind(fields: Sequence[str]) -> str:
    if "change" in fields:
        return "changes"
    if "zone" in fields:
        return "zonal"
    if any(f in fields for f in ("class_id", "class", "label")):
        return "detections"
    raise AnalysisError(
        tr(
            "The layer has none of the fields of a detection, change or zone-statistics layer "
            "(class_id/label, change, zone); choose a layer written by IdF HR."
        )
    )


def find_model_card(run: dict) -> dict:
    """The model card (sidecar ``<model>.json``) of a run: next to its model file, else bundled."""
    from ..paths import RESOURCES_DIR

    candidates = []
    if run.get("model_path"):
        candidates.append(Path(str(run["model_path"])).with_suffix(".json"))
    if run.get("model_name"):
        candidates.append(RESOURCES_DIR / "models" / f"{run['model_name']}.json")
    for c in candidates:
        try:
            if c.is_file():
                return json.loads(c.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return {}


def model_summary(card: dict, sha256: str = "") -> dict:
    """Name, version, sha256 (the run's, else the card's), licence, classes, limits, F1 per class."""
    if not card and not sha256:
        return {}
    acc = card.get("accuracy") or {}
    limits = [str(card[k]) for k in ("description", "held_out") if card.get(k)]
    if card.get("training_data"):
        limits.append("Training data: " + str(card["training_data"]))
    return {
        "name": card.get("name", ""),
        "version": card.get("version", ""),
        "sha256": sha256 or card.get("sha256", ""),
        "sha256_card": card.get("sha256", ""),
        "licence": card.get("licence", ""),
        "classes": [
            c.get("name", str(c)) if isinstance(c, dict) else str(c) for c in card.get("classes", [])
        ],
        "limits": limits,
        "accuracy": {k: v.get("f1") for k, v in acc.items() if isinstance(v, dict) and "f1" in v},
        "accuracy_metric": (card.get("evaluation") or {}).get("metric", ""),
    }


def _frugality(run: dict) -> dict:
    return {
        "run_id": str(run.get("run_id", "")),
        "vintage": str(run.get("vintage", "")),
        "model_name": str(run.get("model_name", "")),
        "duration_s": float(run.get("duration_s") or 0.0),
        "cpu_s": float(run.get("cpu_s") or 0.0),
        "km2": float(run.get("km2") or 0.0),
        "energy_wh": float(run.get("energy_wh") or 0.0),
        "energy_method": str(run.get("energy_method", "")),
        "providers": ", ".join(run.get("providers") or []),
        "threads": int(run.get("threads") or 0),
        "source": str(run.get("source", "")),
        "raster": str(run.get("raster", "")),
    }


def gather_report_data(
    path: str | os.PathLike,
    layer: Optional[str] = None,
    *,
    lang: str = "fr",
    zones: Optional[Sequence] = None,
    zone_names: Optional[Sequence[str]] = None,
    zones_crs: Any = "EPSG:2154",
    runs_from: Sequence[str | os.PathLike] = (),
    sources: Sequence[str] = (),
    title: str = "",
) -> ReportData:
    """Gather what the report on ``layer`` of ``path`` shows.

    ``zones``/``zone_names`` (shapely geometries in ``zones_crs``) add the per-zone table for a
    detection or change layer; a zone-statistics layer brings its own rows. Run records are read
    from ``path`` and ``runs_from`` (other GeoPackages, e.g. the detection runs behind a change
    layer) and matched on run id. ``sources`` are extra "source — licence" lines.
    """
    lab = labels(lang)
    path = str(path)
    if not Path(path).is_file():
        raise AnalysisError(
            tr("The file '{path}' does not exist; choose a GeoPackage written by IdF HR.").format(path=path)
        )
    layer, fields, rows, extent, crs = _layer_fields_and_rows(path, layer)
    kind = _kind(fields)
    if kind == "zonal" and "analysed_km2" in fields:
        extent = _analysed_zones_extent(path, layer) or extent  # map on the zones the runs covered
    meta = read_layer_metadata(path, layer)
    report = ReportData(
        kind=kind,
        lang=lang,
        title=title or lab[f"title_{kind}"],
        path=path,
        layer=layer,
        crs=crs or str(meta.get("crs", "")),
        extent=extent,
        generated_at=datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M"),
    )

    # counts per class (and status)
    if kind in ("detections", "changes"):
        label_f = "label" if "label" in fields else ("class" if "class" in fields else "class_id")
        for r in rows:
            st = str(r.get("change")) if kind == "changes" else "detected"
            cls = str(r.get(label_f))
            report.counts.setdefault(cls, {})
            report.counts[cls][st] = report.counts[cls].get(st, 0) + 1
        report.n_features = len(rows)
    else:
        report.zone_rows = rows
        report.zones_given = True
        report.n_features = sum(int(r.get("count") or 0) for r in rows)
        if not any(f in fields for f in ("label", "class")):
            report.count_key = "zone"  # one row per zone (the Analyse tab's zones layer): chart per zone
        for r in rows:
            cls = str(r.get("label") or r.get("class") or r.get("zone") or "")
            if not cls:
                continue
            per = report.counts.setdefault(cls, {})
            sts = [s for s in STATUSES if f"n_{s}" in r]
            if sts:
                for s in sts:
                    per[s] = per.get(s, 0) + int(r.get(f"n_{s}") or 0)
            else:
                per["detected"] = per.get("detected", 0) + int(r.get("count") or 0)
        report.counts = {k: v for k, v in report.counts.items() if any(v.values())}

    # run records
    run_ids: list[str] = []
    for key in ("run_id", "run_before", "run_after"):
        if key in fields:
            for r in rows:
                v = r.get(key)
                if v not in (None, "") and str(v) not in run_ids:
                    run_ids.append(str(v))
    all_runs = []
    for p in (path, *map(str, runs_from)):
        try:
            all_runs.extend(read_runs_table(p))
        except AnalysisError:
            report.notes.append(tr("The run records of '{path}' could not be read.").format(path=p))
    by_id = {str(r.get("run_id")): r for r in all_runs}
    runs = [by_id[i] for i in run_ids if i in by_id]
    if not runs and kind == "detections":
        runs = [r for r in all_runs if r.get("layer") == layer]
    if not runs and kind != "detections":
        runs = [
            r
            for r in all_runs
            if str(r.get("run_id")) in {str(meta.get("run_before")), str(meta.get("run_after"))}
        ]
    runs.sort(key=lambda r: str(r.get("vintage", "")))
    report.runs = [_frugality(r) for r in runs]

    # per-zone table computed from the layer's objects
    if zones is not None and kind in ("detections", "changes"):
        report.zones_given = True
        report.zone_rows = _zone_rows(
            path, layer, kind, zones, zone_names, zones_crs, runs, extent, report.notes
        )

    # model card
    sha = str(meta.get("model_sha256") or (runs[-1].get("model_sha256") if runs else "") or "")
    name = str(meta.get("model_name") or (runs[-1].get("model_name") if runs else "") or "")
    card = find_model_card(runs[-1] if runs else {"model_name": name})
    report.model = model_summary(card, sha)
    if report.model and card.get("sha256") and sha and card["sha256"].lower() != sha.lower():
        report.notes.append(
            tr("The model card's sha256 differs from the run's: the card may describe another model.")
        )

    # parameters
    params: dict[str, Any] = {}
    for k in ("iou_min", "area_change", "shift_m", "edge_m", "compared_area_m2", "assignment"):
        if k in meta:  # the analysis' own parameters first, then the detection run's
            params[k] = meta[k]
    if runs:
        p = runs[-1].get("parameters") or {}
        params.update(
            {
                k: v
                for k, v in p.items()
                if v is not None and (not isinstance(v, (list, dict)) or k == "extent")
            }
        )
    report.parameters = params

    # sources and licences
    src: list[str] = []
    for r in runs:
        s = r.get("source") or r.get("raster")
        if s:
            line = f"{s} ({r.get('vintage')})" if r.get("vintage") else str(s)
            if line not in src:
                src.append(line)
    if report.model.get("name"):
        src.append(f"{report.model['name']} — {report.model.get('licence') or '?'}")
    src.extend(str(s) for s in sources)
    report.sources = src
    report.notes.extend(str(n) for n in meta.get("notes", []) or [])
    return report


def _zone_rows(path, layer, kind, zones, zone_names, zones_crs, runs, extent, notes) -> list[dict]:
    from shapely.geometry import box

    from .io import _run_area, read_detections
    from .zonal import zonal_statistics

    fields = ("change",) if kind == "changes" else ()
    det = read_detections(path, layer, fields=fields)
    # ground analysed: the runs' recorded areas (both vintages for a change layer), else the layer's box
    areas = [_run_area(r, det.crs) for r in runs]
    analysed = None
    if areas and all(a is not None for a in areas):
        analysed = areas[0]
        for a in areas[1:]:
            analysed = analysed.intersection(a)
    elif extent:
        analysed = box(*extent)
        notes.append(
            tr(
                "The runs do not record their analysed area: the analysed share of each zone is taken "
                "from the extent of the objects found, so it may be underestimated."
            )
        )
    result = zonal_statistics(
        zones,
        zone_names,
        det.geometry,
        det.labels,
        [analysed] if analysed is not None else [],
        zones_crs=zones_crs,
        crs=det.crs or "EPSG:2154",
        labels=det.labels,
        change=det.attributes.get("change") if kind == "changes" else None,
    )
    # only zones the analysis touched: a commune layer of the whole region gives a few rows, not 1,276
    rows = [r for r in result.rows if r["count"] or r.get("net_change")]
    return rows or [z for z in result.zones if z["analysed_km2"] > 0]


def read_zones(
    path: str | os.PathLike, name_field: str, where: Optional[str] = None
) -> tuple[list, list, str]:
    """(geometries, names, crs) of a zone file (GeoPackage, GeoJSON…), ``where`` an OGR filter."""
    from shapely import wkb

    from .io import _layer_crs

    ds = _open(path, False, tr("The zone file '{path}' cannot be opened ({err}); choose a vector file."))
    lyr = ds.GetLayer(0)
    defn = lyr.GetLayerDefn()
    avail = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    if name_field not in avail:
        raise AnalysisError(
            tr(
                "The zone file has no field '{field}' (fields: {fields}); choose the field naming the zones."
            ).format(field=name_field, fields=", ".join(avail))
        )
    if where:
        lyr.SetAttributeFilter(where)
    geoms, names = [], []
    for f in lyr:
        g = f.GetGeometryRef()
        if g is None or g.IsEmpty():
            continue
        geoms.append(wkb.loads(bytes(g.ExportToIsoWkb())))
        names.append(str(f.GetField(name_field)))
    return geoms, names, _layer_crs(lyr) or "EPSG:4326"
