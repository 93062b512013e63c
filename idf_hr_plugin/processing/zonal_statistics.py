"""``idfhr:zonalstatistics`` — counts, areas and densities per zone (communes, EPT, MGP or any polygons)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterVectorDestination,
    QgsProcessingParameterVectorLayer,
    QgsVectorLayer,
)

from .base import IdfHrAlgorithm

ZONE_KINDS = ("commune", "ept", "mgp", "layer")
INDICATOR_KEYS = ("count", "density_per_km2", "analysed_pct", "n_new", "n_removed", "net_change")


class ZonalStatisticsAlgorithm(IdfHrAlgorithm):
    NAME = "zonalstatistics"
    GROUP_ID = "analysis"

    INPUT = "INPUT"
    ZONES = "ZONES"
    ZONES_LAYER = "ZONES_LAYER"
    BOUNDARIES = "BOUNDARIES"
    NAME_FIELD = "NAME_FIELD"
    INDICATOR = "INDICATOR"
    TABLE = "TABLE"
    OUTPUT = "OUTPUT"
    ANALYSED = "ANALYSED"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Statistics per zone (communes, EPT, MGP)")

    def group(self) -> str:
        return self.tr("Analysis")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Counts, areas and densities per zone and class of a detection or change layer. Zones: the "
            "MGP communes, EPT or the whole MGP (boundaries service, cached for offline use) or any "
            "polygon layer with a field naming the zones. Areas are in Lambert-93 whatever the zones' "
            "CRS. Each zone states the share of its area that was analysed ('analysé à 12 %'); "
            "densities are per analysed km², never extrapolated to the unanalysed part. Outputs: a "
            "table (CSV or XLSX) and the zones layer joined with the figures, styled on the chosen "
            "indicator."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                self.INPUT, self.tr("Detection or change layer"), [QgsProcessing.SourceType.TypeVectorPolygon]
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.ZONES,
                self.tr("Zones"),
                options=[
                    self.tr("MGP communes"),
                    self.tr("EPT"),
                    self.tr("Whole MGP"),
                    self.tr("Zones layer below"),
                ],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.BOUNDARIES,
                self.tr("Commune boundaries file (empty: geo.api.gouv.fr, cached)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                self.ZONES_LAYER,
                self.tr("Zones layer"),
                [QgsProcessing.SourceType.TypeVectorPolygon],
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.NAME_FIELD,
                self.tr("Field naming the zones"),
                parentLayerParameterName=self.ZONES_LAYER,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.INDICATOR,
                self.tr("Indicator mapped on the zones"),
                options=[
                    self.tr("Number of objects"),
                    self.tr("Objects per analysed km²"),
                    self.tr("Analysed share (%)"),
                    self.tr("New objects (change layer)"),
                    self.tr("Removed objects (change layer)"),
                    self.tr("Net change, new − removed (change layer)"),
                ],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.TABLE, self.tr("Statistics table"), self.tr("CSV (*.csv);;Excel (*.xlsx)")
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorDestination(self.OUTPUT, self.tr("Zones with statistics"))
        )
        self.addOutput(QgsProcessingOutputString(self.ANALYSED, self.tr("Analysed share per zone")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        from ..gis.analysis_layers import gpkg_source, zones_from_layer

        try:
            self._input = gpkg_source(self.parameterAsVectorLayer(parameters, self.INPUT, context))
            self._kind = ZONE_KINDS[self.parameterAsEnum(parameters, self.ZONES, context)]
            self._zones = None
            self._boundaries = self.parameterAsFile(parameters, self.BOUNDARIES, context) or None
            if self._kind == "layer":
                self._zones = zones_from_layer(
                    self.parameterAsVectorLayer(parameters, self.ZONES_LAYER, context),
                    self.parameterAsString(parameters, self.NAME_FIELD, context),
                )
        except Exception as exc:
            raise self.fail(exc) from exc
        self._indicator = INDICATOR_KEYS[self.parameterAsEnum(parameters, self.INDICATOR, context)]
        self._table = self.parameterAsFileOutput(parameters, self.TABLE, context)
        self._dest, self._out, table = self.gpkg_destination(parameters, self.OUTPUT, context)
        self._layer = table or "zone_statistics"
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.analysis.workflow import boundary_zones, layer_statistics, write_zones_layer, zone_summary
        from ..gis.i18n import tr

        cancel = self.cancel_check(feedback)
        try:
            if self._zones is None:
                from ..core.opendata.boundaries import Boundaries

                b = Boundaries.from_file(self._boundaries) if self._boundaries else None
                self._zones = boundary_zones(self._kind, b)
            zones, names, zcrs = self._zones
            result = layer_statistics(*self._input, zones, names, zcrs, cancel=cancel)
            if self._indicator.startswith("n_") or self._indicator == "net_change":
                if not any("n_new" in r for r in result.rows):
                    self._indicator = "count"
                    feedback.pushWarning(
                        tr("The input is not a change layer: the zones are mapped by count.")
                    )
            table = self._table
            write_zones_layer(result, zones, zcrs, self._out, self._layer, cancel=cancel)
            # the table last: a cancel while the zones layer is written leaves no table behind
            (result.to_xlsx if table.lower().endswith(".xlsx") else result.to_csv)(table)
        except Exception as exc:
            raise self.fail(exc) from exc
        for note in result.metadata.get("notes", []):
            feedback.pushInfo(note)
        lines = zone_summary(result)
        for line in lines:
            feedback.pushInfo(line)
        uri = f"{self._out}|layername={self._layer}"
        self.load_layer_instead(context, self._dest, uri, tr("Zone statistics"))
        self._uri = uri
        return {self.OUTPUT: uri, self.TABLE: table, self.ANALYSED: "; ".join(lines)}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        """Store the graduated style on the chosen indicator as the GeoPackage's default style."""
        from ..gis.analysis_layers import style_zones_layer

        layer = QgsVectorLayer(self._uri, self._layer, "ogr")
        if layer.isValid():
            style_zones_layer(layer, self._indicator, save=True)
        return {}
