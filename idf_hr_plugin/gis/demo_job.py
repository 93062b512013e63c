"""The headless main job on the embedded demo region (``make demo``).

Generates the synthetic region (first run only), searches its STAC catalog, downloads an offline
pack of part of it, runs the bundled detection model when available, renders PNG maps with QGIS's
renderer and saves a QGIS project with everything.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..core.catalog.model import SearchQuery, SourceConfig

Log = Callable[[str], None]


def _wgs84_bbox(bounds, crs: str = "EPSG:2154"):
    from pyproj import Transformer

    t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs, ys = t.transform(
        [bounds[0], bounds[2], bounds[0], bounds[2]], [bounds[1], bounds[1], bounds[3], bounds[3]]
    )
    return (min(xs), min(ys), max(xs), max(ys))


def pack_extent(bounds, size_m: float = 400.0):
    """A ``size_m`` square at the centre of the region (EPSG:2154)."""
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    h = size_m / 2
    return (cx - h, cy - h, cx + h, cy + h)


def run_demo(out_dir: Path, log: Log = print, pack_size_m: float = 400.0, detect: bool = True) -> dict:
    """Run the whole demo; returns the paths it wrote."""
    from ..core.catalog.mosaic import build_mosaic_vrt
    from ..core.catalog.sources import make_source
    from ..core.tiles.offline import download_pack
    from ..demo import ensure_demo_region

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    log("1/5 Demo region (synthetic imagery, generated on first use)…")
    region = ensure_demo_region(progress=lambda f, msg="": None)
    log(
        f"    {region.root}  ({len(region.vintages)} vintages, bounds {tuple(round(v) for v in region.bounds)} EPSG:2154)"
    )

    log("2/5 Searching the demo STAC catalog…")
    source = make_source(SourceConfig(id="demo", name="Demo", kind="demo"))
    items = list(source.search(SearchQuery(bbox=_wgs84_bbox(region.bounds), limit=1000)))
    by_coll: dict[str, list] = {}
    for item in items:
        by_coll.setdefault(item.collection or "?", []).append(item)
    for coll, its in sorted(by_coll.items()):
        log(f"    {coll}: {len(its)} items")
    latest = max(region.vintages)
    vintage_items = [i for i in items if i.year == latest and i.gsd and abs(i.gsd - 0.2) < 1e-6]
    if not vintage_items:
        raise RuntimeError("the demo catalog returned no 20 cm item for the latest vintage")
    mosaic = build_mosaic_vrt(vintage_items, out_dir / f"demo_mosaic_{latest}.vrt")

    log(f"3/5 Offline pack of {pack_size_m:.0f} m × {pack_size_m:.0f} m ({latest}, 20 cm, COG)…")
    extent = pack_extent(region.bounds, pack_size_m)
    pack = download_pack(
        str(mosaic),
        extent,
        "EPSG:2154",
        out_dir / f"offline_pack_{latest}.tif",
        fmt="COG",
        metadata={"source": "IdF HR demo region (synthetic)", "licence": "Etalab-2.0 (synthetic demo data)"},
    )
    log(f"    {pack.path} ({pack.bytes / 1e6:.1f} MB, {pack.pixels / 1e6:.1f} Mpx, {pack.seconds:.1f} s)")

    detections = None
    if detect:
        detections = _maybe_detect(pack.path, out_dir, log)

    log("5/5 Rendering with QGIS…")
    png, project = _render(region, pack.path, mosaic, detections, extent, out_dir)
    log(f"    map: {png}")
    log(f"    project: {project}")
    analysis = None
    if detections:  # 2024 vs 2026 over the pack, per-commune statistics, report PDF + PNG
        from .demo_analysis import run_analysis_demo

        analysis = run_analysis_demo(out_dir, extent, after=detections[:2], log=log)
    kit = demo_kit(out_dir, pack.path, extent, latest)
    log(f"    offline kit: {kit.project} ({kit.bytes / 1e6:.1f} MB, {kit.seconds:.1f} s)")
    model_item = _publish_bundled_model(out_dir)
    log(f"    bundled model as a STAC MLM item: {model_item}")
    log(f"Done in {time.monotonic() - t0:.0f} s. Files are in {out_dir}")
    return {
        "region": region.root,
        "pack": pack.path,
        "mosaic": mosaic,
        "png": png,
        "project": project,
        "kit": kit.path,
        "model_item": model_item,
        "analysis": analysis,
        "detections": detections[0] if detections else None,
    }


def _publish_bundled_model(out_dir: Path) -> Path:
    """Publish the bundled model into ``out_dir/models_catalog`` (a static STAC catalog, MLM extension)."""
    from ..core.inference.models_registry import BUNDLED_DIR
    from ..core.mlm import publish_model

    return Path(publish_model(BUNDLED_DIR / "idfhr_demo_detector.onnx", Path(out_dir) / "models_catalog"))


def demo_kit(out_dir: Path, pack: Path, extent, year: int):
    """A small offline kit of the demo commune from the pack, the bundled boundaries, fibre and model."""
    import shutil

    from ..core import offline_kit as kit
    from ..core.opendata.boundaries import Boundaries
    from ..core.paths import RESOURCES_DIR
    from .offline_kit import build_offline_kit

    target = Path(out_dir) / "kit_saint_maur"
    if target.is_dir():  # the kit of a previous demo run (the demo's own output)
        shutil.rmtree(target)
    bounds = Boundaries.from_file(kit.BUNDLED_BOUNDARIES)
    label, codes, _bbox = kit.resolve_zone(bounds, "94068")
    meta = {"source": "IdF HR demo region (synthetic)", "licence": "Etalab-2.0 (synthetic demo data)"}
    parts = [
        kit.imagery_part(
            str(pack),
            extent,
            "EPSG:2154",
            f"imagery/demo_{year}.tif",
            f"Démo {year} — 20 cm (synthétique)",
            {**meta, "vintage": str(year)},
        ),
        kit.boundaries_part(bounds, codes),
        kit.fibre_part(kit.BUNDLED_FTTH, None, bounds, codes),
    ]
    model = RESOURCES_DIR / "models" / "idfhr_demo_detector.onnx"
    if model.exists() and model.with_suffix(".json").exists():
        parts.append(kit.model_part(model))
    plan = kit.KitPlan(target=target, zone=label, extent=tuple(extent), crs="EPSG:2154", parts=parts)
    return build_offline_kit(plan)


def _maybe_detect(raster: Path, out_dir: Path, log: Log):
    from ..core.paths import RESOURCES_DIR

    model = RESOURCES_DIR / "models" / "idfhr_demo_detector.onnx"
    try:
        from ..core.inference.runner import run_detection
    except ImportError as exc:
        log(f"4/5 Detection skipped: {exc}")
        return None
    if not model.exists():
        log("4/5 Detection skipped: the bundled demo model is not built yet (make model).")
        return None
    log("4/5 Detecting with the bundled demo model…")
    out = out_dir / "detections.gpkg"
    report = run_detection(model, str(raster), out_path=out, source="idfhr-demo", vintage=raster.stem[-4:])
    log("    " + report.summary().replace("\n", "\n    "))
    return out, report.layer, model


def _render(region, pack: Path, mosaic: Path, detections, extent, out_dir: Path):
    from qgis.core import (
        QgsFillSymbol,
        QgsProject,
        QgsRasterLayer,
        QgsRectangle,
        QgsSingleSymbolRenderer,
        QgsVectorLayer,
    )

    from .headless import ensure_qgis_app
    from .render import render_png

    ensure_qgis_app()
    project = QgsProject.instance()
    project.clear()
    pack_layer = QgsRasterLayer(str(pack), f"Pack hors ligne — {pack.stem}", "gdal")
    project.setCrs(pack_layer.crs())
    year = mosaic.stem.rsplit("_", 1)[-1]
    project.addMapLayer(QgsRasterLayer(str(mosaic), f"Démo {year} — 20 cm (synthétique)", "gdal"))
    project.addMapLayer(pack_layer)
    truth = QgsVectorLayer(f"{region.ground_truth}|layername=objects", "Vérité terrain (démo)", "ogr")
    if truth.isValid():
        outline = QgsFillSymbol.createSimple(
            {
                "color": "0,0,0,0",
                "outline_color": "255,255,255,200",
                "outline_width": "0.3",
                "outline_style": "dot",
            }
        )
        truth.setRenderer(QgsSingleSymbolRenderer(outline))
        project.addMapLayer(truth)
        project.layerTreeRoot().findLayer(truth.id()).setItemVisibilityChecked(False)
    top = []
    if detections is not None:
        from ..core.inference import load_model_spec
        from .detection import add_result_layer

        gpkg, layer_name, model = detections
        top.append(
            add_result_layer(str(gpkg), layer_name, load_model_spec(model), project, "Détections (démo)")
        )
    png = render_png(
        top + [pack_layer], out_dir / "demo_map.png", extent=QgsRectangle(*extent), size=(1400, 1400)
    )
    from ..core.guided_session import DEMO_PROJECT_ENTRY
    from .offline_kit import write_project

    project.writeEntry(*DEMO_PROJECT_ENTRY, "1")  # opening it offers the guided session
    # opens on the packed extent (not a blank map at 1:1); paths stay absolute: the mosaic is in the cache
    qgz = write_project(
        project, out_dir / "idf_hr_demo.qgz", QgsRectangle(*extent), pack_layer.crs(), relative=False
    )
    return png, qgz
