"""The plugin's persistent imagery cache: a caching range proxy GDAL reads remote COGs through.

Projects never store proxy URLs: a path writer saves layer sources in their origin form
(``/vsicurl/<origin URL>``, mosaic VRTs listing origin URLs), which any QGIS opens, with or
without IdF HR; a path preprocessor routes them through this session's proxy when a project is
read. Projects saved by IdF HR 0.1 (proxy URLs with a dead port) are routed the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from qgis.core import QgsPathResolver

from ..core.http import default_client
from ..core.paths import cache_dir
from ..core.tiles import service
from .settings import Settings

LOG = logging.getLogger("idf_hr.cache")
_service = None
_hooks: list = []


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
    from .network import qgis_client

    timeout = float(Settings.HTTP_TIMEOUT_S.value())
    try:
        cache = BlockCache(cache_root(), max_bytes=int(Settings.CACHE_MAX_MB.value()) * 1024 * 1024)
        cached = CachedHttp(default_client(), cache)
        cached.offline = bool(Settings.OFFLINE.value())
        proxy = CachingRangeProxy(
            cached,
            allowed_prefixes=("http://", "https://"),
            client_for_authcfg=lambda authcfg: qgis_client(authcfg, timeout),
        )
    except Exception as exc:  # the plugin must still work uncached
        LOG.warning("imagery cache disabled: %s", exc)
        return None
    _service = proxy
    service.install(proxy)
    _install_path_hooks()
    return proxy


def stop() -> None:
    global _service
    _remove_path_hooks()
    service.install(None)
    if _service is not None:
        _service.stop()
        _service = None


def current():
    return _service


def _read_path(path: str) -> str:
    if not (path.startswith("/vsicurl/") or path.lower().endswith(".vrt")):
        return path  # e.g. an OGR http URL or a WMS URI: not ours to route
    try:
        return service.cached_gdal_path(path, start=False)
    except Exception as exc:  # never break project loading: the origin form opens directly
        LOG.warning("could not route %s through the imagery cache: %s", service.redact(path), exc)
        return service.origin_gdal_path(path)


def _install_path_hooks() -> None:
    if _hooks:
        return
    _hooks.append(("pre", QgsPathResolver.setPathPreprocessor(_read_path)))
    _hooks.append(("write", QgsPathResolver.setPathWriter(service.origin_gdal_path)))


def _remove_path_hooks() -> None:
    while _hooks:
        kind, hook_id = _hooks.pop()
        if kind == "pre":
            QgsPathResolver.removePathPreprocessor(hook_id)
        else:
            QgsPathResolver.removePathWriter(hook_id)
