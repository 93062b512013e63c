"""One caching proxy per process, for every reader of remote imagery.

QGIS layers, Processing algorithms, ``qgis_process`` and the command line all read remote COGs
through the same persistent cache (:class:`CachingRangeProxy` over :class:`CachedHttp`): the
QGIS plugin installs its proxy (QGIS network stack, ``authcfg``, settings) with :func:`install`;
anywhere else :func:`cached_gdal_path` starts a default one on first use (``requests``,
``<cache_dir()>/tiles``).

Proxy URLs (``http://127.0.0.1:<port>/<secret>/...``) only live inside one process. What is stored
(projects, VRT mosaics, offline pack journals) is the origin form given by :func:`origin_gdal_path`:
``/vsicurl/<origin URL>`` and VRTs whose sources are such URLs, which GDAL opens with or without
IdF HR. A VRT with remote sources is read through a per-process copy (:func:`cached_gdal_path`),
so no file is shared mutable state between sessions. An image read with a QGIS authentication
configuration is stored as ``/vsicurl/<origin URL>#authcfg=<id>``: the fragment is never sent
to the server (plain GDAL reads the URL as is), and IdF HR reads it with that ``authcfg`` again.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from pathlib import Path

from ..errors import IdfHrError
from ..paths import cache_dir
from .proxy import CachingRangeProxy, parse_proxy_url, split_credentials

LOG = logging.getLogger("idf_hr.tiles.service")
VSICURL = "/vsicurl/"
AUTHCFG_FRAGMENT = "#authcfg="

_lock = threading.RLock()
_proxy: CachingRangeProxy | None = None
_session: Path | None = None
_session_vrts: dict[str, str] = {}  # per-process VRT copy -> the stable VRT it was made from


def install(proxy: CachingRangeProxy | None) -> None:
    """Make ``proxy`` the process-wide one (``None`` removes it; the caller stops its own proxy)."""
    global _proxy
    with _lock:
        _proxy = proxy


def current() -> CachingRangeProxy | None:
    """The process-wide proxy, if one runs."""
    with _lock:
        return _proxy


def ensure() -> CachingRangeProxy | None:
    """The process-wide proxy, started with the default client and cache if none runs yet.

    Returns ``None`` (imagery is then read directly, uncached) if the cache cannot be opened.
    """
    global _proxy
    with _lock:
        if _proxy is not None:
            return _proxy
        from ..http import default_client
        from .cache import default_cache
        from .cached_http import CachedHttp

        try:
            cached = CachedHttp(default_client(), default_cache())
            _proxy = CachingRangeProxy(cached, allowed_prefixes=("http://", "https://"))
        except (IdfHrError, OSError) as exc:
            LOG.warning("imagery cache disabled: %s", exc)
            return None
        return _proxy


def stop() -> None:
    """Stop and remove the process-wide proxy (the per-process VRT copies stay valid paths)."""
    global _proxy
    with _lock:
        proxy, _proxy = _proxy, None
    if proxy is not None:
        proxy.stop()


def _remote_url(path: str) -> str | None:
    """The http(s) URL a GDAL path or href reads, else ``None``."""
    url = path[len(VSICURL) :] if path.startswith(VSICURL) else path
    return url if url.startswith(("http://", "https://")) else None


def redact(path: str) -> str:
    """``path`` with any ``user:password@`` of its URL removed (for messages, journals, metadata)."""
    url = _remote_url(path)
    if url is None:
        return path
    clean = split_credentials(url)[0]
    return VSICURL + clean if path.startswith(VSICURL) else clean


def origin_gdal_path(path: str) -> str:
    """The stable form of a GDAL path: proxy URLs → ``/vsicurl/<origin>``, VRT copies → their VRT."""
    url = _remote_url(path)
    if url is not None:
        parsed = parse_proxy_url(url)
        if parsed is None:
            return path
        origin, authcfg = parsed
        return VSICURL + origin + (AUTHCFG_FRAGMENT + authcfg if authcfg else "")
    with _lock:
        return _session_vrts.get(path, path)


def cached_gdal_path(path: str, authcfg: str = "", *, start: bool = True) -> str:
    """GDAL path reading ``path`` through the cache when it is remote; anything else unchanged.

    ``/vsicurl/`` http(s) URLs and http(s) hrefs (also proxy URLs of another session) go through
    the proxy, read with ``authcfg`` (QGIS) or the URL's own credentials; a VRT with remote
    sources is read through a per-process copy. ``start=False`` only uses a running proxy.
    """
    stable = origin_gdal_path(path)
    url = _remote_url(stable)
    if url is None and not stable.lower().endswith(".vrt"):
        return stable  # local files, WMTS:, /vsis3/...: nothing to route
    proxy = ensure() if start else current()
    if proxy is None:
        return stable
    if url is not None:
        if AUTHCFG_FRAGMENT in url:
            url, stored_authcfg = url.rsplit(AUTHCFG_FRAGMENT, 1)
            authcfg = authcfg or stored_authcfg
        if not proxy.allows(split_credentials(url)[0]):
            return stable
        return VSICURL + proxy.url_for(url, authcfg)
    if stable.lower().endswith(".vrt") and os.path.isfile(stable):
        return _session_vrt(stable, lambda p: cached_gdal_path(p, authcfg, start=False))
    return stable


def _session_dir() -> Path:
    global _session
    with _lock:
        if _session is None:
            root = cache_dir() / "mosaics"
            _clean_dead_sessions(root)
            _session = root / f"session-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            _session.mkdir(parents=True, exist_ok=True)
        return _session


def _clean_dead_sessions(root: Path) -> None:
    """Remove the VRT copies of processes that no longer run."""
    if not root.is_dir():
        return
    for d in root.glob("session-*-*"):
        try:
            pid = int(d.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            continue


def _session_vrt(stable: str, route) -> str:
    from ..catalog.mosaic import rewrite_vrt_sources

    dest = _session_dir() / f"{uuid.uuid5(uuid.NAMESPACE_URL, stable).hex[:12]}-{Path(stable).name}"
    try:
        changed = rewrite_vrt_sources(Path(stable), dest, route)
    except (OSError, ValueError) as exc:
        LOG.info("%s is read directly (not through the cache): %s", stable, exc)
        return stable
    if not changed:
        return stable
    with _lock:
        _session_vrts[str(dest)] = stable
    return str(dest)
