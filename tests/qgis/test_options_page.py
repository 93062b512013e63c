"""The options page edits catalog sources and settings, and the dock picks them up."""

from __future__ import annotations

from idf_hr_plugin.core.catalog.model import SourceConfig
from idf_hr_plugin.gis.settings import Settings
from idf_hr_plugin.gui.catalog_tab import CatalogTab
from idf_hr_plugin.gui.options import IdfHrOptionsPage


def test_sources_add_remove_apply_and_dock_reload(plugin_iface):
    try:
        page = IdfHrOptionsPage()
        ids = [s.id for s in page.sources]
        assert "demo" in ids and page.table.rowCount() == len(ids)
        page.sources.append(
            SourceConfig(id="my-stac", name="My STAC", kind="stac-api", url="https://example.org/stac")
        )
        page.refresh()
        page.table.selectRow(ids.index("demo"))
        page.remove_source()
        page.cache_mb.setValue(321)
        page.offline.setChecked(True)
        page.models_dir.setFilePath("/tmp/my-models")
        page.apply()
        assert Settings.CACHE_MAX_MB.value() == 321 and Settings.OFFLINE.value() is True
        assert Settings.DETECTION_MODELS_DIR.value() == "/tmp/my-models"
        saved = [s.id for s in Settings.sources()]
        assert "my-stac" in saved and "demo" not in saved
        tab = CatalogTab(plugin_iface)
        names = [tab.source_combo.itemText(i) for i in range(tab.source_combo.count())]
        assert "My STAC" in names
        page.restore_defaults()
        page.apply()
        assert "demo" in [s.id for s in Settings.sources()]
    finally:
        for setting in (
            Settings.SOURCES_JSON,
            Settings.CACHE_MAX_MB,
            Settings.OFFLINE,
            Settings.DETECTION_MODELS_DIR,
        ):
            setting.reset()
