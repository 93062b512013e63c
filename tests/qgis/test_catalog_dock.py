"""Headless GUI: the catalog tab searches the demo region and adds imagery to the map."""

from __future__ import annotations

import shutil

import pytest
from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer, QgsRectangle

import idf_hr_plugin
from idf_hr_plugin.core.catalog.model import SourceConfig
from idf_hr_plugin.gis.settings import Settings
from tests.qgis.conftest import wait_until

L93 = QgsCoordinateReferenceSystem("EPSG:2154")


@pytest.fixture
def plugin(plugin_iface):
    p = idf_hr_plugin.classFactory(plugin_iface)
    p.initGui()
    yield p
    p.unload()
    Settings.SOURCES_JSON.reset()
    Settings.LAST_SOURCE.reset()


def _select_source(tab, source_id):
    for i in range(tab.source_combo.count()):
        if tab.source_combo.itemData(i).id == source_id:
            tab.source_combo.setCurrentIndex(i)
            return
    raise AssertionError(f"source {source_id} not in the dock")


def _search(tab, rect, crs=L93):
    tab.set_drawn_extent(rect, crs)
    tab.search_button.click()
    assert wait_until(lambda: tab.task is None, timeout=120), "search did not finish"


def test_search_demo_then_add_mosaic(plugin, demo_region):
    tab = plugin.dock.catalog_tab
    _select_source(tab, "demo")
    _search(tab, QgsRectangle(*demo_region.bounds))
    assert tab.results.count() == len(tab.items) > 0, tab.status.text()
    years = {it.year for it in tab.items}
    assert {2024, 2026} <= years
    # the STAC thumbnails (local files of the demo catalog) show in the results list
    assert wait_until(lambda: tab.thumb_task is None, timeout=60)
    assert all(not tab.results.item(r).icon().isNull() for r in range(tab.results.count()))

    footprints = tab.footprints_layer()
    assert footprints is not None and footprints.featureCount() == len(tab.items)

    # select every 20 cm tile of the 2026 vintage and add: one mosaic layer
    for row in range(tab.results.count()):
        item = tab.items[row]
        if item.year == 2026 and item.gsd and abs(item.gsd - 0.2) < 1e-6:
            tab.results.item(row).setSelected(True)
    selected = tab.selected_items()
    assert len(selected) == len(demo_region.vintages[2026])
    assert footprints.selectedFeatureCount() == len(selected)  # the selection is highlighted

    tab.add_button.click()
    rasters = [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsRasterLayer)]
    assert len(rasters) == 1, tab.status.text()
    layer = rasters[0]
    assert layer.isValid()
    assert "2026" in layer.name() and "20 cm" in layer.name()
    assert layer.source().endswith(".vrt")
    ext = layer.extent()
    assert ext.xMinimum() == pytest.approx(demo_region.bounds[0], abs=1)
    assert ext.yMaximum() == pytest.approx(demo_region.bounds[3], abs=1)
    assert any("etalab" in lic.lower() for lic in layer.metadata().licenses())
    assert "synthetic" in layer.metadata().abstract().lower()


def test_no_results_says_what_to_do(plugin, demo_region):
    tab = plugin.dock.catalog_tab
    _select_source(tab, "demo")
    _search(tab, QgsRectangle(600000, 6800000, 600100, 6800100))  # far from the demo region
    assert tab.results.count() == 0
    assert "widen" in tab.status.text()
    assert not tab.add_button.isEnabled()


def test_static_catalog_over_http_streams_through_cache(plugin, demo_region, loopback, tmp_path):
    served = tmp_path / "served"
    shutil.copytree(demo_region.root, served)
    srv = loopback(served)
    catalog_url = srv.url + "/" + demo_region.catalog_path.relative_to(demo_region.root).as_posix()
    Settings.set_sources(
        [SourceConfig(id="http-static", name="HTTP static", kind="stac-static", url=catalog_url)]
    )
    tab = plugin.dock.catalog_tab
    tab.reload_sources()
    _select_source(tab, "http-static")
    _search(tab, QgsRectangle(*demo_region.bounds))
    assert tab.results.count() > 0, tab.status.text()
    row = next(i for i, it in enumerate(tab.items) if it.year == 2024)
    tab.results.item(row).setSelected(True)
    item = tab.items[row]
    assert item.raster_assets()[0].href.startswith("http://127.0.0.1")
    layers = tab.add_selected_to_map()
    assert len(layers) == 1 and layers[0].isValid(), tab.status.text()
    assert "/vsicurl/" in layers[0].source()
    # the pixels QGIS reads over HTTP are the pixels of the local file
    local = QgsRasterLayer(
        str(served / item.raster_assets()[0].href.split(srv.url + "/", 1)[1]), "local", "gdal"
    )
    ext = local.extent()
    centre = ext.center()
    for band in (1, 2, 3):
        remote_val, ok1 = layers[0].dataProvider().sample(centre, band)
        local_val, ok2 = local.dataProvider().sample(centre, band)
        assert ok1 and ok2 and remote_val == local_val
    assert srv.range_requests > 0
    # network off: the origin server is gone, GDAL's in-memory cache is dropped; the imagery QGIS
    # already read still opens, from the plugin's persistent cache
    from osgeo import gdal

    srv.stop()
    gdal.VSICurlClearCache()
    again = QgsRasterLayer(layers[0].source(), "offline", "gdal")
    assert again.isValid()
    for band in (1, 2, 3):
        val, ok = again.dataProvider().sample(centre, band)
        assert ok and val == local.dataProvider().sample(centre, band)[0]
