"""The one typed settings registry of IdF HR (QgsSettings under ``idf_hr/``).

Secrets never live here: sources refer to QGIS authentication configurations by id (``authcfg``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from qgis.core import QgsSettings

from ..core.catalog.model import SourceConfig

PREFIX = "idf_hr/"
T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    key: str
    default: T
    description: str = ""

    def value(self) -> T:
        raw = QgsSettings().value(PREFIX + self.key, None)
        if raw is None:
            return self.default
        return _coerce(raw, self.default)

    def set(self, value: T) -> None:
        QgsSettings().setValue(PREFIX + self.key, value)

    def reset(self) -> None:
        QgsSettings().remove(PREFIX + self.key)


def _coerce(raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(raw, str):
            return raw.lower() in ("1", "true", "yes")
        return bool(raw)
    if isinstance(default, int):
        try:
            return int(raw)
        except (TypeError, ValueError):
            return default
    if isinstance(default, float):
        try:
            return float(raw)
        except (TypeError, ValueError):
            return default
    return raw if isinstance(raw, type(default)) else default


class Settings:
    """All settings of the plugin, in one place."""

    SOURCES_JSON = Setting[str]("catalog/sources", "", "JSON list of catalog sources")
    CACHE_MAX_MB = Setting[int]("cache/max_mb", 2048, "Size limit of the imagery cache (MB)")
    CACHE_DIR = Setting[str]("cache/dir", "", "Cache folder (empty: the QGIS profile folder)")
    HTTP_TIMEOUT_S = Setting[int]("network/timeout_s", 30, "Network timeout in seconds")
    OFFLINE = Setting[bool]("network/offline", False, "Work offline: use caches and packs only")
    SEARCH_LIMIT = Setting[int]("catalog/limit", 200, "Maximum number of catalog results")
    LAST_SOURCE = Setting[str]("catalog/last_source", "demo", "Last source used in the dock")

    # -- detection (issue 4): model manager and the Detection tab --------------------------------
    DETECTION_MODELS_DIR = Setting[str](
        "detection/models_dir", "", "User models folder (empty: cache/models)"
    )
    DETECTION_LAST_MODEL = Setting[str]("detection/last_model", "", "Last model picked in the Detection tab")
    DETECTION_CONFIRM_KM2 = Setting[float](
        "detection/confirm_km2", 4.0, "Ask before running on more than this many km² at 20 cm"
    )
    # -- end detection ---------------------------------------------------------------------------

    # --- Open data and fibre (issue 3) -------------------------------------------------------
    OPENDATA_MGP_URL = Setting[str](
        "opendata/mgp_url", "https://data.metropolegrandparis.fr", "MGP Opendatasoft portal URL"
    )
    OPENDATA_PARIS_URL = Setting[str](
        "opendata/paris_url", "https://opendata.paris.fr", "Paris Data portal URL"
    )
    OPENDATA_PORTALS_JSON = Setting[str](
        "opendata/portals", "", 'User-added Opendatasoft portals: JSON list of {"name", "url"}'
    )
    OPENDATA_THEME_IDS_JSON = Setting[str](
        "opendata/theme_ids", "", 'Dataset ids per curated theme: JSON {"theme": ["id", ...]}'
    )
    OPENDATA_DATAGOUV_URL = Setting[str](
        "opendata/datagouv_url", "https://www.data.gouv.fr", "data.gouv.fr URL"
    )
    OPENDATA_LAST_PORTAL = Setting[str]("opendata/last_portal", "mgp", "Last portal used in the dock")
    BOUNDARIES_API_URL = Setting[str](
        "boundaries/api_url", "https://geo.api.gouv.fr", "Commune boundaries API (geo.api.gouv.fr-shaped)"
    )
    BOUNDARIES_FILE = Setting[str](
        "boundaries/file", "", "Local GeoJSON/GeoPackage of the MGP communes (empty: the API, cached)"
    )
    ARCEP_ALIASES_JSON = Setting[str](
        "fibre/aliases", "", 'Extra ARCEP column names per role: JSON {"insee": ["..."], ...}'
    )
    # --- end open data and fibre --------------------------------------------------------------

    @staticmethod
    def sources() -> list[SourceConfig]:
        """Configured catalog sources (defaults on first use)."""
        from ..core.catalog.sources import default_sources

        raw = Settings.SOURCES_JSON.value()
        if not raw:
            return default_sources()
        try:
            return [SourceConfig.from_dict(d) for d in json.loads(raw)]
        except (ValueError, KeyError, TypeError):
            return default_sources()

    @staticmethod
    def set_sources(sources: list[SourceConfig]) -> None:
        Settings.SOURCES_JSON.set(json.dumps([s.to_dict() for s in sources]))
