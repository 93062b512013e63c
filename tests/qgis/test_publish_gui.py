"""'Publish a result…' in the Catalog tab, driven like a user: a real detection run on the small demo
region, the Processing dialog filled (catalog folder + partner) and run; the item is then in the
Shared results list and loads to the map with the same features. Also the STAC API through QGIS's
network stack and an authcfg."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsProject, QgsVectorLayer

from tests.qgis.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "idf_hr_plugin" / "resources" / "models" / "idfhr_demo_detector.onnx"


@pytest.fixture(scope="module")
def detections(small_demo_region, tmp_path_factory):
    """A real detection run of the bundled model on the small demo region: (gpkg, layer name)."""
    from osgeo import ogr

    from idf_hr_plugin.core.inference import run_detection

    out = tmp_path_factory.mktemp("run") / "detections.gpkg"
    run_detection(str(MODEL), str(small_demo_region.vintages[2024][0]), out_path=out, threads=1)
    ds = ogr.Open(str(out))
    names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
    del ds
    (layer,) = [n for n in names if n != "idfhr_runs"]  # the run record table aside
    return out, layer


@pytest.fixture(scope="module")
def processing_framework(qgis_app):
    """QGIS's Processing plugin (``import processing``), as QGIS Desktop loads it."""
    import sys

    plugins = "/usr/share/qgis/python/plugins"
    if plugins not in sys.path:
        sys.path.append(plugins)
    from processing.core.Processing import Processing

    Processing.initialize()
    yield
    Processing.deinitialize()


@pytest.fixture
def plugin(plugin_iface, processing_framework):
    import idf_hr_plugin

    p = idf_hr_plugin.classFactory(plugin_iface)
    p.initGui()
    yield p
    p.unload()


def _features(layer) -> dict:
    names = [n for n in layer.fields().names() if n != "fid"]
    return {f.id(): ({k: f[k] for k in names}, f.geometry().asWkt(6)) for f in layer.getFeatures()}


def _show_on_canvas(iface, layer) -> None:
    """The tab lists runs within the map extent: show the layer (earlier tests leave the canvas elsewhere)."""
    canvas = iface.mapCanvas()
    canvas.setDestinationCrs(layer.crs())
    canvas.setExtent(layer.extent())
    canvas.refresh()


def _drive_dialog(params: dict, done: dict) -> None:
    """When the modal Processing dialog is up: fill it, run it, wait for its result, close it."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.PyQt.QtCore import QTimer
    from qgis.PyQt.QtWidgets import QApplication

    def drive():
        dlgs = [w for w in QApplication.topLevelWidgets() if isinstance(w, AlgorithmDialog) and w.isVisible()]
        if not dlgs:
            QTimer.singleShot(50, drive)
            return
        dlg = dlgs[0]
        try:
            dlg.mainWidget().setParameters(params)
            dlg.runAlgorithm()
            wait_until(lambda: bool(dlg.results()), timeout=120)
            done["results"] = dlg.results()
            done["log"] = dlg.textLog.toPlainText() if hasattr(dlg, "textLog") else ""
        finally:
            dlg.close()

    QTimer.singleShot(0, drive)


def test_publish_button_publishes_the_active_detection_layer_and_it_is_listed_and_loads(
    plugin, detections, tmp_path, monkeypatch
):
    from qgis.gui import QgsBrowserGuiModel

    # pytest-qgis's stand-in QgisInterface has no browser model; the Processing dialog asks for one
    browser = QgsBrowserGuiModel()
    import qgis.utils

    for iface in {id(plugin.iface): plugin.iface, id(qgis.utils.iface): qgis.utils.iface}.values():
        monkeypatch.setattr(iface, "browserModel", lambda: browser, raising=False)
    gpkg, name = detections
    source = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
    assert source.isValid() and source.featureCount() > 0
    QgsProject.instance().addMapLayer(source)
    plugin.iface.setActiveLayer(source)
    tab = plugin.dock.catalog_tab
    box = tab.shared_results
    box.setCollapsed(False)
    cat = tmp_path / "results"

    done: dict = {}
    _drive_dialog({"PARTNER": "Vincennes", "CATALOG": str(cat)}, done)
    box.publish_button.click()
    assert done.get("results", {}).get("RUN_ID"), done
    assert (cat / "catalog.json").is_file()

    box.kind.setCurrentIndex(box.kind.findData("catalog"))
    box.location.setText(str(cat))
    tab.use_dates.setChecked(False)
    tab.extent_drawn.setChecked(False)
    _show_on_canvas(plugin.iface, source)
    box.list_button.click()
    assert wait_until(lambda: box.task is None, timeout=60)
    assert [r.run_id for r in box.runs] == [done["results"]["RUN_ID"]], box.status.text()
    assert "Vincennes" in box.results.item(0).text()
    box.results.item(0).setSelected(True)
    (loaded,) = box.add_selected_to_map()
    try:
        assert loaded.featureCount() == source.featureCount()
        assert _features(loaded) == _features(source)
    finally:
        QgsProject.instance().removeMapLayer(loaded.id())
        QgsProject.instance().removeMapLayer(source.id())


@pytest.fixture
def api_authcfg(qgis_app):
    manager = QgsApplication.authManager()
    manager.setMasterPassword("idf-hr-test-master", True)
    cfg = QgsAuthMethodConfig("Basic")
    cfg.setName("idfhr-stac-api")
    cfg.setConfig("username", "publisher")
    cfg.setConfig("password", "api-s3cret")
    assert manager.storeAuthenticationConfig(cfg)[0]
    yield cfg.id()
    manager.removeAuthenticationConfig(cfg.id())


def test_processing_publishes_into_a_stac_api_with_an_authcfg_and_the_tab_lists_it(
    plugin, api_authcfg, tmp_path
):
    import processing

    from tests.servers import StacTransactionsServer
    from tests.sharing_data import detections_gpkg

    gpkg, name = detections_gpkg(tmp_path / "det.gpkg", 12, run_id="qgis-api")
    cat = tmp_path / "results"
    with StacTransactionsServer(cat, basic=("publisher", "api-s3cret")) as api:
        params = {
            "INPUT": f"{gpkg}|layername={name}",
            "PARTNER": "EPT T10",
            "CATALOG": str(cat),
            "STAC_API": api.url,
            "ASSETS_URL": api.url,
            "AUTHCFG": api_authcfg,
        }
        res = processing.run("idfhr:publishresult", params)
        assert res["API_ITEM"].endswith("/collections/idfhr-results/items/EPT-T10-qgis-api")
        assert list(api.items["idfhr-results"]) == ["EPT-T10-qgis-api"]
        processing.run("idfhr:publishresult", params)  # again: replaced through QGIS's PUT
        assert api.log[-1].method == "PUT" and list(api.items["idfhr-results"]) == ["EPT-T10-qgis-api"]

        # without the authcfg the API refuses, and the message says what to do
        from qgis.core import QgsProcessingException

        with pytest.raises(QgsProcessingException, match="authentication configuration"):
            processing.run("idfhr:publishresult", {**params, "AUTHCFG": ""})

        box = plugin.dock.catalog_tab.shared_results
        box.kind.setCurrentIndex(box.kind.findData("stac-api"))
        box.location.setText(api.url + "/collections/idfhr-results")
        plugin.dock.catalog_tab.extent_drawn.setChecked(False)
        plugin.dock.catalog_tab.use_dates.setChecked(False)
        _show_on_canvas(plugin.iface, QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr"))
        box.list_button.click()
        assert wait_until(lambda: box.task is None, timeout=60)
        assert [(r.partner, r.run_id) for r in box.runs] == [("EPT T10", "qgis-api")], box.status.text()
        box.results.item(0).setSelected(True)
        (loaded,) = box.add_selected_to_map()
        try:
            src = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
            assert _features(loaded) == _features(src)
        finally:
            QgsProject.instance().removeMapLayer(loaded.id())
