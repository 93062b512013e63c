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
    decimals = max(0, int(decimals))
    if str(locale) in ("", "C", "POSIX"):  # the CLI: plain digits, as a machine reads them
        return f"{float(value):.{decimals}f}"
    text = f"{float(value):,.{decimals}f}"
    if str(locale).lower().startswith("fr"):
        return text.replace(",", "\u202f").replace(".", ",")
    return text


_number_locale = "C"


def set_number_locale(locale: str | None) -> None:
    """The locale :func:`num` writes for (the plugin sets the UI's; ``None``: C, as in the CLI)."""
    global _number_locale
    _number_locale = locale or "C"


def num(value: float, decimals: int = 0) -> str:
    """``value`` for the current reader: UI locale inside QGIS, C locale in the CLI."""
    return format_number(value, decimals, _number_locale)


def decimal_sep() -> str:
    """The decimal separator :func:`num` uses."""
    return num(0.5, 1)[1]
