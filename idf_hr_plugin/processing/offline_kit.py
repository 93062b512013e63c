"""``idfhr:offlinekit`` — one folder with a QGIS project, imagery, boundaries, fibre, open data and models."""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProject,
)

from .base import IdfHrAlgorithm
from .catalog_search import resolve_source

L93 = QgsCoordinateReferenceSystem("EPSG:2154")


def _split(text: str) -> list[str]:
    return [t.strip() for t in (text or "").split(";") if t.strip()]


class OfflineKitAlgorithm(IdfHrAlgorithm):
    NAME = "offlinekit"
    GROUP_ID = "imagery"

    ZONE = "ZONE"
    EXTENT = "EXTENT"
    SOURCE = "SOURCE"
    URL = "URL"
    VINTAGES = "VINTAGES"
    GSD = "GSD"
    BOUNDARIES = "BOUNDARIES"
    FTTH = "FTTH"
    PREMISES = "PREMISES"
    OPENDATA = "OPENDATA"
    MODELS = "MODELS"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Prepare an offline kit")

    def group(self) -> str:
        return self.tr("Imagery")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Builds one folder to work with the network off, for a commune or EPT (or an extent): a "
            "QGIS project with relative paths, the imagery of the chosen vintages (COG), the commune "
            "boundaries, the FttH coverage (from your ARCEP files, or the figures bundled with the plugin), "
            "chosen open-data layers and detection "
            "models with their cards. Copy the folder to another laptop or a USB stick; its "
            "GeoPackages open in QField. The size is estimated and the free disk space checked "
            "before starting. Cancelling leaves nothing; after a failure, running again with the "
            "same output folder resumes where it stopped. Several files or vintages: separate "
            "them with “;”."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterString(
                self.ZONE,
                self.tr("Commune or EPT (name or code, e.g. Saint-Maur-des-Fossés, T10)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterExtent(self.EXTENT, self.tr("Or/and: extent of the imagery"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.SOURCE,
                self.tr("Imagery source id (empty: no imagery)"),
                defaultValue="demo",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.URL, self.tr("Or: static STAC catalog URL"), optional=True, defaultValue=""
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.VINTAGES, self.tr("Vintages (years; empty: the latest)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.GSD,
                self.tr("Imagery resolution in metres (empty: the one covering the zone best)"),
                type=QgsProcessingParameterNumber.Type.Double,
                optional=True,
                minValue=0.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.BOUNDARIES,
                self.tr("Commune boundaries (empty: settings or geo.api.gouv.fr, cached)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.FTTH,
                self.tr("ARCEP FttH deployment file or URL (empty: the bundled ARCEP figures)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.PREMISES,
                self.tr("ARCEP premises file or URL (Logements, Établissements)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.OPENDATA,
                self.tr("Open-data files (cached GeoPackages or any vector files)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.MODELS, self.tr("ONNX models (with their cards)"), optional=True
            )
        )
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT, self.tr("Kit folder (new)")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        from qgis.core import QgsProcessingException

        self._zone = self.parameterAsString(parameters, self.ZONE, context).strip()
        extent = None
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, L93)
            ecrs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
            if ecrs.isValid() and ecrs != L93:
                rect = QgsCoordinateTransform(ecrs, L93, QgsProject.instance()).transformBoundingBox(rect)
            if not rect.isEmpty():
                extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        self._extent = extent
        source = self.parameterAsString(parameters, self.SOURCE, context).strip()
        url = self.parameterAsString(parameters, self.URL, context).strip()
        self._source = resolve_source(source, url, "stac-static") if (source or url) else None
        try:
            self._vintages = [
                int(v)
                for v in _split(self.parameterAsString(parameters, self.VINTAGES, context).replace(",", ";"))
            ]
        except ValueError as exc:
            raise QgsProcessingException(self.tr("Vintages are years, e.g. 2024;2026.")) from exc
        gsd = parameters.get(self.GSD)
        self._gsd = self.parameterAsDouble(parameters, self.GSD, context) if gsd not in (None, "") else None
        self._boundaries = self.parameterAsFile(parameters, self.BOUNDARIES, context) or None
        self._ftth = self.parameterAsString(parameters, self.FTTH, context).strip() or None
        self._premises = self.parameterAsString(parameters, self.PREMISES, context).strip() or None
        self._opendata = _split(self.parameterAsString(parameters, self.OPENDATA, context))
        self._models = _split(self.parameterAsString(parameters, self.MODELS, context))
        self._out = self.parameterAsString(parameters, self.OUTPUT, context)
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.offline_kit import human_size
        from ..gis.offline_kit import build_offline_kit, plan_offline_kit

        try:
            plan = plan_offline_kit(
                self._out,
                zone=self._zone,
                extent=self._extent,
                source_config=self._source,
                vintages=self._vintages,
                gsd=self._gsd,
                boundaries_file=self._boundaries,
                ftth=self._ftth,
                premises=self._premises,
                opendata=self._opendata,
                models=self._models,
            )
            feedback.pushInfo(self.tr("Offline kit for {zone}:").format(zone=plan.zone))
            feedback.pushInfo(plan.summary())
            result = build_offline_kit(
                plan,
                progress=lambda f, msg="": (feedback.setProgress(100.0 * f), feedback.setProgressText(msg)),
                cancel=self.cancel_check(feedback),
            )
        except Exception as exc:
            raise self.fail(exc) from exc
        feedback.pushInfo(
            self.tr("Offline kit written: {path} ({size}, {n} parts, {resumed} resumed).").format(
                path=result.path,
                size=human_size(result.bytes),
                n=result.parts_built,
                resumed=result.parts_resumed,
            )
        )
        return {self.OUTPUT: str(result.path), "PROJECT": str(result.project), "BYTES": result.bytes}
