"""``idfhr:opendataload`` — every record of an Opendatasoft dataset (GeoJSON export) as a vector file."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingException,
    QgsProcessingParameterExtent,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsVectorLayer,
)

from .base import IdfHrAlgorithm
from .destinations import file_destination

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


class OpenDataLoadAlgorithm(IdfHrAlgorithm):
    NAME = "opendataload"
    GROUP_ID = "opendata"

    PORTAL = "PORTAL"
    DATASET = "DATASET"
    WHERE = "WHERE"
    EXTENT = "EXTENT"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Load an open dataset (Opendatasoft portal)")

    def group(self) -> str:
        return self.tr("Open data")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Loads ALL records of a dataset of an Opendatasoft portal (Explore API v2.1, GeoJSON "
            "export: no 100-record page, no 10,000-record cap), optionally filtered by an ODSQL where "
            "clause and by an extent. PORTAL is a portal address or a preset key (mgp, paris). The "
            "dataset is also kept in the IdF HR offline cache; without network the cached copy is "
            "used. Licence, source and retrieval date are written into the output's metadata."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterString(self.PORTAL, self.tr("Portal (address or mgp / paris)"), "paris")
        )
        self.addParameter(QgsProcessingParameterString(self.DATASET, self.tr("Dataset id")))
        self.addParameter(
            QgsProcessingParameterString(self.WHERE, self.tr("Where clause (ODSQL)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterExtent(self.EXTENT, self.tr("Only this extent"), optional=True)
        )
        self.addParameter(QgsProcessingParameterVectorDestination(self.OUTPUT, self.tr("Dataset layer")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        from ..gis import opendata_layers as odl

        try:
            self._portal = odl.resolve_portal_url(self.parameterAsString(parameters, self.PORTAL, context))
        except Exception as exc:
            raise self.fail(exc) from exc
        self._dataset = self.parameterAsString(parameters, self.DATASET, context).strip()
        if not self._dataset:
            raise QgsProcessingException(self.tr("Give the id of the dataset to load."))
        self._where = self.parameterAsString(parameters, self.WHERE, context).strip() or None
        self._bbox = None
        if parameters.get(self.EXTENT) not in (None, ""):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, WGS84)
            if not rect.isNull() and not rect.isEmpty():
                self._bbox = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        self._dest = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        self._path, self._table = file_destination(self._dest)
        self._offline = odl.offline()
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.opendata import gpkgio
        from ..core.opendata._util import atomic_path
        from ..gis import opendata_layers as odl

        try:
            outcome = odl.fetch_ods_dataset(
                self._portal,
                self._dataset,
                self._where,
                self._bbox,
                cancel=self.cancel_check(feedback),
                offline_mode=self._offline,
            )
            entry = outcome.entry
            if outcome.note:
                feedback.pushWarning(outcome.note)
            meta = {
                "source_url": entry.source_url,
                "dataset_id": entry.dataset_id,
                "license": entry.license,
                "title": entry.title,
                "retrieved_at": entry.retrieved_at.isoformat(),
            }
            dest = Path(self._path)
            if dest.suffix.lower() == ".gpkg":
                # added in place to an existing GeoPackage: its other layers and tables are kept
                layer = self._table or entry.layer
                gpkgio.convert_to_gpkg(entry.path, dest, layer, meta, src_layer=entry.layer)
                out = f"{dest}|layername={layer}"
            else:
                from ..core.gdal_errors import gdal_exceptions

                with gdal_exceptions() as (gdal, _, _), atomic_path(dest) as tmp:
                    gdal.VectorTranslate(str(tmp), str(entry.path), layers=[entry.layer])
                out = str(dest)
        except Exception as exc:
            raise self.fail(exc) from exc
        self._entry = entry
        self._out = out
        feedback.pushInfo(
            self.tr("{n} features of {title} ({licence}).").format(
                n=entry.feature_count, title=entry.title, licence=entry.license or "?"
            )
        )
        if context.willLoadLayerOnCompletion(self._dest):
            layers = dict(context.layersToLoadOnCompletion())
            details = layers.pop(self._dest)
            details.name = entry.title or self._dataset
            layers[out] = details
            context.setLayersToLoadOnCompletion(layers)
        return {self.OUTPUT: out, "FEATURE_COUNT": entry.feature_count, "LICENSE": entry.license}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        """Write licence, source and retrieval date as the layer's QGIS metadata (GeoPackage)."""
        from ..gis import opendata_layers as odl

        layer = QgsVectorLayer(self._out, self._entry.title or self._dataset, "ogr")
        if layer.isValid():
            odl.apply_metadata(
                layer,
                title=self._entry.title or self._dataset,
                license=self._entry.license,
                source_url=self._entry.source_url,
                retrieved_at=self._entry.retrieved_at,
            )
            _msg, saved = layer.saveDefaultMetadata()
            if not saved:  # formats without metadata storage keep the idf_hr_metadata table only
                feedback.pushInfo(self.tr("The output format does not store QGIS layer metadata."))
        return {}
