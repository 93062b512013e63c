"""Route remote imagery through the persistent caching range proxy (GDAL ``/vsicurl/`` reads)."""

from __future__ import annotations

from ..core.catalog.mosaic import gdal_path as _plain_gdal_path
from ..core.tiles import service


def set_proxy(proxy) -> None:
    """Install (or remove with ``None``) the running caching proxy."""
    service.install(proxy)


def gdal_path(href: str, authcfg: str = "") -> str:
    """GDAL path for an asset href: local paths as is, http(s) through the cache proxy when running."""
    return service.cached_gdal_path(_plain_gdal_path(href), authcfg, start=False)


def stored_path(path: str) -> str:
    """The form of a GDAL path that is saved: the origin ``/vsicurl/`` URL, never a proxy URL."""
    return service.origin_gdal_path(path)
