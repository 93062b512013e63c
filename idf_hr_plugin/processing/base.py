"""Shared base of IdF HR Processing algorithms: translation, icon, help, error mapping."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException, QgsProcessingFeedback
from qgis.PyQt.QtGui import QIcon

from ..core.errors import Cancelled, IdfHrError
from ..gis.i18n import tr as _tr

ICON = Path(__file__).resolve().parent.parent / "resources" / "icons" / "idf_hr.svg"


class IdfHrAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set ``NAME``, ``GROUP_ID`` and implement the three phases."""

    NAME = ""
    GROUP_ID = ""

    def tr(self, text: str) -> str:
        return _tr(text)

    def name(self) -> str:
        return self.NAME

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def groupId(self) -> str:  # noqa: N802
        return self.GROUP_ID

    def createInstance(self):  # noqa: N802
        return type(self)()

    @staticmethod
    def cancel_check(feedback: QgsProcessingFeedback):
        return (lambda: feedback.isCanceled()) if feedback is not None else (lambda: False)

    @staticmethod
    def fail(exc: Exception) -> QgsProcessingException:
        """Map core errors to a Processing exception carrying the user-readable message."""
        if isinstance(exc, (IdfHrError, Cancelled)):
            return QgsProcessingException(str(exc))
        return QgsProcessingException(_tr("Unexpected error: {error}").format(error=exc))

    def gpkg_destination(self, parameters, name: str, context) -> tuple[str, str, str | None]:
        """``(destination as given, the .gpkg file written, table or None)`` of a vector destination
        ("Save to GeoPackage" gives a file and a table)."""
        from .destinations import file_destination

        dest = self.parameterAsOutputLayer(parameters, name, context)
        out, table = file_destination(dest)
        return dest, out if out.lower().endswith(".gpkg") else str(Path(out).with_suffix(".gpkg")), table

    @staticmethod
    def load_layer_instead(context, dest: str, uri: str, name: str) -> None:
        """Load ``uri`` (a layer inside the written GeoPackage) under ``name`` instead of ``dest``."""
        if context.willLoadLayerOnCompletion(dest):
            layers = dict(context.layersToLoadOnCompletion())
            details = layers.pop(dest)
            details.name = name
            layers[uri] = details
            context.setLayersToLoadOnCompletion(layers)
