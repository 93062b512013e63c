"""``idfhr:detect`` — run a local ONNX model over an extent of imagery into an atomic GeoPackage."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsVectorLayer,
)

from ..gis.onnx_runtime_install import add_deps_to_sys_path
from .base import IdfHrAlgorithm

# model types a user can force (the engine's names; see core/inference/model.py TASKS)
TASKS = ("detection", "obb", "instance_segmentation", "semantic_segmentation")

try:  # the plugin's own dependency folder (one-click ONNX Runtime install)
    add_deps_to_sys_path()
except Exception as exc:  # pragma: no cover - no QGIS profile (plain Python)
    logging.getLogger("idf_hr.detection").debug("dependency folder not added: %s", exc)


class DetectAlgorithm(IdfHrAlgorithm):
    NAME = "detect"
    GROUP_ID = "detection"

    INPUT = "INPUT"
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    MASK = "MASK"
    CONF = "CONF"
    IOU = "IOU"
    BATCH = "BATCH"
    TASK = "TASK"
    BANDS = "BANDS"
    OUTPUT = "OUTPUT"
    COUNT = "COUNT"
    REPORT = "REPORT"
    LAYER_NAME = "LAYER_NAME"
    EXECUTION = "EXECUTION"
    WORKERS = "WORKERS"
    SCHEDULER = "SCHEDULER"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Detect objects with an ONNX model")

    def group(self) -> str:
        return self.tr("Detection")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Runs a local ONNX model (Ultralytics YOLO, Deepness or any model with an IdF HR card) "
            "over an extent of a raster layer, window by window at the model's resolution, on this "
            "computer (no cloud). Optional mask: only tiles touching the polygons are run and "
            "detections outside them are dropped (tick 'Selected features only' to use the "
            "selection). Confidence and IoU default to the model's values when left empty. The "
            "result is one layer in a GeoPackage (written atomically) with class, label, score, "
            "area, model + sha256, source, vintage and run id, plus the run report (duration, "
            "CPU time, km², energy estimate) in its idfhr_runs table. Advanced: where to run — this "
            "computer, a local Dask cluster of N worker processes, or a Dask scheduler address (the "
            "imagery must be a file or URL the workers can open)."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Imagery layer")))
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                self.tr("ONNX model (file, or the name of a model of the model manager)"),
                behavior=QgsProcessingParameterFile.Behavior.File,
                extension="onnx",
            )
        )
        self.addParameter(
            QgsProcessingParameterExtent(
                self.EXTENT, self.tr("Extent (empty: the whole layer)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.MASK,
                self.tr("Mask polygons (tiles and detections outside are dropped)"),
                [QgsProcessing.SourceType.TypeVectorPolygon],
                optional=True,
            )
        )
        for name, label in (
            (self.CONF, self.tr("Confidence threshold (empty: model's)")),
            (self.IOU, self.tr("IoU threshold for NMS (empty: model's)")),
        ):
            self.addParameter(
                QgsProcessingParameterNumber(
                    name,
                    label,
                    type=QgsProcessingParameterNumber.Type.Double,
                    optional=True,
                    minValue=0.0,
                    maxValue=1.0,
                )
            )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.BATCH,
                self.tr("Batch size (0: automatic)"),
                type=QgsProcessingParameterNumber.Type.Integer,
                defaultValue=0,
                minValue=0,
                maxValue=256,
            )
        )
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                self.OUTPUT,
                self.tr("Detections (GeoPackage)"),
                type=QgsProcessing.SourceType.TypeVectorPolygon,
            )
        )
        task_param = QgsProcessingParameterEnum(
            self.TASK,
            self.tr("Model type (automatic: read from the model)"),
            options=[self.tr("automatic")] + list(TASKS),
            defaultValue=0,
        )
        task_param.setFlags(task_param.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(task_param)
        bands_param = QgsProcessingParameterString(
            self.BANDS,
            self.tr(
                "Band mapping to the model's channels (RGB, BGR, IRC or band numbers like 4,1,2; empty: RGB)"
            ),
            optional=True,
        )
        bands_param.setFlags(bands_param.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(bands_param)
        for param in (
            QgsProcessingParameterEnum(
                self.EXECUTION,
                self.tr("Where to run"),
                options=[
                    self.tr("this computer"),
                    self.tr("local Dask cluster (N worker processes)"),
                    self.tr("Dask scheduler at an address"),
                ],
                defaultValue=0,
            ),
            QgsProcessingParameterNumber(
                self.WORKERS,
                self.tr("Workers of the local Dask cluster"),
                type=QgsProcessingParameterNumber.Type.Integer,
                defaultValue=2,
                minValue=1,
                maxValue=256,
            ),
            QgsProcessingParameterString(
                self.SCHEDULER, self.tr("Dask scheduler address (tcp://host:8786)"), optional=True
            ),
        ):
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(param)
        self.addOutput(QgsProcessingOutputNumber(self.COUNT, self.tr("Number of objects")))
        self.addOutput(QgsProcessingOutputString(self.REPORT, self.tr("Run report (JSON)")))
        self.addOutput(QgsProcessingOutputString(self.LAYER_NAME, self.tr("Layer name in the GeoPackage")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        from ..core.errors import IdfHrError
        from ..gis.detection import raster_source

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.tr("Choose the imagery layer to run the model on."))
        self._model = self._model_path(self.parameterAsFile(parameters, self.MODEL, context))
        try:
            self._source = raster_source(layer)
        except IdfHrError as exc:
            raise self.fail(exc) from exc
        self._extent = self._extent_crs = None
        if parameters.get(self.EXTENT) not in (None, ""):
            crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
            if not crs.isValid():
                crs = layer.crs()
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
            if not rect.isNull() and not rect.isEmpty():
                self._extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
                self._extent_crs = crs.toWkt()
        self._mask = self._mask_crs = None
        if parameters.get(self.MASK) not in (None, ""):
            source = self.parameterAsSource(parameters, self.MASK, context)
            if source is not None:
                self._mask, self._mask_crs = _source_polygons(source)
                if not self._mask:
                    raise QgsProcessingException(
                        self.tr("The mask holds no polygon; select at least one polygon feature.")
                    )
        self._conf = self._optional_float(parameters, self.CONF, context)
        self._iou = self._optional_float(parameters, self.IOU, context)
        batch = self.parameterAsInt(parameters, self.BATCH, context)
        self._batch = batch if batch > 0 else None
        task_index = self.parameterAsEnum(parameters, self.TASK, context)
        self._task = TASKS[task_index - 1] if task_index > 0 else None
        bands = self.parameterAsString(parameters, self.BANDS, context).strip()
        if bands and all(p.strip().isdigit() for p in bands.split(",")):
            self._bands = [int(p) for p in bands.split(",")]
        else:
            self._bands = bands.upper() or None
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not out.lower().endswith(".gpkg"):
            out = str(Path(out).with_suffix(".gpkg"))
        self._out = out
        self._dest = out
        self._execution = self.parameterAsEnum(parameters, self.EXECUTION, context)
        self._workers = self.parameterAsInt(parameters, self.WORKERS, context)
        self._scheduler = self.parameterAsString(parameters, self.SCHEDULER, context).strip()
        self._check_before_run()
        return True

    def _check_before_run(self) -> None:
        """Refuse bad parameters and an unreadable (e.g. truncated) raster before the run starts."""
        from ..core.errors import IdfHrError
        from ..core.inference.params import check_detection_params
        from ..core.inference.reader import open_raster
        from ..core.inference.writer import check_output_path

        try:
            check_detection_params(conf=self._conf, iou=self._iou, batch_size=self._batch)
            check_output_path(self._out)
            if self._execution:
                from ..gis.dask_runtime import check_dask_execution

                check_dask_execution(self._source, self._execution, self._scheduler)
            if self._source.reader_factory is None:  # read by GDAL: the same check as the engine's
                open_raster(self._source.raster).close()
        except IdfHrError as exc:
            self._source.close()
            raise self.fail(exc) from exc

    def _model_path(self, value: str) -> str:
        if value and Path(value).is_file():
            return value
        from ..core.errors import IdfHrError
        from ..core.inference.models_registry import ModelRegistry

        try:
            entry = ModelRegistry(user_dir=_user_models_dir()).get(value)
        except IdfHrError as exc:
            raise self.fail(exc) from exc
        return str(entry.path)

    def _optional_float(self, parameters, name, context):
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsDouble(parameters, name, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.inference import run_detection

        def progress(done: int, total: int, eta: float) -> None:
            feedback.setProgress(100.0 * done / max(1, total))
            text = (
                self.tr("Jobs {done}/{total}, about {eta} s left")
                if self._execution
                else self.tr("Tiles {done}/{total}, about {eta} s left")
            )
            feedback.setProgressText(text.format(done=done, total=total, eta=int(eta)))

        src = self._source
        kwargs = dict(
            extent=self._extent,
            extent_crs=self._extent_crs,
            mask=self._mask,
            mask_crs=self._mask_crs,
            batch_size=self._batch,
            conf=self._conf,
            iou=self._iou,
            task=self._task,
            band_map=self._bands,
            progress=progress,
            cancel=self.cancel_check(feedback),
            source=src.source_id,
            vintage=src.vintage,
        )
        try:
            if self._execution:
                from ..gis.dask_runtime import run_on_dask

                report = run_on_dask(
                    self._model,
                    src.raster,
                    self._out,
                    workers=self._workers if self._execution == 1 else None,
                    scheduler=self._scheduler if self._execution == 2 else None,
                    on_dashboard=lambda url: feedback.pushInfo(
                        self.tr("Dask dashboard: {url}").format(url=url)
                    ),
                    **kwargs,
                )
            else:
                report = run_detection(
                    self._model, src.raster, out_path=self._out, reader_factory=src.reader_factory, **kwargs
                )
        except Exception as exc:
            raise self.fail(exc) from exc
        finally:
            src.close()
        feedback.pushInfo(report.summary())
        self._layer = report.layer
        self._colors = None
        uri = f"{self._out}|layername={report.layer}"
        if context.willLoadLayerOnCompletion(self._dest):
            layers = dict(context.layersToLoadOnCompletion())
            details = layers.pop(self._dest)
            details.name = report.layer
            layers[uri] = details
            context.setLayersToLoadOnCompletion(layers)
        return {
            self.OUTPUT: uri,
            self.COUNT: report.features,
            self.REPORT: report.to_json(),
            self.LAYER_NAME: report.layer,
        }

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        """Store the by-class style in the GeoPackage, so the layer is styled wherever it is opened."""
        from ..core.inference import load_model_spec
        from ..gis.detection import class_colors_from_spec, style_layer

        layer = QgsVectorLayer(f"{self._out}|layername={self._layer}", self._layer, "ogr")
        if layer.isValid():
            try:
                spec = load_model_spec(self._model)
            except Exception:
                spec = None
            style_layer(layer, class_colors_from_spec(spec), save_default=True)
        return {}


def _user_models_dir():
    try:
        from ..gis.settings import Settings

        value = Settings.DETECTION_MODELS_DIR.value()
        return value or None
    except AttributeError:
        return None


def _source_polygons(source) -> tuple:
    from shapely import wkb

    geoms = []
    for f in source.getFeatures():
        g = f.geometry()
        if g is None or g.isEmpty():
            continue
        s = wkb.loads(bytes(g.asWkb()))
        if s.geom_type in ("Polygon", "MultiPolygon"):
            geoms.append(s)
    crs: QgsCoordinateReferenceSystem = source.sourceCrs()
    return geoms, crs.toWkt()


def report_counts(report_json: str) -> dict:
    """Counts per class from the REPORT output (for models and scripts)."""
    return dict(json.loads(report_json).get("counts", {}))
