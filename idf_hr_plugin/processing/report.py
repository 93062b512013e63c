"""``idfhr:report`` — the PDF (+ HTML) report of a detection, change or zone-statistics layer."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterVectorLayer,
    QgsProject,
)

from .base import IdfHrAlgorithm

LANGS = ("fr", "en")


class ReportAlgorithm(IdfHrAlgorithm):
    NAME = "report"
    GROUP_ID = "analysis"

    INPUT = "INPUT"
    LANGUAGE = "LANGUAGE"
    ZONES = "ZONES"
    ZONE_FIELD = "ZONE_FIELD"
    OUTPUT = "OUTPUT"
    OUTPUT_HTML = "OUTPUT_HTML"
    LAYOUT = "LAYOUT"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Report (PDF print layout)")

    def group(self) -> str:
        return self.tr("Analysis")

    def flags(self):
        # print layouts render with the project's layers: run on the main thread
        return super().flags() | QgsProcessingAlgorithm.FlagNoThreading

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Writes an A4 landscape report (PDF, French or English) of a detection, change or "
            "zone-statistics layer stored in a GeoPackage: map of the extent with legend, scale bar "
            "and north arrow, counts per class and status (table and chart), statistics per zone "
            "when zones are given, what each run cost (duration, CPU, km², energy estimate and its "
            "method), the model card (sha256, classes, known limits, measured accuracy), the "
            "parameters, and the sources with their licences. Optionally an HTML version of the "
            "same content. The PDF is written to a temporary file and renamed when complete."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                self.INPUT,
                self.tr("Detection, change or statistics layer (GeoPackage)"),
                [QgsProcessing.TypeVectorAnyGeometry],
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.LANGUAGE,
                self.tr("Report language"),
                options=[self.tr("French"), self.tr("English")],
                defaultValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                self.ZONES, self.tr("Zones (e.g. communes)"), [QgsProcessing.TypeVectorPolygon], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.ZONE_FIELD,
                self.tr("Field naming the zones"),
                parentLayerParameterName=self.ZONES,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT, self.tr("PDF report"), self.tr("PDF files (*.pdf)")
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT_HTML,
                self.tr("HTML version"),
                self.tr("HTML files (*.html)"),
                optional=True,
                createByDefault=False,
            )
        )
        self.addOutput(QgsProcessingOutputString(self.LAYOUT, self.tr("Print layout name")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.errors import UserInputError
        from ..gis.analysis_layers import gpkg_source, zones_from_layer
        from ..gis.report_layout import report_from_file

        layer = self.parameterAsVectorLayer(parameters, self.INPUT, context)
        if layer is None:
            raise self.fail(UserInputError(self.tr("Choose the layer to report on.")))
        lang = LANGS[self.parameterAsEnum(parameters, self.LANGUAGE, context)]
        pdf = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        html = self.parameterAsFileOutput(parameters, self.OUTPUT_HTML, context) or None
        zl = self.parameterAsVectorLayer(parameters, self.ZONES, context)
        field = self.parameterAsString(parameters, self.ZONE_FIELD, context)
        try:
            path, name = gpkg_source(layer)
            zones = None
            if zl is not None:
                if not field:
                    raise UserInputError(self.tr("Choose the field that names the zones (ZONE_FIELD)."))
                zones = zones_from_layer(zl, field)
            feedback.setProgress(10)
            project = context.project() or QgsProject.instance()
            out = report_from_file(
                path,
                name,
                pdf,
                lang=lang,
                zones=zones,
                html_path=html,
                project=project,
                add_to_project=context.project() is not None and project is QgsProject.instance(),
                cancel=self.cancel_check(feedback),
            )
        except Exception as exc:
            raise self.fail(exc) from exc
        feedback.setProgress(100)
        if not out["chart"]:
            feedback.pushWarning(out["data"].text("chart_missing"))
        feedback.pushInfo(self.tr("Report written: {path}").format(path=out["pdf"]))
        layout = out.get("layout")
        return {
            self.OUTPUT: str(out["pdf"]),
            self.OUTPUT_HTML: str(out.get("html") or ""),
            self.LAYOUT: layout.name() if layout is not None else "",
        }
