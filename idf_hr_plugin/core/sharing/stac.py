"""A published run as a STAC item in a static results catalog folder (e.g. on a shared drive).

Layout::

    <catalog>/catalog.json                         root catalog, one ``item`` link per run
    <catalog>/<partner>-<run id>/<same>.json       the run's STAC item
    <catalog>/<partner>-<run id>/objects.gpkg      asset ``objects``: the layer (+ its run record)
    <catalog>/<partner>-<run id>/report.pdf        asset ``report`` (when given)

The item id is the partner and the run id: publishing the same run again rewrites the same item
(idempotent); another partner's run never has the same id. Files are written to temporary names
and moved into place, so a failure leaves the catalog as it was.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from pathlib import Path
from typing import Any, Optional

from ..errors import UserInputError
from ..gdal_errors import with_gdal_exceptions
from ..i18n import tr
from ..mlm.fields import NS
from ..stac_folder import catalog_lock, copy_file, publish_item, read_only_error, root_catalog
from ..tempfiles import remove_with_sidecars, temp_path
from .source import ResultRun, check_partner

log = logging.getLogger(__name__)

OBJECTS_ASSET = "objects"
REPORT_ASSET = "report"
GPKG_MEDIA_TYPE = "application/geopackage+sqlite3"
_ID_RE = re.compile(r"[^0-9A-Za-z_.-]+")
KIND_TITLES = {"detections": "Detections", "changes": "Changes", "zonal": "Zone statistics"}


def item_id(partner: str, run_id: str) -> str:
    """The STAC item id of a partner's run (file-name safe)."""
    p = _ID_RE.sub("-", partner).strip("-.") or "partner"
    r = _ID_RE.sub("-", run_id).strip("-.") or "run"
    return f"{p}-{r}"


def vintage_range(vintage: str) -> Optional[tuple]:
    """``(start, end)`` datetimes of a vintage given as a year, a month or a day; None if unreadable."""
    v = str(vintage or "").strip()
    try:
        if re.fullmatch(r"\d{4}", v):
            y = int(v)
            return _dt.datetime(y, 1, 1), _dt.datetime(y, 12, 31, 23, 59, 59)
        if re.fullmatch(r"\d{4}-\d{2}", v):
            y, m = map(int, v.split("-"))
            nxt = _dt.datetime(y + (m == 12), m % 12 + 1, 1)
            return _dt.datetime(y, m, 1), nxt - _dt.timedelta(seconds=1)
        d = _dt.date.fromisoformat(v[:10])
        return _dt.datetime(d.year, d.month, d.day), _dt.datetime(d.year, d.month, d.day, 23, 59, 59)
    except ValueError:
        return None


def _iso(d: _dt.datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_dates(run: ResultRun) -> dict:
    """``datetime`` (or ``start_datetime``/``end_datetime``) from the imagery vintage(s)."""
    ranges = [r for r in (vintage_range(v) for v in run.vintages) if r]
    if not ranges:  # vintage unknown: the date of the run, said so
        when = vintage_range(run.started_at[:10]) if run.started_at else None
        start = when[0] if when else _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        return {"datetime": _iso(start), NS + "datetime_source": "run"}
    start, end = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if len(run.vintages) == 1 and len(str(run.vintages[0])) >= 10:
        return {"datetime": _iso(start), NS + "datetime_source": "vintage"}
    return {
        "datetime": None,
        "start_datetime": _iso(start),
        "end_datetime": _iso(end),
        NS + "datetime_source": "vintage",
    }


def _lonlat_geometry(run: ResultRun) -> tuple[dict, list]:
    from pyproj import CRS, Transformer
    from shapely import wkt
    from shapely.geometry import mapping
    from shapely.ops import transform

    area = wkt.loads(run.area_wkt)
    tf = Transformer.from_crs(CRS.from_user_input(run.area_crs), CRS.from_epsg(4326), always_xy=True)
    geom = transform(tf.transform, area)
    x0, y0, x1, y1 = geom.bounds
    if geom.is_empty or not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise UserInputError(
            tr(
                "The analysed area of the layer '{layer}' does not fall on the Earth once in longitude/"
                "latitude (bounds {bounds}); its coordinate reference system is probably wrong, so "
                "nothing was published."
            ).format(layer=run.layer, bounds=[round(v, 3) for v in (x0, y0, x1, y1)])
        )
    doc = mapping(geom)

    def rnd(c: Any) -> Any:
        return [rnd(v) for v in c] if isinstance(c, (list, tuple)) else round(float(c), 7)

    doc = {"type": doc["type"], "coordinates": rnd(doc["coordinates"])}
    return doc, [round(v, 7) for v in (x0, y0, x1, y1)]


def result_item(run: ResultRun, partner: str, *, report: bool = False, now: Optional[str] = None) -> dict:
    """The STAC item of ``run`` published by ``partner`` (assets relative to the item's folder)."""
    partner = check_partner(partner)
    geometry, bbox = _lonlat_geometry(run)
    props: dict[str, Any] = {
        **run_dates(run),
        "title": f"{tr(KIND_TITLES[run.kind])} — {run.model_name or run.layer} — {partner}",
        NS + "partner": partner,
        NS + "run_id": run.run_id,
        NS + "kind": run.kind,
        NS + "layer": run.layer,
        NS + "crs": run.crs,
        NS + "features": run.features,
        NS + "counts": run.counts,
        NS + "classes": sorted(run.counts),
        NS + "vintages": run.vintages,
        NS + "model": {"name": run.model_name, "sha256": run.model_sha256, "item": run.model_item},
        NS + "run": run.cost(),
        NS + "published_at": now or _iso(_dt.datetime.now(_dt.timezone.utc)),
    }
    if run.model_name:
        props["description"] = tr("{kind} of the model {model}, published by {partner}.").format(
            kind=tr(KIND_TITLES[run.kind]), model=run.model_name, partner=partner
        )
    assets = {
        OBJECTS_ASSET: {
            "href": "./objects.gpkg",
            "title": tr("Objects (GeoPackage layer {layer})").format(layer=run.layer),
            "type": GPKG_MEDIA_TYPE,
            "roles": ["data"],
        }
    }
    if report:
        assets[REPORT_ASSET] = {
            "href": "./report.pdf",
            "title": tr("Report (PDF)"),
            "type": "application/pdf",
            "roles": ["overview", "metadata"],
        }
    links = [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
    ]
    if run.model_item:
        links.append(
            {
                "rel": "derived_from",
                "href": run.model_item,
                "type": "application/geo+json",
                "title": tr("Model (STAC MLM item)"),
            }
        )
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": item_id(partner, run.run_id),
        "geometry": geometry,
        "bbox": bbox,
        "properties": props,
        "assets": assets,
        "links": links,
    }


@with_gdal_exceptions
def extract_layer(run: ResultRun, dest: Path) -> None:
    """Write the run's layer (fids kept) and its ``idfhr_runs`` row into a new GeoPackage ``dest``."""
    from osgeo import gdal

    from ..analysis.io import RUNS_TABLE, read_layer_metadata

    tmp = temp_path(dest, ".gpkg")
    try:
        gdal.VectorTranslate(
            str(tmp), str(run.gpkg), format="GPKG", layers=[run.layer], options=["-preserve_fid"]
        )
        if run.kind == "detections" and run.record:
            from ..gpkg_tx import sql_literal

            gdal.VectorTranslate(
                str(tmp),
                str(run.gpkg),
                format="GPKG",
                accessMode="append",
                layers=[RUNS_TABLE],
                where=f"layer = {sql_literal(run.layer)}",
            )
        meta = read_layer_metadata(str(run.gpkg), run.layer)
        if meta and not read_layer_metadata(str(tmp), run.layer):  # keep the analysis metadata
            import json

            from osgeo import ogr

            ds = ogr.Open(str(tmp), 1)
            ds.GetLayerByName(run.layer).SetMetadataItem("IDFHR_ANALYSIS", json.dumps(meta, default=str))
            ds = None
        os.replace(tmp, dest)
    finally:
        remove_with_sidecars(tmp)


def _new_root() -> dict:
    return {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "idfhr-results",
        "title": tr("Shared results (IdF HR)"),
        "description": tr(
            "Detections, changes and zone statistics published by the partners, with their provenance."
        ),
        "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json"}],
    }


def check_catalog_folder(catalog_dir: str | os.PathLike) -> None:
    """Refuse, before anything is written anywhere, a catalog folder that cannot be written or whose
    ``catalog.json`` is not a STAC catalog (the folder itself may not exist yet)."""
    folder = Path(catalog_dir)
    root_catalog(folder / "catalog.json", _new_root())
    probe_in = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if probe_in is None:
        return
    probe = temp_path(probe_in / "probe")
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise read_only_error(folder, exc) from exc


def publish_stac(
    run: ResultRun,
    catalog_dir: str | os.PathLike,
    partner: str,
    *,
    report_pdf: str | os.PathLike | None = None,
    now: Optional[str] = None,
) -> Path:
    """Publish ``run`` as a STAC item (+ its objects and report) into a static results catalog folder.

    Returns the item path. The folder is created when absent; ``catalog.json`` gets one link per
    run (kept once when the same run is published again). A folder that cannot be written is
    refused and nothing is left half-written.
    """
    report = Path(report_pdf) if report_pdf else None
    if report is not None and not report.is_file():
        raise UserInputError(
            tr("The report '{path}' does not exist; give the PDF of this run or no report.").format(
                path=report
            )
        )
    item = result_item(run, partner, report=report is not None, now=now)
    folder = Path(catalog_dir)

    def write_assets(item_dir: Path) -> None:
        for where in (folder, item_dir):  # GDAL would only say "failed": ask the file system first
            probe = temp_path(where / "probe")
            probe.touch()
            probe.unlink()
        extract_layer(run, item_dir / "objects.gpkg")
        if report is not None:
            copy_file(report, item_dir / "report.pdf")

    title = item["properties"]["title"]
    item_path = publish_item(folder, item, title, _new_root(), write_assets, catalog_lock(folder))
    log.info("run %s of %s published as %s", run.run_id, partner, item_path)
    return item_path
