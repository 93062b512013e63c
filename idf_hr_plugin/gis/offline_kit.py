"""QGIS side of offline kits: the kit's project (relative paths, view on the zone) and the planning
of a kit from the settings (boundaries, catalog). The copy/resume logic is in ``core/offline_kit.py``.

:func:`write_project` is also what the demo uses, so both open on their region, never at 1:1.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Sequence

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFillSymbol,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsReferencedRectangle,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)

from ..core import offline_kit as kit
from ..core.errors import UserInputError
from ..core.paths import cache_dir
from .i18n import tr

LOG = logging.getLogger("idf_hr.offline_kit")


# -- project file ---------------------------------------------------------------------------
def set_project_view(project: QgsProject, extent: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> None:
    """Make ``project`` open on ``extent``: its default view extent, and the map canvas element QGIS
    (and QField) read on opening, which a project written without a canvas otherwise lacks."""
    view = QgsRectangle(extent)
    view.scale(1.05)
    project.viewSettings().setDefaultViewExtent(QgsReferencedRectangle(view, crs))

    def add_canvas(doc) -> None:
        root = doc.documentElement()
        old = root.firstChildElement("mapcanvas")
        while not old.isNull():
            root.removeChild(old)
            old = root.firstChildElement("mapcanvas")
        settings = QgsMapSettings()
        settings.setDestinationCrs(crs)
        settings.setOutputSize(_size(1200, 900))
        settings.setExtent(view)
        elem = doc.createElement("mapcanvas")
        elem.setAttribute("name", "theMapCanvas")
        elem.setAttribute("annotationsVisible", "1")
        settings.writeXml(elem, doc)
        root.appendChild(elem)

    old_hook = getattr(project, "_idf_hr_view_hook", None)
    if old_hook is not None:
        project.writeProject.disconnect(old_hook)
    project.writeProject.connect(add_canvas)
    project._idf_hr_view_hook = add_canvas  # keep a reference while the project lives


def _size(w: int, h: int):
    from qgis.PyQt.QtCore import QSize

    return QSize(w, h)


def write_project(
    project: QgsProject,
    path: str | Path,
    extent: QgsRectangle,
    crs: QgsCoordinateReferenceSystem,
    relative: bool = True,
) -> Path:
    """Write ``project`` to ``path`` (.qgz) with the view on ``extent`` (and relative paths by default)."""
    project.setCrs(crs)
    project.writeEntryBool("Paths", "/Absolute", not relative)
    set_project_view(project, extent, crs)
    path = Path(path)
    if not project.write(str(path)):
        raise UserInputError(
            tr("QGIS could not write the project {path}: {error}").format(path=path, error=project.error())
        )
    return path


# -- the kit's project ------------------------------------------------------------------------
def _apply_meta(layer, part: kit.KitPart) -> None:
    from .opendata_layers import apply_metadata

    vintage = part.meta.get("vintage", "")
    apply_metadata(
        layer,
        title=part.title,
        license=part.meta.get("licence", ""),
        source_url=part.meta.get("source_url") or part.meta.get("source", ""),
        abstract=tr("Vintage: {vintage}").format(vintage=vintage) if vintage else "",
    )


def write_kit_project(stage: Path, plan: kit.KitPlan) -> Path:
    """The kit's QGIS project in ``stage``: vectors over the imagery (newest vintage shown)."""
    from .opendata_layers import style_coverage_layer

    project = QgsProject()
    crs = QgsCoordinateReferenceSystem(plan.crs)
    project.setCrs(crs)
    project.setTitle(tr("IdF HR offline kit — {zone}").format(zone=plan.zone))
    layers = []
    for part in plan.parts:
        if part.kind != "vector":
            continue
        path = stage / part.relpath
        layer = QgsVectorLayer(f"{path}|layername={part.layer}", part.title, "ogr")
        if not layer.isValid():
            raise UserInputError(tr("QGIS could not open the kit layer {path}.").format(path=part.relpath))
        if part.style == "fibre":
            style_coverage_layer(layer)
        elif part.style == "boundaries":
            outline = QgsFillSymbol.createSimple(
                {"color": "0,0,0,0", "outline_color": "230,30,30,255", "outline_width": "0.6"}
            )
            layer.setRenderer(QgsSingleSymbolRenderer(outline))
        _apply_meta(layer, part)
        layers.append((layer, True))
    imagery = sorted(
        (p for p in plan.parts if p.kind == "imagery"), key=lambda p: p.meta.get("vintage", ""), reverse=True
    )
    for i, part in enumerate(imagery):
        layer = QgsRasterLayer(str(stage / part.relpath), part.title, "gdal")
        if not layer.isValid():
            raise UserInputError(tr("QGIS could not open the kit imagery {path}.").format(path=part.relpath))
        _apply_meta(layer, part)
        layers.append((layer, i == 0))
    for layer, visible in layers:
        project.addMapLayer(layer)
        project.layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(visible)
    return write_project(project, stage / f"{plan.name}.qgz", QgsRectangle(*plan.extent), crs)


# -- planning from the plugin's settings ------------------------------------------------------
def work_dir(target: str | Path) -> Path:
    """Stable scratch folder (mosaic VRTs) for a kit, outside the kit; same target = same folder,
    so an imagery pack resumes block by block."""
    key = hashlib.sha256(str(Path(target).resolve()).encode()).hexdigest()[:12]
    return cache_dir() / "offline_kit" / key


def catalog_imagery_parts(
    source_config,
    vintages: Sequence[int],
    extent: Sequence[float],
    target: str | Path,
    gsd: float | None = None,
) -> list[kit.KitPart]:
    """One COG part per vintage: that year's items over ``extent`` (Lambert-93), mosaicked.

    ``gsd`` (metres) picks a resolution; by default the one covering most of the extent (finer on ties).
    """
    from ..core.catalog.model import SearchQuery
    from ..core.catalog.mosaic import build_mosaic_vrt
    from ..core.catalog.sources import make_source
    from .demo_job import _wgs84_bbox

    source = make_source(source_config)
    items = list(source.search(SearchQuery(bbox=_wgs84_bbox(extent), limit=1000)))
    years = sorted({i.year for i in items if i.year}, reverse=True)
    wanted = list(vintages) or years[:1]
    missing = [v for v in wanted if v not in years]
    if missing:
        raise UserInputError(
            tr("{source} has no imagery of {missing} over this zone; available vintages: {known}.").format(
                source=source_config.name,
                missing=", ".join(map(str, missing)),
                known=", ".join(map(str, years)) or tr("none"),
            )
        )
    scratch = work_dir(target)
    parts = []
    for year in wanted:
        of_year = [i for i in items if i.year == year]
        chosen, finest = _pick_resolution(of_year, _wgs84_bbox(extent), gsd)
        if not chosen:
            raise UserInputError(
                tr("{source} has no {gsd} m imagery of {year} over this zone.").format(
                    source=source_config.name, gsd=gsd, year=year
                )
            )
        vrt = build_mosaic_vrt(chosen, scratch / f"mosaic_{year}.vrt")
        res = f" — {finest * 100:.0f} cm" if finest else ""
        meta = {
            "source": source_config.url or source_config.name,
            "source_url": source_config.url or source_config.name,
            "licence": next((i.license for i in chosen if getattr(i, "license", "")), ""),
            "vintage": str(year),
        }
        parts.append(
            kit.imagery_part(
                str(vrt),
                extent,
                "EPSG:2154",
                f"imagery/{_slug(source_config.name)}_{year}.tif",
                f"{source_config.name} {year}{res}",
                meta,
                key=f"imagery:{year}",
            )
        )
    return parts


def _pick_resolution(items, bbox, gsd: float | None):
    """(items of the chosen resolution, that resolution)."""
    groups: dict[float, list] = {}
    for item in items:
        groups.setdefault(round(item.gsd or 0.0, 6), []).append(item)
    if gsd is not None:
        key = round(float(gsd), 6)
        return groups.get(key, []), key

    def covered(its) -> float:
        area = 0.0
        for it in its:
            if it.bbox:
                w = min(it.bbox[2], bbox[2]) - max(it.bbox[0], bbox[0])
                h = min(it.bbox[3], bbox[3]) - max(it.bbox[1], bbox[1])
                area += max(0.0, w) * max(0.0, h)
        return area

    best = max(groups, key=lambda g: (round(covered(groups[g]), 12), -g))
    return groups[best], (best or None)


def _slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in text).strip("_")
    return "_".join(p for p in out.split("_") if p)[:40] or "imagery"


def plan_offline_kit(
    target: str | Path,
    *,
    zone: str = "",
    extent: Sequence[float] | None = None,
    source_config=None,
    vintages: Sequence[int] = (),
    gsd: float | None = None,
    boundaries_file: str | None = None,
    ftth: str | None = None,
    premises: str | None = None,
    opendata: Sequence[str] = (),
    models: Sequence[str] = (),
) -> kit.KitPlan:
    """Everything a kit of ``zone`` (commune/EPT name or code) or ``extent`` (Lambert-93) will hold.

    ``ftth``/``premises``: ARCEP files (paths or URLs; default: the bundled figures); ``opendata``: cached GeoPackages or any
    vector files; ``models``: ONNX files with their cards. Boundaries and fibre always go in.
    """
    from .opendata_layers import arcep_aliases, fetch_table

    target = kit.check_target(target)
    if not zone and not extent:
        raise UserInputError(tr("Choose a commune or an EPT, or give an extent, for the kit."))
    bounds = _boundaries(boundaries_file)
    if zone:
        label, codes, bbox = kit.resolve_zone(bounds, zone)
        if extent:
            bbox = tuple(float(v) for v in extent)
    else:
        bbox = tuple(float(v) for v in extent)
        label = ", ".join(f"{v:.0f}" for v in bbox) + " (EPSG:2154)"
        codes = kit.codes_in_extent(bounds, bbox)
        if not codes:
            raise UserInputError(
                tr("The extent meets no commune of the MGP: check its coordinates (Lambert-93).")
            )
    parts: list[kit.KitPart] = []
    if source_config is not None:
        parts += catalog_imagery_parts(source_config, vintages, bbox, target, gsd)
    parts.append(kit.boundaries_part(bounds, codes))
    if ftth:
        ftth_path, premises_path = fetch_table(ftth), fetch_table(premises) if premises else None
    else:  # the ARCEP figures bundled with the plugin (their vintage is in the layer metadata)
        ftth_path, premises_path = kit.BUNDLED_FTTH, None
    parts.append(kit.fibre_part(ftth_path, premises_path, bounds, codes, arcep_aliases()))
    for src in opendata:
        parts.append(kit.vector_part(src, Path(src).stem))
    for model in models:
        parts.append(kit.model_part(model))
    return kit.KitPlan(target=target, zone=label, extent=bbox, crs="EPSG:2154", parts=parts)


def _boundaries(local_file: str | None):
    """The boundaries file, the settings' file or the API (cached); offline, the bundled copy."""
    from .opendata_layers import load_boundaries

    return load_boundaries(local_file)


def build_offline_kit(plan: kit.KitPlan, progress=None, cancel=None) -> kit.KitResult:
    """Build ``plan`` (see :func:`core.offline_kit.build_kit`), then drop the scratch mosaics."""
    from ..core.errors import Cancelled

    try:
        result = kit.build_kit(plan, write_kit_project, progress, cancel)
    except Cancelled:
        shutil.rmtree(work_dir(plan.target), ignore_errors=True)
        raise
    shutil.rmtree(work_dir(plan.target), ignore_errors=True)
    return result
