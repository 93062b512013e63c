"""Headless GUI: the open-data tab against loopback Opendatasoft, data.gouv.fr and geo.api.gouv.fr servers."""

from __future__ import annotations

import json

import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGraduatedSymbolRenderer,
    QgsNetworkAccessManager,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)

import idf_hr_plugin
from idf_hr_plugin.gis.settings import Settings
from tests.qgis.conftest import wait_until
from tests.servers import Fault, Reply
from tests.unit.opendata.fakeportals import (
    FakeDataGouv,
    FakeGeoApi,
    FakeOds,
    datagouv_dataset,
    dataset_from_records,
    load_shared_datasets,
)

L93 = QgsCoordinateReferenceSystem("EPSG:2154")
SETTINGS = (
    Settings.OPENDATA_PORTALS_JSON,
    Settings.OPENDATA_LAST_PORTAL,
    Settings.OPENDATA_MGP_URL,
    Settings.OFFLINE,
    Settings.BOUNDARIES_API_URL,
    Settings.BOUNDARIES_FILE,
)


@pytest.fixture
def plugin(plugin_iface):
    p = idf_hr_plugin.classFactory(plugin_iface)
    p.initGui()
    yield p
    p.unload()
    for s in SETTINGS:
        s.reset()


@pytest.fixture(scope="module")
def shared_datasets(shared_data):
    return load_shared_datasets(shared_data)


@pytest.fixture
def ods(loopback, shared_datasets):
    return FakeOds(loopback(), dict(shared_datasets))


@pytest.fixture
def velib(shared_data):
    return json.loads(
        (shared_data / "opendata" / "velib-emplacement-des-stations.geojson").read_text("utf-8")
    )


def _wait(tab, timeout=60):
    assert wait_until(lambda: tab.task is None, timeout=timeout), "task did not finish"


def _layers():
    return [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsVectorLayer)]


def _search_preview(tab, text):
    tab.search_edit.setText(text)
    tab.search_button.click()
    _wait(tab)
    assert tab.results.count() >= 1, tab.status.text()
    tab.results.setCurrentRow(0)
    _wait(tab)
    assert tab.load_button.isEnabled(), tab.status.text()


def test_search_preview_load_all_records_with_licence(plugin, ods, velib):
    tab = plugin.dock.opendata_tab
    tab.add_portal("Portail de test", ods.url)
    assert tab.current_portal().url == ods.url
    assert any(p["url"] == ods.url for p in json.loads(Settings.OPENDATA_PORTALS_JSON.value()))

    _search_preview(tab, "velib")
    assert tab.results.count() == 1
    assert "1003 records" in tab.results.item(0).text()
    preview = tab.preview.toPlainText()
    assert "Open Database License" in preview and "capacity" in preview and "geo_point_2d" in preview

    tab.load_button.click()
    _wait(tab)
    layers = _layers()
    assert len(layers) == 1, tab.status.text()
    layer = layers[0]
    assert layer.isValid() and layer.featureCount() == 1003 == len(velib["features"])  # > 100: not one page
    assert layer.geometryType() == 0  # points from geo_point_2d
    assert layer.fields().field("capacity").typeName().lower() in ("integer", "integer64")
    md = layer.metadata()
    assert md.licenses() == ["Open Database License (ODbL)"]
    assert "exports/geojson" in md.identifier() and "Retrieved on" in md.abstract()
    assert "1003 features" in tab.status.text()
    # the export endpoint was used, never the 100-record pages
    assert any("/exports/geojson" in r.path for r in ods.srv.log)
    assert not any(r.path.endswith("/records") for r in ods.srv.log)

    # where filter: hand count from the file
    expected = sum(1 for f in velib["features"] if f["properties"]["capacity"] > 40)
    tab.where_edit.setText("capacity > 40")
    tab.load_button.click()
    _wait(tab)
    filtered = [lyr for lyr in _layers() if lyr.id() != layer.id()]
    assert len(filtered) == 1 and filtered[0].featureCount() == expected < 1003
    assert all(f["capacity"] > 40 for f in filtered[0].getFeatures())

    # the cached list shows both entries with their age
    texts = [tab.cached_list.item(i).text() for i in range(tab.cached_list.count())]
    assert sum("retrieved just now" in t for t in texts) >= 2


def test_cached_layer_loads_with_network_off(plugin, ods):
    tab = plugin.dock.opendata_tab
    tab.add_portal("Portail de test", ods.url)
    _search_preview(tab, "sanisettes")
    tab.load_button.click()
    _wait(tab)
    assert _layers()[0].featureCount() == 615
    QgsProject.instance().removeAllMapLayers()

    # the portal goes down: the same load falls back to the IdF HR cache and says how old it is
    for path in ("sanisettesparis", "sanisettesparis/exports/geojson"):
        ods.srv.fault(f"/api/explore/v2.1/catalog/datasets/{path}", Fault("status", 503))
    QgsNetworkAccessManager.instance().cache().clear()  # nothing left in Qt's own HTTP cache
    tab.load_button.click()
    _wait(tab, timeout=120)
    layers = _layers()
    assert len(layers) == 1 and layers[0].featureCount() == 615, tab.status.text()
    assert "retrieved just now" in layers[0].name()
    assert "cached copy" in tab.status.text()

    Settings.OFFLINE.set(True)  # explicit offline mode: the cached list loads without any request
    QgsProject.instance().removeAllMapLayers()
    tab.refresh_cached()
    row = next(i for i in range(tab.cached_list.count()) if "Sanisettes" in tab.cached_list.item(i).text())
    tab.cached_list.setCurrentRow(row)
    tab.load_cached_button.click()
    layers = _layers()
    assert len(layers) == 1 and layers[0].featureCount() == 615
    assert layers[0].metadata().licenses() == ["Open Database License (ODbL)"]
    assert "retrieved" in tab.status.text()


def test_curated_theme_resolves_and_is_styled_graduated(plugin, loopback, shared_data):
    arr = json.loads((shared_data / "admin" / "paris_arrondissements.geojson").read_text("utf-8"))
    records = [
        {
            "nom": f["properties"]["l_aroff"],
            "radiance": float(i * 3 + 1),
            "geo_shape": {"type": "Feature", "geometry": f["geometry"], "properties": {}},
        }
        for i, f in enumerate(arr["features"])
    ]
    # the portal renamed the dataset: resolution finds it by title
    ds = dataset_from_records(
        "radiance-nocturne-2023",
        "Pollution lumineuse — radiance nocturne",
        records,
        {"geo_shape": "geo_shape"},
    )
    ods = FakeOds(loopback(), {ds.dataset_id: ds})
    Settings.OPENDATA_MGP_URL.set(ods.url)
    tab = plugin.dock.opendata_tab
    tab.reload_portals()
    tab.theme_combo.setCurrentIndex(tab.theme_combo.findData("light_pollution"))
    tab.theme_button.click()
    _wait(tab)
    layers = _layers()
    assert len(layers) == 1, tab.status.text()
    layer = layers[0]
    assert layer.featureCount() == 20
    renderer = layer.renderer()
    assert isinstance(renderer, QgsGraduatedSymbolRenderer) and renderer.classAttribute() == "radiance"
    assert len(renderer.ranges()) == 5
    assert "radiance-nocturne-2023" in tab.status.text()  # the rename is reported


def test_datagouv_geojson_and_csv_resources(plugin, loopback, shared_data):
    srv = loopback(shared_data / "opendata")
    csv_text = (
        "nom;longitude;latitude\nMairie de Saint-Denis;2,3574;48,9362\nStade de France;2,3601;48,9244\n"
    )
    srv.route(
        r"/files/points\.csv", lambda req: Reply(200, csv_text.encode("cp1252"), content_type="text/csv")
    )
    FakeDataGouv(
        srv,
        [
            datagouv_dataset(
                "ds1",
                "Stations Vélib' et points remarquables",
                [
                    {
                        "id": "r-geojson",
                        "title": "Stations",
                        "format": "geojson",
                        "url": f"{srv.url}/velib-emplacement-des-stations.geojson",
                    },
                    {"id": "r-csv", "title": "Points", "format": "csv", "url": f"{srv.url}/files/points.csv"},
                ],
            )
        ],
    )
    Settings.OPENDATA_PORTALS_JSON.reset()
    from idf_hr_plugin.gis import opendata_layers as odl

    tab = plugin.dock.opendata_tab
    Settings.OPENDATA_DATAGOUV_URL.set(srv.url)
    try:
        tab.reload_portals()
        tab.select_portal(odl.DATAGOUV_KEY)
        _search_preview(tab, "velib")
        assert tab.resources.count() == 2 and tab.resources.isVisible() is not None
        tab.resources.setCurrentRow(0)
        tab.load_button.click()
        _wait(tab)
        tab.resources.setCurrentRow(1)
        tab.load_button.click()
        _wait(tab)
    finally:
        Settings.OPENDATA_DATAGOUV_URL.reset()
    counts = sorted(lyr.featureCount() for lyr in _layers())
    assert counts == [2, 1003], tab.status.text()
    pts = next(lyr for lyr in _layers() if lyr.featureCount() == 2)
    assert pts.metadata().licenses() == ["lov2"]
    first = next(pts.getFeatures())
    assert first.geometry().asPoint().x() == pytest.approx(2.3574)


def test_zoom_to_commune_and_ept(plugin, loopback, shared_data):
    srv = loopback()
    FakeGeoApi(srv, shared_data)
    Settings.BOUNDARIES_API_URL.set(srv.url)
    tab = plugin.dock.opendata_tab
    canvas = plugin.iface.mapCanvas()
    canvas.setDestinationCrs(L93)
    canvas.resize(600, 400)
    tab.place_bar.edit.setText("saint denis")
    tab.place_bar.outline_check.setChecked(True)
    tab.place_bar.zoom_button.click()
    assert wait_until(lambda: tab.boundaries is not None and "Zoomed" in tab.status.text(), timeout=60), (
        tab.status.text()
    )
    assert tab.place_bar.names_model.rowCount() == 131 + 12 + 12
    sd = tab.boundaries.bbox("93066", epsg=2154)
    ext = canvas.extent()
    assert ext.contains(QgsRectangle(*sd))
    # zoomed in (Lambert-93 metres): the commune fills the canvas in at least one direction
    assert min(ext.width() / (sd[2] - sd[0]), ext.height() / (sd[3] - sd[1])) < 1.5
    outline = _layers()[0]
    assert outline.featureCount() == 1 and outline.name() == "Saint-Denis"

    tab.place_bar.edit.setText("Plaine Commune")
    tab.place_bar.outline_check.setChecked(False)
    tab.place_bar.zoom_button.click()
    t6 = QgsRectangle(*tab.boundaries.bbox("T6", epsg=4326))
    t6 = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:4326"), L93, QgsProject.instance()
    ).transformBoundingBox(t6)
    assert canvas.extent().contains(t6) and "Plaine Commune" in tab.status.text()
