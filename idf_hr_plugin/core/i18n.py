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


def format_number(value: float, decimals: int = 0, locale: str = "en") -> str:
    """``value`` written for a reader of ``locale`` (``"fr"``, ``"fr_FR"``, ``"en"``…).

    French: decimal comma and a narrow no-break space between thousands ("1 000,5"), so
    "1.000 km²" is never read as a thousand; other locales: "1,000.5". The CLI keeps the C locale.
    """
    text = f"{float(value):,.{max(0, int(decimals))}f}"
    if str(locale).lower().startswith("fr"):
        return text.replace(",", "\u202f").replace(".", ",")
    return text
