"""``idfhr:changedetection`` — change between two vintages: new, removed, modified, unchanged, uncertain."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputString,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsProcessingParameterVectorLayer,
    QgsVectorLayer,
)

from .base import IdfHrAlgorithm


class ChangeDetectionAlgorithm(IdfHrAlgorithm):
    NAME = "changedetection"
    GROUP_ID = "analysis"

    BEFORE = "BEFORE"
    AFTER = "AFTER"
    BEFORE_RASTER = "BEFORE_RASTER"
    AFTER_RASTER = "AFTER_RASTER"
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    VINTAGES = "VINTAGES"
    EXCLUDE = "EXCLUDE"
    OUTPUT = "OUTPUT"
    COUNTS = "COUNTS"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Change detection between two vintages")

    def group(self) -> str:
        return self.tr("Analysis")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Compares two vintages object by object (one-to-one matching per class, areas in "
            "Lambert-93): new, removed, modified, unchanged, or uncertain near the edge of the analysed "
            "ground. Give either two detection layers of the same model, or two imagery layers, a "
            "model and an extent (both runs are made first). Runs of different models or that do not "
            "overlap are refused; layers in different CRSs are reprojected. Cars are left out by "
            "default (parked elsewhere on every flight): clear 'Classes left out' to keep them. "
            "Semantic-segmentation runs give gained / lost surfaces instead."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        vec = [QgsProcessing.SourceType.TypeVectorPolygon]
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                self.BEFORE, self.tr("Detections, first vintage"), vec, optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                self.AFTER, self.tr("Detections, second vintage"), vec, optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.BEFORE_RASTER, self.tr("Or imagery, first vintage"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                self.AFTER_RASTER, self.tr("Or imagery, second vintage"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                self.tr("ONNX model run on both images"),
                behavior=QgsProcessingParameterFile.Behavior.File,
                extension="onnx",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterExtent(
                self.EXTENT, self.tr("Extent analysed on both images"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.VINTAGES,
                self.tr("Names of the two vintages"),
                defaultValue="before,after",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.EXCLUDE,
                self.tr("Classes left out, comma-separated (cars move between flights)"),
                defaultValue="car",
                optional=True,
            )
        )
        self.addParameter(QgsProcessingParameterVectorDestination(self.OUTPUT, self.tr("Change layer")))
        self.addOutput(QgsProcessingOutputString(self.COUNTS, self.tr("Counts per change")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        from ..core.analysis.workflow import parse_classes
        from ..gis.analysis_layers import gpkg_source

        self._runs = []
        for key in (self.BEFORE, self.AFTER):
            layer = self.parameterAsVectorLayer(parameters, key, context)
            if layer is not None:
                try:
                    self._runs.append(gpkg_source(layer))
                except Exception as exc:
                    raise self.fail(exc) from exc
        self._rasters = [
            r.source()
            for r in (
                self.parameterAsRasterLayer(parameters, k, context)
                for k in (self.BEFORE_RASTER, self.AFTER_RASTER)
            )
            if r is not None
        ]
        self._model = self.parameterAsFile(parameters, self.MODEL, context)
        self._extent = None
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context)
            crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
            self._extent = (
                (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()),
                crs.authid(),
            )
        self._vintages = [
            v.strip()
            for v in (self.parameterAsString(parameters, self.VINTAGES, context) or "before,after").split(",")
        ]
        self._exclude = parse_classes(self.parameterAsString(parameters, self.EXCLUDE, context))
        self._dest, self._out, table = self.gpkg_destination(parameters, self.OUTPUT, context)
        self._layer = table or "changes"
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.analysis import read_detections, write_change_layer
        from ..core.analysis.errors import AnalysisError
        from ..core.analysis.workflow import check_new_layer, compare_runs, detect_vintages
        from ..gis.i18n import tr

        cancel = self.cancel_check(feedback)
        try:
            check_new_layer(self._out, self._layer)
            if len(self._runs) == 2:
                before, after = (read_detections(p, lyr) for p, lyr in self._runs)
            elif len(self._rasters) == 2 and self._model and self._extent:
                if len(self._vintages) != 2 or self._vintages[0] == self._vintages[1]:
                    raise AnalysisError(tr("Name two different vintages, e.g. 2024,2026."))
                from ..gis.onnx_runtime_install import add_deps_to_sys_path

                add_deps_to_sys_path()  # the one-click ONNX Runtime install folder
                before, after = detect_vintages(
                    self._model,
                    self._rasters,
                    self._vintages,
                    Path(self._out).with_suffix("").as_posix() + "_runs",
                    extent=self._extent[0],
                    extent_crs=self._extent[1] or None,
                    cancel=cancel,
                    progress=lambda f, _m: feedback.setProgress(90.0 * f),
                )
            else:
                raise AnalysisError(
                    tr("Give either two detection layers, or two imagery layers with a model and an extent.")
                )
            result = compare_runs(before, after, exclude=self._exclude, cancel=cancel)
            write_change_layer(result, self._out, self._layer, cancel=cancel)
        except Exception as exc:
            raise self.fail(exc) from exc
        for note in result.metadata.get("notes", []):
            feedback.pushWarning(note)
        if self._exclude:
            feedback.pushInfo(tr("Classes left out: {c}.").format(c=", ".join(sorted(self._exclude))))
        counts = Counter(result.columns["change"].tolist())
        text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        feedback.pushInfo(tr("{n} objects compared: {detail}.").format(n=len(result), detail=text or "-"))
        feedback.setProgress(100)
        uri = f"{self._out}|layername={self._layer}"
        self.load_layer_instead(context, self._dest, uri, tr("Changes"))
        self._uri = uri
        return {self.OUTPUT: uri, self.COUNTS: text}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        """Store the change style as the GeoPackage's default style."""
        from ..gis.analysis_layers import style_change_layer

        layer = QgsVectorLayer(self._uri, self._layer, "ogr")
        if layer.isValid():
            style_change_layer(layer, save=True)
        return {}
