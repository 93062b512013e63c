"""Translation helpers for everything QGIS-side (one context: ``IdfHr``; core uses ``core``)."""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication, QLocale, QSettings, QTranslator

from ..core import i18n as core_i18n

CONTEXT = "IdfHr"
I18N_DIR = Path(__file__).resolve().parent.parent / "i18n"


def tr(text: str) -> str:
    """Translate a UI string of the plugin."""
    return QCoreApplication.translate(CONTEXT, text)


def _core_translate(text: str) -> str:
    return QCoreApplication.translate("core", text)


def user_locale() -> str:
    """Two-letter UI language QGIS uses (honours the 'override system locale' setting)."""
    value = QSettings().value("locale/userLocale", "") or QLocale.system().name()
    return str(value)[:2] or "en"


def num(value: float, decimals: int = 0) -> str:
    """``value`` in the UI locale's format (decimal comma and grouped thousands in French)."""
    return core_i18n.format_number(value, decimals, user_locale())


def install_translator(locale: str | None = None) -> QTranslator | None:
    """Load ``i18n/idf_hr_<lang>.qm`` if present and route core messages through it."""
    lang = (locale or user_locale())[:2]
    core_i18n.set_translator(_core_translate)
    core_i18n.set_number_locale(lang)  # numbers in core messages follow the UI language
    qm = I18N_DIR / f"idf_hr_{lang}.qm"
    if not qm.exists():
        return None
    translator = QTranslator()
    if not translator.load(str(qm)):
        return None
    QCoreApplication.installTranslator(translator)
    return translator


def remove_translator(translator: QTranslator | None) -> None:
    core_i18n.set_translator(None)
    core_i18n.set_number_locale(None)
    if translator is not None:
        QCoreApplication.removeTranslator(translator)
