"""``idfhr:downloadimagery`` — download an extent of imagery to a local COG or GeoPackage (offline pack)."""

from __future__ import annotations

import re
from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsRasterLayer,
)

from ..gis.sources import gdal_source_for_layer
from .base import IdfHrAlgorithm

FORMATS = ("COG", "GPKG")


class DownloadImageryAlgorithm(IdfHrAlgorithm):
    NAME = "downloadimagery"
    GROUP_ID = "imagery"

    INPUT = "INPUT"
    SOURCE = "SOURCE"
    EXTENT = "EXTENT"
    FORMAT = "FORMAT"
    RESOLUTION = "RESOLUTION"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Download imagery for offline use")

    def group(self) -> str:
        return self.tr("Imagery")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Downloads the imagery of an extent at its native resolution (or the resolution you "
            "give) into a local Cloud-Optimized GeoTIFF with overviews, or a GeoPackage raster, "
            "for offline work. The source is a raster layer (local file, COG over HTTP, mosaic, "
            "WMTS) or a GDAL path/URL. The download can be cancelled and resumes where it "
            "stopped when run again with the same parameters; a cancelled run leaves no file."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Imagery layer"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.SOURCE, self.tr("Or: GDAL path or URL of the imagery"), optional=True
            )
        )
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent to download")))
        self.addParameter(
            QgsProcessingParameterEnum(self.FORMAT, self.tr("Format"), options=list(FORMATS), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.RESOLUTION,
                self.tr("Resolution in map units (empty: native)"),
                type=QgsProcessingParameterNumber.Type.Double,
                optional=True,
                minValue=0.0,
            )
        )
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Offline pack")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        from ..gis import cache_service

        cache_service.start()  # remote imagery is read through the persistent cache, also in qgis_process
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        source = self.parameterAsString(parameters, self.SOURCE, context).strip()
        if layer is not None:
            self._source = gdal_source_for_layer(layer)
            self._metadata = {
                "source_layer": layer.name(),
                "licence": "; ".join(layer.metadata().licenses()),
                "attribution": "; ".join(layer.metadata().rights()),
            }
            crs = layer.crs()
        elif source:
            self._source = source
            self._metadata = {"source_layer": source}
            crs = None
        else:
            raise QgsProcessingException(
                self.tr("Give an imagery layer or a GDAL path/URL to download from.")
            )
        target_crs = (
            crs
            if crs is not None and crs.isValid()
            else self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        )
        rect = self.parameterAsExtent(parameters, self.EXTENT, context, target_crs)
        if rect.isNull() or rect.isEmpty():
            raise QgsProcessingException(self.tr("The extent to download is empty."))
        self._extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        self._extent_crs = target_crs.authid() or target_crs.toWkt()
        self._format = FORMATS[self.parameterAsEnum(parameters, self.FORMAT, context)]
        res = parameters.get(self.RESOLUTION)
        self._resolution = (
            self.parameterAsDouble(parameters, self.RESOLUTION, context) if res not in (None, "") else None
        )
        self._dest = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        out, table = self._dest, None
        m = re.match(r"^GPKG:(.+):([^:]+)$", out, re.I)  # a raster table of a GeoPackage, as GDAL names it
        if m and self._format == "GPKG":
            out, table = m.groups()
        suffix = ".gpkg" if self._format == "GPKG" else ".tif"
        if not out.lower().endswith(suffix):
            out = str(Path(out).with_suffix(suffix))
        self._out = out
        self._table = (table or Path(out).stem) if self._format == "GPKG" else None
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.tiles.offline import download_pack

        def progress(fraction: float, *args) -> None:
            feedback.setProgress(100.0 * fraction)

        try:
            result = download_pack(
                self._source,
                self._extent,
                self._extent_crs,
                Path(self._out),
                fmt=self._format,
                resolution=self._resolution,
                progress=progress,
                cancel=self.cancel_check(feedback),
                metadata=self._metadata,
                layer=self._table,
            )
        except Exception as exc:
            raise self.fail(exc) from exc
        feedback.pushInfo(
            self.tr("Offline pack written: {path} ({mb} MB, {mpx} Mpx, {s} s{resumed}).").format(
                path=result.path,
                mb=round(result.bytes / 1e6, 1),
                mpx=round(result.pixels / 1e6, 1),
                s=round(result.seconds, 1),
                resumed=self.tr(", resumed") if result.resumed else "",
            )
        )
        # A GeoPackage may hold several raster tables (a pack added to an existing one): QGIS opens
        # one of them only when named, as GPKG:path:table.
        uri = f"GPKG:{result.path}:{self._table}" if self._table else str(result.path)
        if uri != self._dest and context.willLoadLayerOnCompletion(self._dest):
            layers = dict(context.layersToLoadOnCompletion())
            layers[uri] = layers.pop(self._dest)
            context.setLayersToLoadOnCompletion(layers)
        self._uri = uri
        return {self.OUTPUT: uri}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        """Open a GeoPackage raster table here: QGIS 3.22 cannot load ``GPKG:path:table`` from the string alone."""
        if self._table and context.willLoadLayerOnCompletion(self._uri):
            layer = QgsRasterLayer(self._uri, self._table, "gdal")
            if layer.isValid():  # the completion step finds it in the store by its source
                context.temporaryLayerStore().addMapLayer(layer)
        return {}
