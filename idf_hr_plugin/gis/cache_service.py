"""The plugin's persistent imagery cache: a caching range proxy GDAL reads remote COGs through."""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.http import default_client
from ..core.paths import cache_dir
from . import imagery_cache
from .settings import Settings

LOG = logging.getLogger("idf_hr.cache")
_service = None


def cache_root() -> Path:
    custom = Settings.CACHE_DIR.value()
    return Path(custom) if custom else cache_dir() / "tiles"


def start():
    """Start the cache proxy once per process (idempotent); returns it, or None if it cannot start."""
    global _service
    if _service is not None:
        return _service
    from ..core.tiles.cache import BlockCache
    from ..core.tiles.cached_http import CachedHttp
    from ..core.tiles.proxy import CachingRangeProxy

    try:
        cache = BlockCache(cache_root(), max_bytes=int(Settings.CACHE_MAX_MB.value()) * 1024 * 1024)
        cached = CachedHttp(default_client(), cache)
        cached.offline = bool(Settings.OFFLINE.value())
        proxy = CachingRangeProxy(cached, allowed_prefixes=("http://", "https://"))
    except Exception as exc:  # the plugin must still work uncached
        LOG.warning("imagery cache disabled: %s", exc)
        return None
    _service = proxy
    imagery_cache.set_proxy(proxy)
    return proxy


def stop() -> None:
    global _service
    imagery_cache.set_proxy(None)
    if _service is not None:
        _service.stop()
        _service = None


def current():
    return _service
