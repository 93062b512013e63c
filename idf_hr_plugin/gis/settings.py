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
