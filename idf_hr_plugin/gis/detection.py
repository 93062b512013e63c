"""QGIS adapters of the detection engine: layer -> raster source, extents/masks, result layers.

Everything here runs on the main thread (it touches layers, the canvas or the project) and
prepares plain values for :func:`idf_hr_plugin.core.inference.run_detection`, which runs in a
task.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsLayerTreeGroup,
    QgsProject,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

from ..core.errors import UserInputError
from ..core.paths import RESOURCES_DIR, cache_dir
from .i18n import tr, user_locale
from .sources import gdal_source_for_layer

RESULTS_GROUP = "IdF HR — détections"
DEFAULT_QML = RESOURCES_DIR / "styles" / "detections.qml"
DEFAULT_CLASSES = {
    0: ("building", "#c8553d"),
    1: ("swimming_pool", "#1e9bd7"),
    2: ("solar_panel", "#3a3f8f"),
    3: ("tree", "#2e8b3a"),
    4: ("car", "#f2b705"),
}


@dataclass
class RasterSource:
    """What a detection task needs to read a layer: a GDAL path, or a QGIS reader factory."""

    raster: str
    source_id: str
    vintage: str = ""
    reader_factory: Optional[Callable] = None
    cleanup: list = field(default_factory=list)  # temporary files to delete after the run
    kind: str = "gdal"  # gdal | qgis

    def close(self) -> None:
        for p in self.cleanup:
            try:
                os.unlink(p)
            except OSError:
                pass
        self.cleanup.clear()


def layer_vintage(layer) -> str:
    """The imagery year of a layer, from its metadata keywords or its name ('' if unknown)."""
    texts = [layer.name(), layer.metadata().title()]
    for values in layer.metadata().keywords().values():
        texts.extend(values)
    for t in texts:
        m = re.search(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)", str(t))
        if m:
            return m.group(1)
    return ""


def raster_source(layer: QgsRasterLayer, gsd_m: Optional[float] = None) -> RasterSource:
    """Turn a raster layer into a :class:`RasterSource` (main thread).

    File/COG/VRT layers are read by GDAL (rasterio) directly. Web layers (``wms`` provider:
    WMTS, XYZ) are read through QGIS — its network settings and cache apply — with a
    :class:`~idf_hr_plugin.gis.qgis_reader.QgisWindowReader`; the tiling is planned on a
    source-less VRT that describes the layer's extent in a projected work CRS.
    """
    if layer is None or not layer.isValid():
        raise UserInputError(tr("Choose a valid imagery layer first."))
    vintage = layer_vintage(layer)
    if layer.providerType() == "gdal":
        return RasterSource(gdal_source_for_layer(layer), layer.source(), vintage)
    if layer.providerType() != "wms":
        gdal_source_for_layer(layer)  # raises the explanatory error
    from .qgis_reader import QgisWindowReader

    vrt = planning_vrt(layer, gsd_m)
    provider = layer.dataProvider()
    ctx = QgsProject.instance().transformContext()
    # cloned now, on the main thread; each reading thread clones this clone again
    template = provider.clone()

    def factory(plan, spec):
        return QgisWindowReader(template, plan.grid, spec.channels, transform_context=ctx)

    return RasterSource(str(vrt), layer.name(), vintage, factory, [str(vrt)], "qgis")


def planning_vrt(layer: QgsRasterLayer, gsd_m: Optional[float] = None) -> Path:
    """A source-less VRT with the layer's extent in a projected CRS (metres) for tile planning."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform

    from ..core.inference.tiling import choose_work_crs

    crs = layer.crs()
    ext = layer.extent()
    if crs.isGeographic() or crs.authid() in ("EPSG:3857", "EPSG:900913"):
        from rasterio.crs import CRS

        wgs = QgsCoordinateReferenceSystem("EPSG:4326")
        e4326 = QgsCoordinateTransform(crs, wgs, QgsProject.instance()).transformBoundingBox(ext)
        wc, _label = choose_work_crs(
            CRS.from_epsg(4326), (e4326.xMinimum(), e4326.yMinimum(), e4326.xMaximum(), e4326.yMaximum())
        )
        work = QgsCoordinateReferenceSystem(f"EPSG:{wc.to_epsg()}")
        ext = QgsCoordinateTransform(crs, work, QgsProject.instance()).transformBoundingBox(ext)
        crs = work
    prov = layer.dataProvider()
    native = ext.width() / prov.xSize() if prov.xSize() > 0 else 0.0
    res = float(gsd_m or native or 0.2)
    w = max(1, int(round(ext.width() / res)))
    h = max(1, int(round(ext.height() / res)))
    xml = (
        f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">'
        f"<SRS>{_xml_escape(crs.toWkt())}</SRS>"
        f"<GeoTransform>{ext.xMinimum()!r}, {res!r}, 0, {ext.yMaximum()!r}, 0, {-res!r}</GeoTransform>"
        '<VRTRasterBand dataType="Byte" band="1"/>'
        '<VRTRasterBand dataType="Byte" band="2"/>'
        '<VRTRasterBand dataType="Byte" band="3"/>'
        "</VRTDataset>"
    )
    folder = cache_dir() / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"plan_{uuid.uuid4().hex[:10]}.vrt"
    path.write_text(xml, encoding="utf-8")
    return path


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ------------------------------------------------------------------------------ extents and masks


def polygons_of_layer(layer: QgsVectorLayer, selected_only: bool = True) -> tuple:
    """Shapely polygons of a vector layer's (selected) features and its CRS WKT."""
    from shapely import wkb

    if layer is None or not layer.isValid():
        raise UserInputError(tr("Choose a polygon layer for the mask."))
    feats = layer.getSelectedFeatures() if selected_only else layer.getFeatures()
    geoms = []
    for f in feats:
        g = f.geometry()
        if g is None or g.isEmpty():
            continue
        shp = wkb.loads(bytes(g.asWkb()))
        if shp.geom_type in ("Polygon", "MultiPolygon"):
            geoms.append(shp)
    if not geoms:
        raise UserInputError(
            tr("Select at least one polygon in the layer “{name}” (the mask of the detection).").format(
                name=layer.name()
            )
            if selected_only
            else tr("The layer “{name}” holds no polygon.").format(name=layer.name())
        )
    return geoms, layer.crs().toWkt()


def boundaries_cache():
    """The cached commune/EPT boundaries (Open data tab), or None when not loaded yet."""
    try:
        from ..core.opendata.boundaries import CACHE_KEY
        from ..core.opendata.cache import DatasetCache

        return DatasetCache().get(CACHE_KEY)
    except Exception:  # a corrupt cache must not break the tab
        return None


def load_boundaries():
    """:class:`Boundaries` from the cache, or None."""
    cached = boundaries_cache()
    if cached is None:
        return None
    from ..core.opendata.boundaries import Boundaries

    return Boundaries.from_file(cached.path, cached.layer)


def boundary_mask(boundaries, name: str) -> tuple:
    """(shapely geometry, 'EPSG:4326') of a commune or EPT by name or code."""
    from shapely.geometry import shape

    geom = boundaries.geometry(name)
    if not geom:
        raise UserInputError(tr("“{name}” has no contour in the cached boundaries.").format(name=name))
    return shape(geom), "EPSG:4326"


# ------------------------------------------------------------------------------ result layers


def class_colors_from_spec(spec) -> dict:
    """{label: '#rrggbb'} of a ModelSpec (or DEFAULT_CLASSES when None)."""
    if spec is None:
        return {lab: col for lab, col in DEFAULT_CLASSES.values()}
    return {str(lab): spec.class_colors.get(cid, "#888888") for cid, lab in sorted(spec.class_names.items())}


def detection_renderer(colors: dict, names: dict | None = None) -> QgsCategorizedSymbolRenderer:
    """Categorized renderer on ``label``: each class filled with its colour (40 % opaque), its
    legend entry named from ``names`` ({class: name for people}) when given."""
    cats = []
    for label, color in colors.items():
        c = QColor(color)
        fill = QColor(c)
        fill.setAlpha(100)
        sym = QgsFillSymbol.createSimple(
            {
                "color": f"{fill.red()},{fill.green()},{fill.blue()},{fill.alpha()}",
                "outline_color": f"{c.red()},{c.green()},{c.blue()},255",
                "outline_width": "0.5",
            }
        )
        cats.append(QgsRendererCategory(label, sym, (names or {}).get(label, label)))
    return QgsCategorizedSymbolRenderer("label", cats)


def style_layer(
    layer: QgsVectorLayer, colors: dict, save_default: bool = False, names: dict | None = None
) -> None:
    """Style a result layer by class; ``save_default`` stores the style in its GeoPackage too.

    ``names`` ({class: name in the UI language}) name the legend entries and, through a value map
    on ``label``, what the attribute table and Identify show; the stored ``label`` values stay the
    model's class names (stable for scripts and joins)."""
    layer.setRenderer(detection_renderer(colors, names))
    idx = layer.fields().indexOf("label")
    if names and idx >= 0 and any(k != v for k, v in names.items()):
        from qgis.core import QgsEditorWidgetSetup

        mapping = [{shown: value} for value, shown in names.items()]
        layer.setEditorWidgetSetup(idx, QgsEditorWidgetSetup("ValueMap", {"map": mapping}))
    layer.triggerRepaint()
    if save_default:
        layer.saveStyleToDatabase("idfhr_detections", tr("IdF HR detections by class"), True, "")


def write_default_qml(path: Path = DEFAULT_QML) -> Path:
    """(Re)write ``resources/styles/detections.qml`` for the five default classes."""
    layer = QgsVectorLayer("Polygon?crs=EPSG:2154&field=label:string", "detections", "memory")
    style_layer(layer, class_colors_from_spec(None))
    path.parent.mkdir(parents=True, exist_ok=True)
    msg, ok = layer.saveNamedStyle(str(path))
    if not ok:
        raise UserInputError(tr("The style could not be written to {path}: {msg}").format(path=path, msg=msg))
    return path


def results_group(project: QgsProject | None = None) -> QgsLayerTreeGroup:
    """The layer-tree group of detection results (created at the top when absent)."""
    project = project or QgsProject.instance()
    root = project.layerTreeRoot()
    group = root.findGroup(RESULTS_GROUP)
    if group is None:
        group = root.insertGroup(0, RESULTS_GROUP)
    return group


def add_result_layer(
    gpkg: str, layer_name: str, spec=None, project: QgsProject | None = None, title: str | None = None
) -> QgsVectorLayer:
    """Load a run's layer from its GeoPackage into the results group, styled by class."""
    project = project or QgsProject.instance()
    layer = QgsVectorLayer(f"{gpkg}|layername={layer_name}", title or layer_name, "ogr")
    if not layer.isValid():
        raise UserInputError(
            tr("The result layer {layer} of {path} cannot be opened.").format(layer=layer_name, path=gpkg)
        )
    names = spec.display_labels(user_locale()) if spec is not None else None
    style_layer(layer, class_colors_from_spec(spec), names=names)
    project.addMapLayer(layer, False)
    results_group(project).insertLayer(0, layer)
    return layer
