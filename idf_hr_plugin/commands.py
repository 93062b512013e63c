"""CLI commands besides ``detect``: catalog search, offline download, the demo job."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .cli import checked, parse_extent, register_command
from .core.errors import UserInputError
from .core.i18n import tr
from .core.inference.params import check_input_file, check_int, check_positive


def _stderr_progress():
    """``progress(fraction, message)`` drawing one self-overwriting line on stderr, twice a second at most."""
    last = [0.0]

    def progress(fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last[0] > 0.5 or fraction >= 1.0:
            last[0] = now
            sys.stderr.write(f"\r{fraction * 100:5.1f} %  {message[:60]:60}")
            sys.stderr.flush()

    return progress


def _lonlat_bbox(text: str) -> tuple:
    """``lon_min,lat_min,lon_max,lat_max`` in WGS84 degrees."""
    bbox, _crs = parse_extent(text)
    if not (
        -180 <= bbox[0] <= 180 and -180 <= bbox[2] <= 180 and -90 <= bbox[1] <= 90 and -90 <= bbox[3] <= 90
    ):
        raise UserInputError(
            tr(
                "The bbox '{text}' must be in WGS84 degrees: longitudes -180 to 180, latitudes -90 to 90."
            ).format(text=text)
        )
    return bbox


def _date(text: str, name: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise UserInputError(
            tr("{name} '{text}' is not a date like 2024-06-30.").format(name=name, text=text)
        ) from None
    return text.strip()


def _new_file(text: str, name: str) -> str:
    """An output file whose folder exists (the file itself may exist and is replaced)."""
    from pathlib import Path

    p = Path(text)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir() or not folder.is_dir():
        raise UserInputError(
            tr("{name} '{text}' must be a file in an existing folder.").format(name=name, text=text)
        )
    return text


EXIT_INCOMPLETE = 3  # catalog-search: results printed, but the service stopped paging early


def _search_parser(p: argparse.ArgumentParser) -> None:
    p.epilog = "Exit status: 0 complete, 2 error, 3 results incomplete (the service stopped paging early)."
    p.add_argument("--kind", choices=["stac-api", "stac-static", "wmts", "demo"], default="demo")
    p.add_argument(
        "--url", default="", help="catalog URL (STAC API root, catalog.json, WMTS GetCapabilities)"
    )
    p.add_argument("--bbox", type=checked(_lonlat_bbox), help="lon_min,lat_min,lon_max,lat_max (WGS84)")
    p.add_argument("--start", type=checked(_date, "--start"), help="from date, YYYY-MM-DD")
    p.add_argument("--end", type=checked(_date, "--end"), help="to date, YYYY-MM-DD")
    p.add_argument("--collection", action="append", default=[], help="collection id (repeatable)")
    p.add_argument(
        "--max-gsd",
        type=checked(check_positive, "--max-gsd"),
        help="maximum ground sample distance in metres",
    )
    p.add_argument("--limit", type=checked(check_int, "--limit", 1), default=500)
    p.add_argument(
        "--geojson", type=checked(_new_file, "--geojson"), help="write the footprints to this GeoJSON file"
    )


def _search_run(args: argparse.Namespace) -> int:
    from .core.catalog import footprints
    from .core.catalog.model import SearchQuery, SourceConfig
    from .core.catalog.sources import make_source, run_search

    if args.kind != "demo" and not args.url.strip():
        raise UserInputError(tr("--kind {kind} needs --url, the catalog address.").format(kind=args.kind))
    if args.start and args.end and args.start[:10] > args.end[:10]:
        raise UserInputError(
            tr("--start {start} is after --end {end}; swap them.").format(start=args.start, end=args.end)
        )
    bbox = args.bbox
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
    p.add_argument(
        "--extent",
        required=True,
        type=checked(parse_extent),
        help="xmin,ymin,xmax,ymax[:EPSG] (default CRS EPSG:2154)",
    )
    p.add_argument("--out", required=True, help="output .tif (COG) or .gpkg")
    p.add_argument(
        "--resolution",
        type=checked(check_positive, "--resolution"),
        help="output resolution in source units (default: native)",
    )


def _download_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .core.tiles.offline import download_pack

    extent, crs = args.extent
    out = Path(args.out)
    if out.suffix.lower() not in (".tif", ".tiff", ".gpkg"):
        raise UserInputError(tr("--out '{path}' must end in .tif (COG) or .gpkg.").format(path=out))
    check_input_file(args.source, tr("imagery file"))
    progress = _stderr_progress()

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
    from pathlib import Path

    from .gis.demo_job import run_demo

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserInputError(
            tr("--out '{path}' is a file; give a folder for the demo outputs.").format(path=args.out)
        )

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

    check_input_file(args.model, tr("model file"))

    print(tr("Model published: {path}").format(path=publish_model(args.model, args.catalog)))
    return 0


register_command(
    "publish-model", _publish_model_parser, _publish_model_run, "publish a model as a STAC MLM item"
)


# -- publish / shared-results (issue 11): results shared between partners ------------------------
def _publish_parser(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "The PostgreSQL password is read by libpq from PGPASSWORD or ~/.pgpass when the connection "
        "string has none. Exit status: 0 published, 2 error (nothing published there)."
    )
    p.add_argument("gpkg", help="GeoPackage holding a detection, change or zone-statistics layer")
    p.add_argument("--layer", default=None, help="layer to publish (needed when the file holds several)")
    p.add_argument("--partner", required=True, help="your organisation's name, e.g. 'Vincennes' or 'EPT T10'")
    p.add_argument("--catalog", default="", help="results catalog folder (STAC), e.g. on a shared drive")
    p.add_argument(
        "--postgis", default="", help="PostgreSQL connection string, e.g. 'host=db dbname=shared user=me'"
    )
    p.add_argument(
        "--schema", default="public", help="database schema of the shared tables (default: public)"
    )
    p.add_argument("--report", default="", help="the run's PDF report, published with it")
    p.add_argument("--model-item", default="", help="URL or path of the model's STAC MLM item")
    p.add_argument(
        "--stac-api",
        default="",
        help="STAC API with the Transactions extension that receives the item (needs --catalog for the "
        "assets); a token is read from IDFHR_STAC_API_TOKEN",
    )
    p.add_argument(
        "--collection", default="idfhr-results", help="collection of the STAC API (created when absent)"
    )
    p.add_argument(
        "--assets-url",
        default="",
        help="URL where the --catalog folder is served (asset links of the API item)",
    )


def _publish_run(args: argparse.Namespace) -> int:
    from .core.sharing import publish_result

    check_input_file(args.gpkg, tr("GeoPackage"))
    if args.report:
        check_input_file(args.report, tr("report"))
    out = publish_result(
        args.gpkg,
        args.partner,
        layer=args.layer,
        catalog_dir=args.catalog or None,
        dsn=args.postgis or None,
        schema=args.schema,
        report_pdf=args.report or None,
        model_item=args.model_item,
        api_url=args.stac_api,
        collection=args.collection,
        assets_url=args.assets_url,
        client=_api_client() if args.stac_api else None,
    )
    print(out.summary())
    return 0


def _api_client():
    """The HTTP client of the STAC API: ``Authorization: Bearer`` from IDFHR_STAC_API_TOKEN when set
    (an environment variable, so the token is neither in the shell history nor in ``ps``)."""
    import os

    from .core.http import HttpClient

    token = os.environ.get("IDFHR_STAC_API_TOKEN", "").strip()
    return HttpClient(headers={"Authorization": f"Bearer {token}"} if token else None)


def _shared_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", default="", help="results catalog: folder, catalog.json path or URL")
    p.add_argument("--stac-api", default="", help="STAC API URL (token from IDFHR_STAC_API_TOKEN)")
    p.add_argument("--collection", default="", help="collection of the STAC API (default: all, via /search)")
    p.add_argument("--postgis", default="", help="PostgreSQL connection string of the shared store")
    p.add_argument("--schema", default="public")
    p.add_argument("--bbox", type=checked(_lonlat_bbox), help="lon_min,lat_min,lon_max,lat_max (WGS84)")
    p.add_argument("--start", type=checked(_date, "--start"), default=None, help="imagery from, YYYY-MM-DD")
    p.add_argument("--end", type=checked(_date, "--end"), default=None, help="imagery until, YYYY-MM-DD")
    p.add_argument("--model", default="", help="model name (part of it) or sha256")
    p.add_argument("--class", dest="class_name", default="", help="a class found by the run, e.g. pool")
    p.add_argument("--partner", default="")


def _shared_run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .core.sharing import ResultFilter, filter_runs, runs_from_catalog, runs_from_postgis

    if sum(map(bool, (args.catalog, args.postgis, args.stac_api))) != 1:
        raise UserInputError(
            tr("Give one of --catalog, --stac-api or --postgis (one source of shared results).")
        )
    flt = ResultFilter(
        bbox=tuple(args.bbox) if args.bbox else None,
        start=args.start or "",
        end=args.end or "",
        model=args.model,
        class_name=args.class_name,
        partner=args.partner,
    )
    if args.catalog:
        runs = filter_runs(runs_from_catalog(args.catalog), flt)
    elif args.stac_api:
        from .core.sharing import runs_from_api

        runs = filter_runs(runs_from_api(args.stac_api, args.collection, client=_api_client()), flt)
    else:
        runs = runs_from_postgis(args.postgis, schema=args.schema, flt=flt)
    print(json.dumps([asdict(r) for r in runs], indent=1, ensure_ascii=False, default=str))
    return 0


register_command(
    "publish", _publish_parser, _publish_run, "publish a result layer (STAC catalog and/or PostGIS)"
)
register_command("shared-results", _shared_parser, _shared_run, "list the results partners published")


# -- offline-kit --------------------------------------------------------------------------------
def _kit_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="kit folder to create (must not exist)")
    p.add_argument("--zone", default="", help="commune or EPT: name or code (e.g. 94068, T10)")
    p.add_argument(
        "--extent",
        type=checked(parse_extent),
        help="imagery extent xmin,ymin,xmax,ymax[:EPSG] (default CRS EPSG:2154)",
    )
    p.add_argument("--catalog", default="demo", help="imagery: 'demo', a static STAC catalog URL, or 'none'")
    p.add_argument(
        "--vintage",
        type=checked(check_int, "--vintage", 1900, 2100),
        action="append",
        default=[],
        help="year (repeatable; default: latest)",
    )
    p.add_argument(
        "--gsd",
        type=checked(check_positive, "--gsd"),
        help="imagery resolution in metres (default: best coverage)",
    )
    p.add_argument("--boundaries", help="commune boundaries file (default: settings or geo.api.gouv.fr)")
    p.add_argument("--ftth", help="ARCEP FttH deployment file or URL (default: the bundled ARCEP figures)")
    p.add_argument("--premises", help="ARCEP premises file or URL (Logements, Établissements)")
    p.add_argument("--opendata", action="append", default=[], help="vector file to include (repeatable)")
    p.add_argument("--model", action="append", default=[], help="ONNX model with its card (repeatable)")
    p.add_argument("--estimate", action="store_true", help="print the plan and size estimate, write nothing")


def _kit_run(args: argparse.Namespace) -> int:
    from .core.catalog.model import SourceConfig
    from .core.offline_kit import human_size
    from .gis.headless import ensure_qgis_app
    from .gis.offline_kit import build_offline_kit, plan_offline_kit

    files = [(args.boundaries, tr("boundaries file")), (args.ftth, tr("FttH file"))]
    files += [(args.premises, tr("premises file"))] + [(f, tr("open data file")) for f in args.opendata]
    for path, what in files + [(f, tr("model file")) for f in args.model]:
        check_input_file(path, what)  # before any work; URLs are left to the loaders
    ensure_qgis_app()
    extent = None
    if args.extent:
        extent, crs = args.extent
        if crs not in (None, "EPSG:2154"):
            from pyproj import Transformer

            t = Transformer.from_crs(crs, "EPSG:2154", always_xy=True)
            xs, ys = t.transform([extent[0], extent[2]], [extent[1], extent[3]])
            extent = (min(xs), min(ys), max(xs), max(ys))
    source = None
    if args.catalog == "demo":
        source = SourceConfig(id="demo", name="IdF HR demo", kind="demo")
    elif args.catalog != "none":
        source = SourceConfig(id="kit", name="STAC", kind="stac-static", url=args.catalog)
    plan = plan_offline_kit(
        args.out,
        zone=args.zone,
        extent=extent,
        source_config=source,
        vintages=args.vintage,
        gsd=args.gsd,
        boundaries_file=args.boundaries,
        ftth=args.ftth,
        premises=args.premises,
        opendata=args.opendata,
        models=args.model,
    )
    print(tr("Offline kit for {zone}:").format(zone=plan.zone))
    print(plan.summary())
    if args.estimate:
        return 0
    progress = _stderr_progress()

    result = build_offline_kit(plan, progress=progress)
    sys.stderr.write("\n")
    print(
        tr("Offline kit written: {path} ({size}, {n} parts, {resumed} resumed).").format(
            path=result.path,
            size=human_size(result.bytes),
            n=result.parts_built,
            resumed=result.parts_resumed,
        )
    )
    print(result.project)
    return 0


register_command("offline-kit", _kit_parser, _kit_run, "prepare an offline kit folder for a commune or EPT")


# -- changes / stats (issue 8): change between two vintages, statistics per zone ---------------
def _changes_parser(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Either two detection GeoPackages (--before/--after, FILE or FILE:LAYER) or two rasters and a "
        "model (--model --before-raster --after-raster --extent). Cars are excluded by default "
        "(parked elsewhere on every flight); pass --exclude '' to keep them."
    )
    p.add_argument("--before", help="detections of the first vintage: FILE.gpkg[:LAYER]")
    p.add_argument("--after", help="detections of the second vintage: FILE.gpkg[:LAYER]")
    p.add_argument("--model", help="ONNX model run on both rasters")
    p.add_argument("--before-raster", help="imagery of the first vintage")
    p.add_argument("--after-raster", help="imagery of the second vintage")
    p.add_argument("--vintages", default="before,after", help="names of the two vintages, e.g. 2024,2026")
    p.add_argument("--extent", help="xmin,ymin,xmax,ymax[:EPSG] analysed on both rasters")
    p.add_argument("--exclude", default="car", help="classes left out, comma-separated (default: car)")
    p.add_argument("--out", required=True, help="output GeoPackage (.gpkg); an existing one gets a new layer")
    p.add_argument("--layer", default="changes", help="output layer name (default: changes)")


def _gpkg_layer(text: str) -> tuple:
    path, _, layer = text.partition(".gpkg:")
    return (path + ".gpkg", layer) if layer else (text, None)


def _changes_run(args: argparse.Namespace) -> int:
    from collections import Counter

    from .core.analysis import read_detections, write_change_layer
    from .core.analysis.workflow import check_new_layer, compare_runs, detect_vintages, parse_classes
    from .core.errors import UserInputError

    exclude = parse_classes(args.exclude)
    check_new_layer(args.out, args.layer)
    if args.before and args.after:
        before, after = (read_detections(*_gpkg_layer(t)) for t in (args.before, args.after))
    elif args.model and args.before_raster and args.after_raster and args.extent:
        extent, crs = parse_extent(args.extent)
        vintages = [v.strip() for v in args.vintages.split(",")]
        if len(vintages) != 2 or vintages[0] == vintages[1]:
            raise UserInputError(tr("--vintages must name two different vintages, e.g. 2024,2026."))
        from pathlib import Path

        before, after = detect_vintages(
            args.model,
            [args.before_raster, args.after_raster],
            vintages,
            Path(args.out).with_suffix("").as_posix() + "_runs",
            extent=extent,
            extent_crs=crs or "EPSG:2154",
        )
    else:
        raise UserInputError(
            tr(
                "Give either --before and --after detection GeoPackages, or --model, --before-raster, "
                "--after-raster and --extent."
            )
        )
    result = compare_runs(before, after, exclude=exclude)
    write_change_layer(result, args.out, args.layer)
    for note in result.metadata.get("notes", []):
        sys.stderr.write(note + "\n")
    counts = Counter(result.columns["change"].tolist())
    print(
        tr("{n} objects compared: {detail}; layer '{layer}' written to {path}.").format(
            n=len(result),
            detail=", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-",
            layer=args.layer,
            path=args.out,
        )
    )
    if exclude:
        print(tr("Classes left out: {c}.").format(c=", ".join(sorted(exclude))))
    return 0


def _stats_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("layer", help="detection or change layer: FILE.gpkg[:LAYER]")
    p.add_argument(
        "--zones", required=True, help="commune, ept, mgp (boundaries service, cache first) or a polygon file"
    )
    p.add_argument("--name-field", help="field naming the zones of a polygon file (default: nom/name)")
    p.add_argument(
        "--boundaries", help="local MGP communes file for commune/ept/mgp (offline; default: cache)"
    )
    p.add_argument("--out", required=True, help="output table: .csv or .xlsx")


def _stats_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .core.analysis.workflow import boundary_zones, layer_statistics, read_zones, zone_summary
    from .core.errors import UserInputError

    suffix = Path(args.out).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise UserInputError(tr("The output '{path}' must end in .csv or .xlsx.").format(path=args.out))
    if args.zones in ("commune", "communes", "ept", "mgp"):
        from .core.opendata.boundaries import Boundaries

        b = Boundaries.from_file(args.boundaries) if args.boundaries else None
        zones, names, zcrs = boundary_zones(args.zones.rstrip("s"), b)
    else:
        zones, names, zcrs = read_zones(args.zones, None, args.name_field)
    result = layer_statistics(*_gpkg_layer(args.layer), zones, names, zcrs)
    (result.to_xlsx if suffix == ".xlsx" else result.to_csv)(args.out)
    for line in zone_summary(result):
        print(line)
    print(args.out)
    return 0


register_command("changes", _changes_parser, _changes_run, "compare two vintages' detections (change layer)")
register_command("stats", _stats_parser, _stats_run, "statistics per zone of a detection or change layer")


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


# -- estimate (issue 10): plan a region-size run before spending ---------------------------------
def _estimate_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="ONNX model file")
    p.add_argument("--raster", required=True, help="GDAL-readable raster (GeoTIFF, COG, VRT, /vsicurl/ URL)")
    p.add_argument(
        "--extent", type=checked(parse_extent), help="xmin,ymin,xmax,ymax[:EPSG] (default: the whole raster)"
    )
    p.add_argument("--mask", help="vector file of polygons: tiles outside are not counted")
    p.add_argument(
        "--workers", type=checked(check_int, "--workers", 1, 100000), default=1, help="number of workers"
    )
    p.add_argument(
        "--sample",
        type=checked(check_int, "--sample", 0, 64),
        default=4,
        help="tiles run to measure the cost per tile (0: the model card's measured cost)",
    )
    p.add_argument(
        "--per-tile-s",
        type=checked(check_positive, "--per-tile-s"),
        help="cost per tile in seconds (no sample run)",
    )
    p.add_argument(
        "--tile-size", type=checked(check_int, "--tile-size", 8, 16384), help="tile size in pixels"
    )
    p.add_argument("--overlap", type=checked(check_int, "--overlap", 0), help="tile overlap in pixels")
    p.add_argument("--tiles-per-job", type=checked(check_int, "--tiles-per-job", 1), help="tiles per task")


def _estimate_run(args: argparse.Namespace) -> int:
    from .core.distributed.estimate import estimate_run
    from .core.inference.params import check_detection_params

    check_input_file(args.model, tr("model file"))
    check_detection_params(raster=args.raster, mask=args.mask, tile_size=args.tile_size, overlap=args.overlap)
    extent, extent_crs = args.extent or (None, None)
    est = estimate_run(
        args.model,
        args.raster,
        workers=args.workers,
        sample_tiles=args.sample,
        per_tile_s=args.per_tile_s,
        tiles_per_job=args.tiles_per_job,
        extent=extent,
        extent_crs=extent_crs,
        mask=args.mask,
        tile_size=args.tile_size,
        overlap=args.overlap,
    )
    print(est.summary())
    return 0


register_command(
    "estimate", _estimate_parser, _estimate_run, "estimate tiles, time and output size of a run (no run)"
)


def _explain_parser(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Writes crop.png (the model's input around the object, the object in yellow, the box the model "
        "draws on that crop in cyan; crop_before/crop_after for a change), occlusion.png with "
        "--occlusion (and occlusion_zoom.png around the object; red = hiding this area lowered the "
        "score most) and explanation.json (scores, "
        "runner-up classes, tile, run id and date, model card limits)."
    )
    p.add_argument("--detections", required=True, help="detection or change GeoPackage written by IdF HR")
    p.add_argument("--fid", required=True, type=int, help="fid of the object to explain")
    p.add_argument("--layer", help="layer in the GeoPackage (needed when it holds several)")
    p.add_argument("--occlusion", action="store_true", help="also compute the occlusion map (a few seconds)")
    p.add_argument("--out", required=True, help="output folder (created if needed)")


def _explain_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .core.explain import explain_feature
    from .core.explain.render import write_explanation

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserInputError(tr("--out '{path}' is a file; give a folder.").format(path=out))
    progress = _stderr_progress()
    exp = explain_feature(
        args.detections,
        args.fid,
        args.layer,
        occlusion=args.occlusion,
        progress=lambda f: progress(f, tr("Occlusion map")),
    )
    files = write_explanation(exp, out)
    pairs = "; ".join(f"{lab} {s:.2f}" for lab, s in exp.class_scores) or "-"
    print(
        tr(
            "Object {fid} of '{layer}': {label}, score {score} (classes: {pairs}); run {run} of {date}."
        ).format(
            fid=exp.fid,
            layer=exp.layer,
            label=exp.label,
            score="-" if exp.score is None else f"{exp.score:.2f}",
            pairs=pairs,
            run=exp.run_id[:12],
            date=exp.run_date,
        )
    )
    for note in exp.notes:
        print(note)
    print(tr("Written: {files}").format(files=", ".join(sorted(files.values()))))
    return 0


register_command(
    "explain",
    _explain_parser,
    _explain_run,
    "explain one detection: its crop, scores, provenance, occlusion map",
)
