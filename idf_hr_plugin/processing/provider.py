"""The ``idfhr`` Processing provider."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..gis.i18n import tr
from .base import ICON


def algorithm_classes() -> list:
    """Every algorithm the provider offers (imported lazily: optional deps load on use)."""
    from .catalog_search import CatalogSearchAlgorithm
    from .download_imagery import DownloadImageryAlgorithm

    return [CatalogSearchAlgorithm, DownloadImageryAlgorithm]


class IdfHrProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "idfhr"

    def name(self) -> str:
        return tr("IdF HR")

    def longName(self) -> str:  # noqa: N802
        return tr("IdF HR — Île-de-France very-high-resolution imagery")

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def loadAlgorithms(self) -> None:  # noqa: N802
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
