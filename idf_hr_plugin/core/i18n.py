"""Translation hook for user-facing text produced by the Qt-free core.

Core code writes ``tr("Template with {name}").format(name=...)``. Outside QGIS the text stays
English; the plugin installs a translator backed by ``QCoreApplication.translate`` (context
``"core"``) so the same templates come out in French from ``i18n/idf_hr_fr.qm``.
"""

from __future__ import annotations

from typing import Callable

_translator: Callable[[str], str] | None = None


def tr(text: str) -> str:
    """Translate a message template (call ``.format`` on the result, never inside)."""
    if _translator is None:
        return text
    try:
        return _translator(text) or text
    except Exception:  # a broken translator must never hide the message itself
        return text


def set_translator(func: Callable[[str], str] | None) -> None:
    """Install (or remove with ``None``) the translator used by :func:`tr`."""
    global _translator
    _translator = func
