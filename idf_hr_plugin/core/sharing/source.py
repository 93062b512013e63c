"""What a published run is made of, read from a detection, change or zone-statistics GeoPackage layer.

A detection layer's provenance is its ``idfhr_runs`` row (written by the detection engine); a
change or zone-statistics layer carries its analysis metadata in the layer (``IDFHR_ANALYSIS``).
Change and zone layers have no run id of their own: theirs is derived from the layer's content,
so publishing the same layer again is recognised (idempotent) and another layer never collides.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from ..analysis.errors import AnalysisError
from ..analysis.io import _run_area, open_vector_layer, read_layer_metadata, read_runs_table
from ..analysis.report_data import _kind, find_model_card
from ..errors import UserInputError
from ..gdal_errors import with_gdal_exceptions
from ..i18n import tr

LAMBERT93 = "EPSG:2154"
_PARTNER_RE = re.compile(r"^[\w][\w .'()&/-]{0,79}$", re.UNICODE)


def check_partner(partner: str) -> str:
    """The partner name (commune, EPT, department…), stripped; refused when empty or odd."""
    p = str(partner or "").strip()
    if not _PARTNER_RE.match(p):
        raise UserInputError(
            tr(
                "The partner name '{name}' cannot be used: give your organisation's name (letters, digits, "
                "spaces, . ' ( ) & / -; at most 80 characters), e.g. 'Vincennes' or 'EPT T10'."
            ).format(name=partner)
        )
    return p


@dataclass
class ResultRun:
    """One layer to publish: its provenance and summary (the features are read by :meth:`features`)."""

    gpkg: Path
    layer: str
    kind: str  # detections | changes | zonal
    run_id: str
    crs: str
    fields: list  # [(name, "int"|"real"|"str"), ...] in layer order
    record: dict  # run record (detections) or analysis metadata (changes, zonal)
    model_name: str = ""
    model_sha256: str = ""
    model_item: str = ""  # href of the model's MLM item when known
    vintages: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)  # class label -> objects
    area_wkt: str = ""  # analysed area, in area_crs
    area_crs: str = ""
    features: int = 0
    started_at: str = ""

    def cost(self) -> dict:
        """CPU s, km², Wh and parameters of the run (what is known)."""
        r = self.record
        out = {
            k: r[k] for k in ("cpu_s", "km2", "energy_wh", "duration_s") if isinstance(r.get(k), (int, float))
        }
        if isinstance(r.get("parameters"), dict):
            out["parameters"] = r["parameters"]
        return out

    @with_gdal_exceptions
    def iter_features(self) -> Iterator[tuple[int, dict, Any]]:
        """``(fid, attributes, OGR geometry)`` of every feature, in fid order."""
        ds, lyr, _ = open_vector_layer(str(self.gpkg), self.layer, _OPEN_MSG, _SEVERAL_MSG)
        getters = _getters(lyr, [n for n, _t in self.fields])
        for f in lyr:
            yield f.GetFID(), {n: get(f) for n, get in getters}, f.GetGeometryRef()
        del ds


def _getters(lyr, names: list) -> list:
    """``(name, getter(feature))`` by field index and type: ``Feature.GetField(name)`` looks the
    index up in Python for every call, which dominates the time on 100,000 features."""
    from osgeo import ogr

    defn = lyr.GetLayerDefn()
    out = []
    for n in names:
        i = defn.GetFieldIndex(n)
        t = defn.GetFieldDefn(i).GetType()
        if t in (ogr.OFTInteger, ogr.OFTInteger64):
            raw = ogr.Feature.GetFieldAsInteger64
        elif t == ogr.OFTReal:
            raw = ogr.Feature.GetFieldAsDouble
        elif t == ogr.OFTString:
            raw = ogr.Feature.GetFieldAsString
        else:
            raw = ogr.Feature.GetField

        def get(f, i=i, raw=raw):
            return raw(f, i) if f.IsFieldSetAndNotNull(i) else None

        out.append((n, get))
    return out


_OPEN_MSG = tr("'{path}' cannot be opened as a vector file ({err}); choose a GeoPackage written by IdF HR.")
_SEVERAL_MSG = tr("'{path}' holds several layers ({names}); choose the layer to publish.")


def _field_type(ogr, defn) -> str:
    t = defn.GetType()
    if t in (ogr.OFTInteger, ogr.OFTInteger64):
        return "int"
    if t == ogr.OFTReal:
        return "real"
    return "str"


def _vintages(record: dict, values: dict) -> list:
    found = set()
    for key in ("vintage", "vintage_before", "vintage_after"):
        found |= {str(v) for v in values.get(key, ()) if v not in (None, "")}
    if not found and record.get("vintage"):
        found.add(str(record["vintage"]))
    return sorted(found)


def _content_id(kind: str, lyr, fields: list) -> str:
    """A stable id for a layer without a run id: its kind and a digest of its features."""
    h = hashlib.sha256()
    getters = [get for _n, get in _getters(lyr, [n for n, _t in fields])]
    lyr.ResetReading()
    for f in lyr:
        g = f.GetGeometryRef()
        h.update(str(f.GetFID()).encode())
        h.update(json.dumps([get(f) for get in getters], default=str).encode())
        if g is not None:
            h.update(g.ExportToIsoWkb())
    lyr.ResetReading()
    return f"{kind}-{h.hexdigest()[:16]}"


def _model_item(record: dict, model_item: str) -> str:
    if model_item:
        return model_item
    source = find_model_card(record).get("source") if record.get("model_name") else None
    if isinstance(source, dict) and source.get("kind") == "stac-mlm":
        return str(source.get("item") or "")
    return ""


@with_gdal_exceptions
def read_result_layer(
    gpkg: str | os.PathLike, layer: Optional[str] = None, *, model_item: str = ""
) -> ResultRun:
    """The run behind a detection, change or zone-statistics layer of ``gpkg`` (``layer`` may be
    omitted when the file holds one layer). ``model_item`` is the href of the model's MLM item
    when the caller knows it (else it comes from the model's card, if installed from a catalog)."""
    from osgeo import ogr

    path = Path(gpkg)
    if not path.is_file():
        raise UserInputError(
            tr(
                "The GeoPackage '{path}' does not exist; choose the file holding the results to publish."
            ).format(path=path)
        )
    ds, lyr, layer = open_vector_layer(str(path), layer, _OPEN_MSG, _SEVERAL_MSG)
    defn = lyr.GetLayerDefn()
    fields = [
        (defn.GetFieldDefn(i).GetName(), _field_type(ogr, defn.GetFieldDefn(i)))
        for i in range(defn.GetFieldCount())
    ]
    names = [n for n, _t in fields]
    try:
        kind = _kind(names)
    except AnalysisError as exc:
        raise UserInputError(str(exc)) from exc
    srs = lyr.GetSpatialRef()
    if srs is None:
        raise UserInputError(
            tr("The layer '{layer}' has no coordinate reference system; it cannot be shared.").format(
                layer=layer
            )
        )
    srs.AutoIdentifyEPSG()
    code, auth = srs.GetAuthorityCode(None), srs.GetAuthorityName(None)
    crs = f"{auth}:{code}" if code and auth else srs.ExportToWkt()

    want = [
        k
        for k in (
            "label",
            "class",
            "class_id",
            "change",
            "vintage",
            "vintage_before",
            "vintage_after",
            "run_id",
        )
        if k in names
    ]
    values: dict = {k: [] for k in want}
    getters = _getters(lyr, want)
    n = 0
    for f in lyr:
        n += 1
        for k, get in getters:
            values[k].append(get(f))
    lyr.ResetReading()

    if kind == "detections":
        runs = [r for r in read_runs_table(path) if r.get("layer") == layer]
        record = runs[-1] if runs else {}
        ids = {str(v) for v in values.get("run_id", ()) if v not in (None, "")}
        if len(ids) > 1:
            raise UserInputError(
                tr("The layer '{layer}' mixes several runs ({ids}); publish one run per layer.").format(
                    layer=layer, ids=", ".join(sorted(ids))
                )
            )
        run_id = str(record.get("run_id") or (ids.pop() if ids else "")) or _content_id(kind, lyr, fields)
        label_key = "label" if "label" in names else ("class" if "class" in names else "class_id")
        counts = Counter(str(v) for v in values.get(label_key, ()))
        area = _run_area(record, crs) if record else None
        model_name, model_sha = str(record.get("model_name") or ""), str(record.get("model_sha256") or "")
        started = str(record.get("started_at") or "")
    else:
        record = read_layer_metadata(str(path), layer)
        run_id = _content_id(kind, lyr, fields)
        if kind == "changes":
            labels = values.get("label") or values.get("class") or [""] * n
            counts = Counter(f"{c}: {v}" for c, v in zip(labels, values["change"]))
            area = None
            if record.get("compared_area_wkt"):
                from shapely import wkt

                area = wkt.loads(record["compared_area_wkt"])
        else:
            counts = Counter()
            area = None
        model_name, model_sha = str(record.get("model_name") or ""), str(record.get("model_sha256") or "")
        started = ""
    if area is None or area.is_empty:
        xmin, xmax, ymin, ymax = lyr.GetExtent() if n else (0, 0, 0, 0)
        from shapely.geometry import box

        area = box(xmin, ymin, xmax, ymax) if n else None
    if area is None:
        raise UserInputError(
            tr(
                "The layer '{layer}' has no objects and no recorded analysed area: there is nothing to publish."
            ).format(layer=layer)
        )
    if kind == "zonal":
        counts = _zone_counts(lyr, names)
    del ds
    return ResultRun(
        gpkg=path,
        layer=layer,
        kind=kind,
        run_id=run_id,
        crs=crs,
        fields=fields,
        record=record,
        model_name=model_name,
        model_sha256=model_sha,
        model_item=_model_item(record, model_item),
        vintages=_vintages(record, values),
        counts=dict(sorted(counts.items())),
        area_wkt=area.wkt,
        area_crs=crs,
        features=n,
        started_at=started or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _zone_counts(lyr, names: list) -> dict:
    """Objects counted over all zones (``count``), and new / removed ones for a change layer."""
    keys = {"count": "all", "n_new": "new", "n_removed": "removed"}
    totals: Counter = Counter()
    lyr.ResetReading()
    for f in lyr:
        for col, key in keys.items():
            if col in names:
                totals[key] += int(f.GetField(col) or 0)
    lyr.ResetReading()
    return dict(totals)
