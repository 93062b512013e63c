"""``idfhr:fibrecoverage`` — FttH coverage rate per commune or EPT and quarter, joined to boundaries."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsVectorLayer,
)

from ..core.i18n import num
from .base import IdfHrAlgorithm
from .destinations import file_destination

LEVELS = ("commune", "ept")


class FibreCoverageAlgorithm(IdfHrAlgorithm):
    NAME = "fibrecoverage"
    GROUP_ID = "opendata"

    FTTH = "FTTH"
    PREMISES = "PREMISES"
    BOUNDARIES = "BOUNDARIES"
    LEVEL = "LEVEL"
    QUARTER = "QUARTER"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("FttH (fibre) coverage per commune or EPT")

    def group(self) -> str:
        return self.tr("Open data")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Computes the share of premises connectable to FttH per commune (or EPT) and quarter from "
            "ARCEP files: the deployment file (connectable premises per quarter) and the premises file "
            "(Logements + Établissements). Columns are found by name. The result is joined to the MGP "
            "boundaries (a local file, or geo.api.gouv.fr through the IdF HR cache; when it cannot be "
            "reached, the IGN ADMIN EXPRESS boundaries bundled with the plugin), styled as a "
            "graduated choropleth (0–10, 10–25, 25–50, 50–80, 80–100 %) with temporal properties so "
            "the Temporal Controller animates the quarters."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterFile(self.FTTH, self.tr("ARCEP FttH deployment file (CSV/XLSX)"))
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.PREMISES, self.tr("ARCEP premises file (Logements, Établissements)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.BOUNDARIES,
                self.tr("Commune boundaries (empty: geo.api.gouv.fr, cached; offline: bundled IGN copy)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(self.LEVEL, self.tr("Level"), options=list(LEVELS), defaultValue=0)
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.QUARTER, self.tr("Quarter (e.g. T1 2018; empty: all)"), optional=True
            )
        )
        self.addParameter(QgsProcessingParameterVectorDestination(self.OUTPUT, self.tr("Coverage layer")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        from ..gis import opendata_layers as odl

        self._ftth = self.parameterAsFile(parameters, self.FTTH, context)
        self._premises = self.parameterAsFile(parameters, self.PREMISES, context) or None
        self._boundaries = self.parameterAsFile(parameters, self.BOUNDARIES, context) or None
        self._level = LEVELS[self.parameterAsEnum(parameters, self.LEVEL, context)]
        self._quarter = self.parameterAsString(parameters, self.QUARTER, context).strip() or None
        self._aliases = odl.arcep_aliases()
        self._dest = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        # "Save to GeoPackage" gives ogr:dbname='…' table="…": that file, that table
        out, table = file_destination(self._dest)
        if not out.lower().endswith(".gpkg"):
            out = str(Path(out).with_suffix(".gpkg"))
        self._out = out
        self._layer = table or f"ftth_coverage_{self._level}"
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..gis import opendata_layers as odl

        try:
            outcome = odl.compute_fibre(
                self._ftth,
                self._premises,
                self._boundaries,
                aliases=self._aliases,
                levels=(self._level,),
                quarters=[self._quarter] if self._quarter else None,
                outputs={self._level: self._out},
                layers={self._level: self._layer},
                cancel=self.cancel_check(feedback),
                progress=lambda v: feedback.setProgress(100.0 * v),
            )
        except Exception as exc:
            raise self.fail(exc) from exc
        for warning in outcome.messages():
            feedback.pushWarning(warning)
        uri = f"{self._out}|layername={self._layer}"
        if context.willLoadLayerOnCompletion(self._dest):
            layers = dict(context.layersToLoadOnCompletion())
            details = layers.pop(self._dest)
            details.name = self.tr("FttH coverage by {level}").format(level=self._level)
            layers[uri] = details
            context.setLayersToLoadOnCompletion(layers)
        mgp = {r.quarter: r.coverage_pct for r in outcome.result.mgp}
        for q, pct in mgp.items():
            feedback.pushInfo(
                self.tr("MGP {q}: {pct} % of premises connectable.").format(q=q, pct=num(pct, 2))
            )
        self._uri = uri
        return {self.OUTPUT: uri, "QUARTERS": ",".join(outcome.quarters), "MGP_RATES": mgp}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        """Store the graduated style and temporal properties as the GeoPackage's default style."""
        from ..gis import opendata_layers as odl

        layer = QgsVectorLayer(self._uri, self._layer, "ogr")
        if layer.isValid():
            odl.style_coverage_layer(layer)
            layer.saveStyleToDatabase(self._layer, "IdF HR FttH coverage", True, "")
        return {}
