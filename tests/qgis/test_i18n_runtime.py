"""With a French locale the UI and the core's messages come out in French."""

from __future__ import annotations

from idf_hr_plugin.core.errors import Cancelled
from idf_hr_plugin.gis.i18n import install_translator, remove_translator, tr


def test_french_ui_and_core_messages(qgis_app):
    translator = install_translator("fr")
    try:
        assert translator is not None, "i18n/idf_hr_fr.qm missing: run `make i18n`"
        assert tr("Search") == "Rechercher"
        assert "annul" in str(Cancelled()).lower()  # core message translated through the hook
    finally:
        remove_translator(translator)
    assert tr("Search") == "Search"
    assert str(Cancelled()).startswith("Operation cancelled")
