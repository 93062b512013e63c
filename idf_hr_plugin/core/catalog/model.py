"""One model for everything a catalog returns: STAC API items, static STAC items, WMTS layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Protocol

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"

SOURCE_KINDS = ("stac-api", "stac-static", "wmts", "demo")


@dataclass
class Asset:
    """A file of an item. ``href`` is absolute (http(s) URL or absolute local path), already validated."""

    key: str
    href: str
    media_type: Optional[str] = None
    roles: list[str] = field(default_factory=list)
    title: Optional[str] = None

    @property
    def is_raster(self) -> bool:
        mt = (self.media_type or "").lower()
        if "tiff" in mt or "jp2" in mt:
            return True
        return self.href.lower().split("?")[0].endswith((".tif", ".tiff", ".jp2", ".vrt"))


@dataclass
class WmtsLayerRef:
    """What QGIS needs to open one WMTS layer in its native tile matrix set."""

    capabilities_url: str
    layer: str
    tile_matrix_set: str
    image_format: str = "image/jpeg"
    style: str = "normal"
    crs: str = "EPSG:3857"


@dataclass
class Item:
    """One browsable thing: an image tile of a vintage, or a WMTS layer."""

    id: str
    source_id: str
    collection: Optional[str] = None
    datetime: Optional[str] = None  # ISO 8601 (or start of the interval)
    bbox: Optional[tuple[float, float, float, float]] = None  # WGS84 lon/lat
    geometry: Optional[dict[str, Any]] = None  # GeoJSON geometry, WGS84
    gsd: Optional[float] = None  # metres
    epsg: Optional[int] = None
    assets: dict[str, Asset] = field(default_factory=dict)
    title: Optional[str] = None
    license: Optional[str] = None
    attribution: Optional[str] = None
    properties: dict[str, Any] = field(default_factory=dict)
    wmts: Optional[WmtsLayerRef] = None
    self_href: Optional[str] = None

    @property
    def thumbnail(self) -> Optional[Asset]:
        for asset in self.assets.values():
            if "thumbnail" in asset.roles or asset.key == "thumbnail":
                return asset
        return None

    def raster_assets(self) -> list[Asset]:
        """Image assets (data role first), excluding thumbnails/overviews."""
        out = [a for a in self.assets.values() if a.is_raster and "thumbnail" not in a.roles]
        out.sort(key=lambda a: (0 if "data" in a.roles else 1, a.key))
        return out

    @property
    def year(self) -> Optional[int]:
        if self.datetime and len(self.datetime) >= 4 and self.datetime[:4].isdigit():
            return int(self.datetime[:4])
        return None


@dataclass
class Collection:
    id: str
    title: Optional[str] = None
    description: Optional[str] = None
    license: Optional[str] = None
    extent_bbox: Optional[tuple[float, float, float, float]] = None
    temporal: Optional[tuple[Optional[str], Optional[str]]] = None


@dataclass
class SearchQuery:
    """Filters applied by every source (server-side where the protocol allows, else locally)."""

    bbox: Optional[tuple[float, float, float, float]] = None  # WGS84
    datetime_start: Optional[str] = None  # ISO date/datetime, inclusive
    datetime_end: Optional[str] = None
    collections: list[str] = field(default_factory=list)
    max_gsd: Optional[float] = None  # metres
    limit: int = 500  # maximum number of items returned in total
    page_size: int = 100


@dataclass
class SourceConfig:
    """A catalog source as the user configures it (persisted in settings)."""

    id: str
    name: str
    kind: str  # one of SOURCE_KINDS
    url: str = ""
    authcfg: str = ""
    enabled: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "url": self.url,
            "authcfg": self.authcfg,
            "enabled": self.enabled,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceConfig:
        return cls(
            id=str(d["id"]),
            name=str(d.get("name") or d["id"]),
            kind=str(d["kind"]),
            url=str(d.get("url") or ""),
            authcfg=str(d.get("authcfg") or ""),
            enabled=bool(d.get("enabled", True)),
        )


CancelCheck = Callable[[], bool]


class CatalogSource(Protocol):
    """What the dock, Processing and the CLI call on any source."""

    config: SourceConfig

    def collections(self) -> list[Collection]: ...

    def search(self, query: SearchQuery, cancel: Optional[CancelCheck] = None) -> Iterator[Item]: ...
