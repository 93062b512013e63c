"""Metropolitan open data: Opendatasoft portals, data.gouv.fr, MGP boundaries, ARCEP FttH, offline cache.

Qt-free: every function returns plain Python structures or paths of files GDAL/OGR (and QGIS) open.
"""

from .boundaries import Boundaries, Commune, Ept
from .cache import CachedDataset, DatasetCache, age_text, make_key
from .datagouv import DataGouv, DataGouvDataset, Resource
from .ods import PORTALS, DatasetInfo, ExportResult, OdsPortal
from .themes import THEMES, resolve_theme

__all__ = [
    "PORTALS",
    "THEMES",
    "Boundaries",
    "CachedDataset",
    "Commune",
    "DataGouv",
    "DataGouvDataset",
    "DatasetCache",
    "DatasetInfo",
    "Ept",
    "ExportResult",
    "OdsPortal",
    "Resource",
    "age_text",
    "make_key",
    "resolve_theme",
]
