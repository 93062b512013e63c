"""The ``idfhr`` Processing provider."""

from __future__ import annotations

import importlib

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..gis.i18n import tr
from .base import ICON

# (module, class) of every algorithm, in the order the toolbox lists them.
ALGORITHMS = (
    ("catalog_search", "CatalogSearchAlgorithm"),
    ("download_imagery", "DownloadImageryAlgorithm"),
    ("opendata_load", "OpenDataLoadAlgorithm"),
    ("fibre_coverage", "FibreCoverageAlgorithm"),
    ("detect", "DetectAlgorithm"),
    ("publish_model", "PublishModelAlgorithm"),
    ("publish_result", "PublishResultAlgorithm"),
    ("offline_kit", "OfflineKitAlgorithm"),
    ("change_detection", "ChangeDetectionAlgorithm"),
    ("zonal_statistics", "ZonalStatisticsAlgorithm"),
    ("report", "ReportAlgorithm"),
)


def algorithm_classes() -> list:
    """Every algorithm the provider offers."""
    return [getattr(importlib.import_module(f"{__package__}.{mod}"), cls) for mod, cls in ALGORITHMS]


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
