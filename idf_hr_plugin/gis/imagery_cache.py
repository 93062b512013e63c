"""Route remote imagery through the persistent caching range proxy (GDAL ``/vsicurl/`` reads)."""

from __future__ import annotations

import threading

from ..core.catalog.mosaic import gdal_path as _plain_gdal_path

_lock = threading.Lock()
_proxy = None


def set_proxy(proxy) -> None:
    """Install (or remove with ``None``) the running caching proxy."""
    global _proxy
    with _lock:
        _proxy = proxy


def gdal_path(href: str) -> str:
    """GDAL path for an asset href: local paths as is, http(s) through the cache proxy when running."""
    with _lock:
        proxy = _proxy
    if proxy is not None and href.startswith(("http://", "https://")):
        return "/vsicurl/" + proxy.url_for(href)
    return _plain_gdal_path(href)
