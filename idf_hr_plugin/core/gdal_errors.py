"""GDAL/OGR/OSR exception mode, scoped to the plugin's own calls.

``gdal.UseExceptions()`` is process-wide: called inside QGIS it changes how GDAL reports errors
to QGIS itself and to every other plugin. The plugin therefore never calls it at import or
leaves it switched on: :func:`gdal_exceptions` turns exceptions on for a block of the plugin's
own calls and puts each module's previous mode back afterwards, also when the block raises.
(GDAL 3.6 has no ``gdal.ExceptionMgr``; this works on every GDAL 3.x.)
"""

from __future__ import annotations

import functools
import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
LOG = logging.getLogger("idf_hr.gdal")


def _modules() -> tuple[Any, Any, Any]:
    from osgeo import gdal, ogr, osr

    return gdal, ogr, osr


def exception_modes() -> tuple[bool, bool, bool]:
    """Whether ``gdal``, ``ogr`` and ``osr`` currently raise exceptions (in that order)."""
    return tuple(bool(m.GetUseExceptions()) for m in _modules())  # type: ignore[return-value]


_lock = threading.Lock()
_depth = 0  # blocks currently inside gdal_exceptions(), in any thread
_switched: list[Any] = []  # modules the outermost block switched on


@contextmanager
def gdal_exceptions() -> Iterator[tuple[Any, Any, Any]]:
    """Run a block with GDAL, OGR and OSR exceptions on; yields ``(gdal, ogr, osr)``.

    Only the modules that were off are switched on, and they are switched off again when the
    last block still running (in any thread: the mode is process-wide) ends, in the reverse
    order (GDAL keeps a stack of error handlers). Nested blocks and callers that already use
    exceptions are unaffected.
    """
    global _depth
    mods = _modules()
    with _lock:
        if _depth == 0:
            _switched[:] = [m for m in mods if not m.GetUseExceptions()]
            for m in _switched:
                m.UseExceptions()
        _depth += 1
    try:
        yield mods
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                try:
                    for m in reversed(_switched):
                        m.DontUseExceptions()
                except RuntimeError as exc:  # someone else pushed a handler meanwhile: leave theirs
                    LOG.warning("could not restore GDAL's error mode: %s", exc)
                _switched.clear()


def with_gdal_exceptions(func: F) -> F:
    """Decorator form of :func:`gdal_exceptions` (for plain functions, not generators)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with gdal_exceptions():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
