"""QGIS side of change detection and zonal statistics: load and style the result layers.

Change layers are categorised on ``change`` (new green, removed red, modified orange, unchanged
grey, uncertain yellow hatched); zone layers get a graduated style on a chosen indicator with a
French legend. The styles are stored as the GeoPackage's default style so the layer looks the
same when reopened (also after ``qgis_process``).
"""

from __future__ import annotations

from typing import Optional, Sequence

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsGraduatedSymbolRenderer,
    QgsLinePatternFillSymbolLayer,
    QgsProject,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsRendererRange,
    QgsVectorLayer,
)

from .i18n import tr

CHANGE_STYLES: tuple[tuple[str, str, str], ...] = (
    ("new", "Nouveau", "#1a9641"),
    ("removed", "Disparu", "#d7191c"),
    ("modified", "Modifié", "#fd8d3c"),
    ("unchanged", "Inchangé", "#9e9e9e"),
    ("uncertain", "Incertain (non comparable)", "#ffd92f"),
    ("gained", "Surface gagnée", "#66bd63"),  # semantic-segmentation overlay
    ("lost", "Surface perdue", "#f46d43"),
)
INDICATORS: dict[str, str] = {
    "count": "Nombre d'objets",
    "density_per_km2": "Objets par km² analysé",
    "analysed_pct": "Part analysée (%)",
    "n_new": "Nouveaux objets",
    "n_removed": "Objets disparus",
    "net_change": "Solde (nouveaux − disparus)",
}


def indicator_label(key: str) -> str:
    """The indicator's name in the UI language (``INDICATORS`` keeps the French one for reports)."""
    labels = {
        "count": tr("Number of objects"),
        "density_per_km2": tr("Objects per km² analysed"),
        "analysed_pct": tr("Share analysed (%)"),
        "n_new": tr("New objects"),
        "n_removed": tr("Objects gone"),
        "net_change": tr("Balance (new − gone)"),
    }
    return labels.get(key, key)


ZONE_COLORS = ("#fff5eb", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")


def gpkg_source(layer: QgsVectorLayer) -> tuple[str, Optional[str]]:
    """``(file, layer name)`` of a GeoPackage-backed layer; other layers are refused with a sentence."""
    from ..core.analysis.errors import AnalysisError

    parts = layer.source().split("|")
    path = parts[0]
    name = next((p.split("=", 1)[1] for p in parts[1:] if p.startswith("layername=")), None)
    if layer.providerType() != "ogr" or not path.lower().endswith(".gpkg"):
        raise AnalysisError(
            tr(
                "The layer '{name}' is not stored in a GeoPackage; use a detection layer written by an "
                "IdF HR detection run (or save it as a GeoPackage first)."
            ).format(name=layer.name())
        )
    return path, name


def zones_from_layer(layer: Optional[QgsVectorLayer], name_field: Optional[str]) -> tuple[list, list, str]:
    """``(shapely geometries, names, CRS)`` of a polygon layer; a missing name field is asked for."""
    from shapely import wkb

    from ..core.analysis.errors import AnalysisError
    from ..core.analysis.workflow import check_name_field

    if layer is None:
        raise AnalysisError(tr("Choose the zones layer, or communes, EPT or the whole MGP."))
    name = check_name_field(name_field or None, [f.name() for f in layer.fields()])
    geoms, names = [], []
    for f in layer.getFeatures():
        if not f.geometry().isEmpty():
            geoms.append(wkb.loads(bytes(f.geometry().asWkb())))
            names.append(f[name])
    return geoms, names, layer.crs().authid() or layer.crs().toWkt()


def _fill(color: str) -> QgsFillSymbol:
    return QgsFillSymbol.createSimple({"color": color, "outline_color": "#333333", "outline_width": "0.3"})


def change_renderer(field_name: str = "change") -> QgsCategorizedSymbolRenderer:
    """Categories of ``change`` with French labels; ``uncertain`` is yellow hatched, not solid."""
    cats = []
    for value, label, color in CHANGE_STYLES:
        sym = _fill(color)
        if value == "uncertain":
            sym = QgsFillSymbol.createSimple(
                {"color": "0,0,0,0", "outline_color": color, "outline_width": "0.5"}
            )
            hatch = QgsLinePatternFillSymbolLayer()
            hatch.setLineAngle(45)
            hatch.setDistance(1.2)
            hatch.setColor(QgsFillSymbol.createSimple({"color": color}).color())
            hatch.subSymbol().setColor(hatch.color())
            sym.appendSymbolLayer(hatch)
        cats.append(QgsRendererCategory(value, sym, label))
    return QgsCategorizedSymbolRenderer(field_name, cats)


def style_change_layer(layer: QgsVectorLayer, save: bool = False) -> None:
    """Apply :func:`change_renderer`; ``save`` stores it as the GeoPackage's default style."""
    layer.setRenderer(change_renderer())
    layer.triggerRepaint()
    if save:
        layer.saveStyleToDatabase(layer.name(), "IdF HR changes", True, "")


def zones_renderer(layer: QgsVectorLayer, indicator: str, classes: int = 5) -> QgsGraduatedSymbolRenderer:
    """Graduated renderer on ``indicator`` (equal-count classes of the layer's values), French legend."""
    if indicator not in INDICATORS:
        raise ValueError(
            tr("Unknown indicator '{ind}'; choose one of {names}.").format(
                ind=indicator, names=", ".join(INDICATORS)
            )
        )
    idx = layer.fields().indexOf(indicator)
    values = sorted(
        float(f[idx]) for f in layer.getFeatures() if idx >= 0 and f[idx] is not None and f[idx] == f[idx]
    )
    ranges = []
    if values:
        n = min(classes, len(set(values)))
        cuts = [values[0]] + [
            values[min(len(values) - 1, round(len(values) * k / n) - 1)] for k in range(1, n + 1)
        ]
        cuts = sorted(set(cuts))
        if len(cuts) == 1:
            cuts = [cuts[0], cuts[0]]
        colors = ZONE_COLORS[-(len(cuts) - 1) :]
        for k, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
            label = f"{lo:.4g} – {hi:.4g}".replace(".", ",")  # French decimal comma
            ranges.append(QgsRendererRange(lo, hi, _fill(colors[k]), label))
    renderer = QgsGraduatedSymbolRenderer(indicator, ranges)
    renderer.setMode(QgsGraduatedSymbolRenderer.Mode.Custom)
    return renderer


def style_zones_layer(layer: QgsVectorLayer, indicator: str = "count", save: bool = False) -> None:
    """Graduated style on ``indicator``; the layer title names it in French."""
    layer.setRenderer(zones_renderer(layer, indicator))
    layer.setTitle(indicator_label(indicator))
    layer.triggerRepaint()
    if save:
        layer.saveStyleToDatabase(layer.name(), "IdF HR zone statistics", True, "")


def add_change_group(
    path: str,
    layer: str = "changes",
    rasters: Sequence[tuple[str, str]] = (),
    group_name: Optional[str] = None,
    project: Optional[QgsProject] = None,
) -> QgsVectorLayer:
    """Add the styled change layer and the two vintages' rasters (``(path, vintage)``) in one group."""
    project = project or QgsProject.instance()
    vl = QgsVectorLayer(f"{path}|layername={layer}", tr("Changes"), "ogr")
    if not vl.isValid():
        raise ValueError(
            tr("The change layer '{layer}' of '{path}' cannot be opened.").format(layer=layer, path=path)
        )
    style_change_layer(vl)
    group = project.layerTreeRoot().insertGroup(0, group_name or tr("Change detection"))
    project.addMapLayer(vl, False)
    group.addLayer(vl)
    for raster, vintage in rasters:
        rl = QgsRasterLayer(str(raster), tr("Imagery {vintage}").format(vintage=vintage))
        if rl.isValid():
            project.addMapLayer(rl, False)
            group.addLayer(rl)
    return vl
