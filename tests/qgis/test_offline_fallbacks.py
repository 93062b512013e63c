"""Issue 9 item 7: with the services unreachable (loopback servers stopped) and nothing cached, the
commune zoom, the Fibre tab and ``idfhr:fibrecoverage`` use the data bundled with the plugin and say
so; open-data search and themes offer what the cache holds and say what is offline."""

from __future__ import annotations

import json

import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsNetworkAccessManager,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)

import idf_hr_plugin
from idf_hr_plugin.gis.settings import Settings
from tests.qgis.conftest import wait_until
from tests.servers import Fault
from tests.unit.opendata.fakeportals import FakeOds, dataset_from_records, load_shared_datasets

BOUNDARIES_NOTE = "Network unreachable: the bundled IGN ADMIN EXPRESS boundaries (Licence Ouverte, 2018)"
SETTINGS = (
    Settings.OPENDATA_PORTALS_JSON,
    Settings.OPENDATA_LAST_PORTAL,
    Settings.OPENDATA_MGP_URL,
    Settings.OFFLINE,
    Settings.BOUNDARIES_API_URL,
    Settings.BOUNDARIES_FILE,
)


@pytest.fixture
def offline_services(loopback, monkeypatch, tmp_path):
    """An empty IdF HR cache and a boundaries service that does not answer (its server stopped)."""
    monkeypatch.setenv("IDF_HR_CACHE_DIR", str(tmp_path / "cache"))
    srv = loopback()
    url = srv.url
    srv.stop()
    Settings.BOUNDARIES_FILE.set("")
    Settings.BOUNDARIES_API_URL.set(url)
    yield url
    for s in SETTINGS:
        s.reset()


@pytest.fixture
def plugin(plugin_iface, offline_services):
    p = idf_hr_plugin.classFactory(plugin_iface)
    p.initGui()
    yield p
    p.unload()


def _wait(tab, timeout=120):
    assert wait_until(lambda: tab.task is None, timeout=timeout), "task did not finish"


def _layers():
    return [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsVectorLayer)]


def test_zoom_to_commune_offline_uses_bundled_boundaries(plugin):
    tab = plugin.dock.opendata_tab
    canvas = plugin.iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:2154"))
    canvas.resize(600, 400)
    tab.place_bar.edit.setText("saint maur")
    tab.place_bar.outline_check.setChecked(True)
    tab.place_bar.zoom_button.click()
    assert wait_until(lambda: "Zoomed" in tab.status.text() or tab.places_task is None, timeout=60)
    assert wait_until(lambda: "Zoomed" in tab.status.text(), timeout=30), tab.status.text()
    assert BOUNDARIES_NOTE in tab.status.text()
    assert tab.place_bar.names_model.rowCount() == 131 + 12 + 12
    assert canvas.extent().contains(QgsRectangle(*tab.boundaries.bbox("94068", epsg=2154)))
    outline = _layers()[0]  # its metadata names the bundled source, licence and vintage
    assert outline.metadata().licenses() == ["Licence Ouverte / Open Licence 2.0 (Etalab)"]
    assert "IGN ADMIN EXPRESS" in outline.metadata().abstract() and "2018" in outline.metadata().abstract()


def test_fibre_tab_without_files_offline_maps_the_bundled_arcep_snapshot(plugin):
    tab = plugin.dock.fibre_tab
    assert "T3 2017 – T1 2018" in tab.bundled_label.text() and "Licence Ouverte" in tab.bundled_label.text()
    tab.compute_button.click()  # no file at all, no network
    _wait(tab)
    communes, epts = tab.layer("commune"), tab.layer("ept")
    assert communes is not None and epts is not None, tab.status.text()
    assert communes.featureCount() == 131 and epts.featureCount() == 12
    status = tab.status.text()
    assert "bundled ARCEP snapshot was used (T3 2017 – T1 2018" in status
    assert BOUNDARIES_NOTE in status
    assert communes.metadata().licenses() == ["Licence Ouverte / Open Licence 2.0 (Etalab)"]
    assert "T3 2017 – T1 2018" in communes.metadata().abstract()


class _Feedback(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def pushWarning(self, text):  # noqa: N802 (Qt style)
        self.warnings.append(text)
        super().pushWarning(text)


def test_fibrecoverage_offline_joins_to_bundled_boundaries_and_says_so(
    qgis_app, offline_services, shared_data, tmp_path
):
    from idf_hr_plugin.processing.fibre_coverage import FibreCoverageAlgorithm

    out = tmp_path / "couverture.gpkg"
    params = {
        "FTTH": str(shared_data / "arcep" / "ftthCommunes_IDF.csv"),
        "PREMISES": str(shared_data / "arcep" / "communes_IDF.csv"),
        "LEVEL": 1,
        "QUARTER": "T1 2018",
        "OUTPUT": str(out),
    }
    alg = FibreCoverageAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = _Feedback()
    assert alg.prepare(params, context, feedback)
    results = alg.runPrepared(params, context, feedback)
    layer = QgsVectorLayer(results["OUTPUT"], "couverture", "ogr")
    assert layer.isValid() and layer.featureCount() == 12
    assert any(w.startswith(BOUNDARIES_NOTE) for w in feedback.warnings), feedback.warnings


def _portal_down(ods, dataset_id: str) -> None:
    """Every connection to the portal's catalog (and to ``dataset_id``) is reset: it is unreachable."""
    api = "/api/explore/v2.1/catalog/datasets"
    for path in (api, f"{api}/{dataset_id}", f"{api}/{dataset_id}/exports/geojson"):
        ods.srv.fault(path, Fault("reset"))
    QgsNetworkAccessManager.instance().cache().clear()


@pytest.fixture
def ods(loopback, shared_data):
    return FakeOds(loopback(), dict(load_shared_datasets(shared_data)))


def test_search_with_portal_down_offers_the_cached_datasets(plugin, ods):
    tab = plugin.dock.opendata_tab
    tab.add_portal("Portail de test", ods.url)
    tab.search_edit.setText("sanisettes")
    tab.search_button.click()
    _wait(tab)
    tab.results.setCurrentRow(0)
    _wait(tab)
    tab.load_button.click()
    _wait(tab)
    assert len(_layers()) == 1, tab.status.text()
    QgsProject.instance().removeAllMapLayers()

    _portal_down(ods, "")
    tab.search_button.click()
    _wait(tab)
    status = tab.status.text()
    assert "cannot be reached" in status and "1 cached dataset matches" in status, status
    assert tab.cached_list.count() == 1 and "Sanisettes" in tab.cached_list.currentItem().text()
    assert tab.results.count() == 0  # the earlier online results are not left as if they answered

    tab.search_edit.setText("velib")  # nothing cached for it: said plainly, not an empty list
    tab.search_button.click()
    _wait(tab)
    assert "No cached dataset matches" in tab.status.text(), tab.status.text()


def test_theme_with_portal_down_loads_the_cached_copy(plugin, loopback, shared_data):
    arr = json.loads((shared_data / "admin" / "paris_arrondissements.geojson").read_text("utf-8"))
    records = [
        {
            "nom": f["properties"]["l_aroff"],
            "radiance": float(i),
            "geo_shape": {"type": "Feature", "geometry": f["geometry"], "properties": {}},
        }
        for i, f in enumerate(arr["features"])
    ]
    from idf_hr_plugin.core.opendata.themes import THEMES

    ds_id = THEMES["light_pollution"].dataset_ids[0]
    ds = dataset_from_records(ds_id, "Pollution lumineuse", records, {"geo_shape": "geo_shape"})
    ods = FakeOds(loopback(), {ds_id: ds})
    Settings.OPENDATA_MGP_URL.set(ods.url)
    tab = plugin.dock.opendata_tab
    tab.theme_combo.setCurrentIndex(tab.theme_combo.findData("light_pollution"))
    tab.theme_button.click()
    _wait(tab)
    assert len(_layers()) == 1, tab.status.text()
    QgsProject.instance().removeAllMapLayers()

    _portal_down(ods, ds_id)
    tab.theme_button.click()
    _wait(tab)
    layers = _layers()
    assert len(layers) == 1 and layers[0].featureCount() == 20, tab.status.text()
    assert "loaded the cached copy" in tab.status.text()

    tab.theme_combo.setCurrentIndex(tab.theme_combo.findData("geothermal"))  # never loaded
    tab.theme_button.click()
    _wait(tab)
    assert (
        "no dataset of the theme" in tab.status.text() and "Load the theme once online" in tab.status.text()
    )


def test_zone_statistics_per_commune_offline_use_the_bundled_boundaries(plugin, tmp_path):
    from tests.unit.analysis.test_cli_analysis import _runs

    tab = plugin.dock.analysis_tab
    _before, after = _runs(tmp_path)
    layer = QgsVectorLayer(f"{after}|layername=yolo_2026", "yolo_2026", "ogr")
    QgsProject.instance().addMapLayer(layer)
    tab.stats_input.setLayer(layer)
    tab.zones_kind.setCurrentIndex(tab.zones_kind.findData("commune"))
    tab.table_output.setFilePath(str(tmp_path / "stats.csv"))
    tab.stats_button.click()
    _wait(tab)
    assert tab.zones_layer is not None and tab.zones_layer.featureCount() == 131, tab.status.text()
    assert BOUNDARIES_NOTE in tab.status.text()
