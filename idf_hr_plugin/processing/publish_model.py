"""``idfhr:publishmodel`` — publish a model as a STAC MLM item into a static catalog folder."""

from __future__ import annotations

from qgis.core import QgsProcessingOutputFile, QgsProcessingParameterFile

from .base import IdfHrAlgorithm


class PublishModelAlgorithm(IdfHrAlgorithm):
    NAME = "publishmodel"
    GROUP_ID = "detection"

    MODEL = "MODEL"
    CATALOG = "CATALOG"
    ITEM = "ITEM"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Publish a model to a shared catalog (STAC MLM)")

    def group(self) -> str:
        return self.tr("Detection")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Writes an ONNX model, its model card and a STAC item using the Machine Learning Model "
            "(MLM) extension (name, architecture, tasks, input with bands/shape/scaling, output "
            "classes, sha256 checksum, licence, GSD) into a static STAC catalog folder, for example "
            "on a shared network drive. Partners add that folder (or its URL) as a model catalog "
            "in the model manager. Publishing the same model again updates its item."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterFile(
                self.MODEL,
                self.tr("ONNX model file (or its model card .json)"),
                behavior=QgsProcessingParameterFile.Behavior.File,
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.CATALOG,
                self.tr("Catalog folder (created when absent)"),
                behavior=QgsProcessingParameterFile.Behavior.Folder,
            )
        )
        self.addOutput(QgsProcessingOutputFile(self.ITEM, self.tr("MLM item")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        self._model = self.parameterAsFile(parameters, self.MODEL, context).strip()
        self._catalog = self.parameterAsString(parameters, self.CATALOG, context).strip()
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.mlm import publish_model

        try:
            item = publish_model(self._model, self._catalog)
        except Exception as exc:
            raise self.fail(exc) from exc
        feedback.pushInfo(self.tr("Model published: {path}").format(path=item))
        return {self.ITEM: str(item)}
