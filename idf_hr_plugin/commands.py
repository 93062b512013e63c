"""CLI commands besides ``detect``: catalog search, offline download, the demo job."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .cli import parse_extent, register_command
from .core.i18n import tr

EXIT_INCOMPLETE = 3  # catalog-search: results printed, but the service stopped paging early


def _search_parser(p: argparse.ArgumentParser) -> None:
    p.epilog = "Exit status: 0 complete, 2 error, 3 results incomplete (the service stopped paging early)."
    p.add_argument("--kind", choices=["stac-api", "stac-static", "wmts", "demo"], default="demo")
    p.add_argument(
        "--url", default="", help="catalog URL (STAC API root, catalog.json, WMTS GetCapabilities)"
    )
    p.add_argument("--bbox", help="lon_min,lat_min,lon_max,lat_max (WGS84)")
    p.add_argument("--start", help="from date, YYYY-MM-DD")
    p.add_argument("--end", help="to date, YYYY-MM-DD")
    p.add_argument("--collection", action="append", default=[], help="collection id (repeatable)")
    p.add_argument("--max-gsd", type=float, help="maximum ground sample distance in metres")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--geojson", help="write the footprints to this GeoJSON file")


def _search_run(args: argparse.Namespace) -> int:
    from .core.catalog import footprints
    from .core.catalog.model import SearchQuery, SourceConfig
    from .core.catalog.sources import make_source, run_search

    bbox = None
    if args.bbox:
        bbox, _crs = parse_extent(args.bbox)
    source = make_source(SourceConfig(id="cli", name=args.url or args.kind, kind=args.kind, url=args.url))
    query = SearchQuery(
        bbox=bbox,
        datetime_start=args.start,
        datetime_end=args.end,
        collections=args.collection,
        max_gsd=args.max_gsd,
        limit=args.limit,
    )
    outcome = run_search(source, query)
    items = outcome.items
    for item in items:
        gsd = f"{item.gsd:.2f} m" if item.gsd else "?"
        print(f"{(item.datetime or '')[:10]:10}  {gsd:>7}  {item.collection or '':28}  {item.id}")
    print(tr("{n} results.").format(n=len(items)))
    if args.geojson:
        footprints.write_footprints_geojson(items, args.geojson)
        print(args.geojson)
    for warning in outcome.warnings:
        sys.stderr.write(tr("Warning: {msg}").format(msg=warning) + "\n")
    return EXIT_INCOMPLETE if outcome.truncated else 0


def _download_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="GDAL path, /vsicurl/ URL, VRT or WMTS: connection string")
    p.add_argument("--extent", required=True, help="xmin,ymin,xmax,ymax[:EPSG] (default CRS EPSG:2154)")
    p.add_argument("--out", required=True, help="output .tif (COG) or .gpkg")
    p.add_argument("--resolution", type=float, help="output resolution in source units (default: native)")


def _download_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .core.tiles.offline import download_pack

    extent, crs = parse_extent(args.extent)
    out = Path(args.out)
    last = [0.0]

    def progress(fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last[0] > 0.5 or fraction >= 1.0:
            last[0] = now
            sys.stderr.write(f"\r{fraction * 100:5.1f} %  {message[:60]:60}")
            sys.stderr.flush()

    result = download_pack(
        args.source,
        extent,
        crs or "EPSG:2154",
        out,
        fmt="GPKG" if out.suffix.lower() == ".gpkg" else "COG",
        resolution=args.resolution,
        progress=progress,
    )
    sys.stderr.write("\n")
    print(
        tr("Offline pack written: {path} ({mb} MB, {mpx} Mpx, {s} s{resumed}).").format(
            path=result.path,
            mb=round(result.bytes / 1e6, 1),
            mpx=round(result.pixels / 1e6, 1),
            s=round(result.seconds, 1),
            resumed=tr(", resumed") if result.resumed else "",
        )
    )
    return 0


def _demo_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-output", help="folder for the outputs")
    p.add_argument("--no-detect", action="store_true", help="skip the detection step")


def _demo_run(args: argparse.Namespace) -> int:
    from .gis.demo_job import run_demo

    result = run_demo(args.out, detect=not args.no_detect)
    print(json.dumps({k: str(v) for k, v in result.items() if v is not None}, indent=2))
    return 0


register_command(
    "catalog-search", _search_parser, _search_run, "search a catalog (STAC API, static STAC, WMTS, demo)"
)
register_command("download", _download_parser, _download_run, "download an extent of imagery for offline use")
register_command("demo", _demo_parser, _demo_run, "run the demo job on the embedded synthetic region")


# -- publish-model (issue 11): a model as a STAC MLM item in a static catalog folder -----------
def _publish_model_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="ONNX model file (its sidecar card <model>.json is published with it)")
    p.add_argument("catalog", help="static catalog folder, e.g. on a shared drive (created when absent)")


def _publish_model_run(args: argparse.Namespace) -> int:
    from .core.mlm import publish_model

    print(tr("Model published: {path}").format(path=publish_model(args.model, args.catalog)))
    return 0


register_command(
    "publish-model", _publish_model_parser, _publish_model_run, "publish a model as a STAC MLM item"
)


# -- report (issue 8): the PDF (+ HTML) report of a detection, change or statistics layer -------
def _report_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("gpkg", help="GeoPackage holding the detection, change or zone-statistics layer")
    p.add_argument("--layer", help="layer name (needed when the file holds several layers)")
    p.add_argument("--out", required=True, help="PDF file to write")
    p.add_argument("--html", help="also write this self-contained HTML version")
    p.add_argument("--lang", choices=["fr", "en"], default="fr", help="report language (default fr)")
    p.add_argument("--zones", help="zone file (GeoPackage, GeoJSON) for the per-zone table")
    p.add_argument("--zone-field", default="nom", help="field naming the zones (default nom)")
    p.add_argument(
        "--runs", action="append", default=[], help="other GeoPackage with idfhr_runs (repeatable)"
    )


def _report_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .core.errors import UserInputError

    if not args.out.lower().endswith(".pdf"):
        raise UserInputError(tr("The output '{path}' must end in .pdf.").format(path=args.out))
    if not Path(args.gpkg).is_file():
        raise UserInputError(
            tr("The file '{path}' does not exist; give a GeoPackage of results.").format(path=args.gpkg)
        )
    zones = None
    if args.zones:
        from .core.analysis.report_data import read_zones

        zones = read_zones(args.zones, args.zone_field)
    from .gis.headless import ensure_qgis_app
    from .gis.report_layout import report_from_file

    ensure_qgis_app()
    out = report_from_file(
        args.gpkg, args.layer, args.out, lang=args.lang, zones=zones, runs_from=args.runs, html_path=args.html
    )
    if not out["chart"]:
        sys.stderr.write(out["data"].text("chart_missing") + "\n")
    print(tr("Report written: {path}").format(path=out["pdf"]))
    if out.get("html"):
        print(tr("HTML version: {path}").format(path=out["html"]))
    return 0


register_command(
    "report", _report_parser, _report_run, "write the PDF report of a detection/change/statistics layer"
)
