"""Headless GUI: the Analyse tab compares two vintages and counts per zone, with styled layers."""

from __future__ import annotations

import pytest
from qgis.core import QgsCategorizedSymbolRenderer, QgsGraduatedSymbolRenderer, QgsProject, QgsVectorLayer
from qgis.PyQt.QtGui import QShowEvent

import idf_hr_plugin
from idf_hr_plugin.gis import analysis_layers as al
from tests.qgis.conftest import wait_until
from tests.unit.analysis.test_cli_analysis import _runs, _zones_4326


@pytest.fixture
def plugin(plugin_iface):
    p = idf_hr_plugin.classFactory(plugin_iface)
    p.initGui()
    yield p
    p.unload()


def _wait(tab, timeout=120):
    assert wait_until(lambda: tab.task is None, timeout=timeout), "task did not finish"


def _add(path, layer):
    vl = QgsVectorLayer(f"{path}|layername={layer}", layer, "ogr")
    assert vl.isValid()
    QgsProject.instance().addMapLayer(vl)
    return vl


def _compare(tab, tmp_path, sha_after):
    """Compare the two synthetic runs (the second made by model ``sha_after``) in the tab."""
    before, after = _runs(tmp_path, sha_after=sha_after)
    tab.before_layer.setLayer(_add(before, "yolo_2024"))
    tab.after_layer.setLayer(_add(after, "yolo_2026"))
    out = tmp_path / "changes.gpkg"
    tab.change_output.setFilePath(str(out))
    tab.compare_button.click()
    _wait(tab)
    return out


def test_tab_is_in_the_dock_and_fits_a_small_dock(plugin):
    tab = plugin.dock.analysis_tab
    titles = [plugin.dock.tabs.tabText(i) for i in range(plugin.dock.tabs.count())]
    assert "Analyse" in titles
    hint = tab.minimumSizeHint()
    assert hint.width() <= 420 and hint.height() <= 600
    # the default exclusion of cars is visible and explained
    assert tab.exclude_edit.text() == "car" and "car" in tab.exclude_edit.toolTip().lower()


def test_compare_two_detection_layers_adds_the_styled_change_layer(plugin, tmp_path):
    tab = plugin.dock.analysis_tab
    _compare(tab, tmp_path, "f00d")
    layer = tab.change_layer
    assert layer is not None and layer.isValid(), tab.status.text()
    assert "new 1" in tab.status.text() and "Classes left out: car" in tab.status.text()
    assert sorted(f["change"] for f in layer.getFeatures()) == ["new", "unchanged"]  # the car left out
    renderer = layer.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == "change"
    cats = renderer.categories()  # keep the copies alive while their symbols are read
    colors = {c.value(): c.symbol().color().name() for c in cats}
    labels = {c.value(): c.label() for c in cats}
    assert colors["new"] == "#1a9641" and colors["removed"] == "#d7191c"
    assert colors["modified"] == "#fd8d3c" and colors["unchanged"] == "#9e9e9e"
    uncertain = next(c for c in cats if c.value() == "uncertain").symbol()
    assert [sl.layerType() for sl in uncertain.symbolLayers()] == ["SimpleFill", "LinePatternFill"]  # hatched
    assert labels["new"] == "Nouveau" and labels["removed"] == "Disparu"
    group = QgsProject.instance().layerTreeRoot().findLayer(layer.id()).parent()
    assert group.name() == "Change detection"


def test_compare_refuses_two_models_and_writes_nothing(plugin, tmp_path):
    tab = plugin.dock.analysis_tab
    out = _compare(tab, tmp_path, "beef")
    assert "different models" in tab.status.text()
    assert tab.change_layer is None and not out.exists()


def test_zone_statistics_ask_for_a_name_then_map_the_indicator(plugin, tmp_path):
    tab = plugin.dock.analysis_tab
    _before, after = _runs(tmp_path)
    tab.stats_input.setLayer(_add(after, "yolo_2026"))
    zones = _add(_zones_4326(tmp_path / "zones.gpkg"), "zones")
    tab.zones_kind.setCurrentIndex(tab.zones_kind.findData("layer"))
    tab.zones_layer_combo.setLayer(zones)
    assert tab.name_field.currentField() == ""  # no usual name field: the user must choose
    tab.table_output.setFilePath(str(tmp_path / "stats.csv"))
    tab.stats_button.click()
    _wait(tab)
    assert "choose one of its fields" in tab.status.text() and not (tmp_path / "stats.csv").exists()

    tab.name_field.setField("code")
    tab.indicator.setCurrentIndex(tab.indicator.findData("density_per_km2"))
    tab.stats_button.click()
    _wait(tab)
    layer = tab.zones_layer
    assert layer is not None and layer.isValid(), tab.status.text()
    assert "W: 2 objects, analysed at 29 %" in tab.status.text()
    labels = {f["zone"]: f["analysed_label"] for f in layer.getFeatures()}
    assert labels == {"W": "analysé à 29 %", "E": "analysé à 100 %"}
    renderer = layer.renderer()
    assert isinstance(renderer, QgsGraduatedSymbolRenderer) and renderer.classAttribute() == "density_per_km2"
    assert layer.title() == al.indicator_label("density_per_km2")
    assert all("," in r.label() or r.label().replace(" – ", "").isdigit() for r in renderer.ranges())
    assert (tmp_path / "stats.csv").exists()


def test_report_button_opens_the_report_dialog_on_the_result(plugin, monkeypatch):
    tab = plugin.dock.analysis_tab
    seen = []
    import idf_hr_plugin.gui.report_dialog as rd

    monkeypatch.setattr(rd, "show_report_dialog", lambda iface, parent, layer: seen.append((parent, layer)))
    tab.report_button.click()
    assert seen == [(tab, None)]


def test_change_group_holds_the_changes_and_both_vintages_imagery(plugin, tmp_path, shared_data):
    before, after = _runs(tmp_path)
    out = tmp_path / "changes.gpkg"
    from idf_hr_plugin.cli import main

    assert main(["changes", "--before", before, "--after", after, "--out", str(out)]) == 0
    img = str(shared_data / "imagery" / "ign_ortho_20cm_rgb_l93.tif")
    layer = al.add_change_group(
        str(out), "changes", [(img, "2024"), (img, "2026")], group_name="Avant / après"
    )
    group = QgsProject.instance().layerTreeRoot().findGroup("Avant / après")
    assert [n.name() for n in group.children()] == ["Changes", "Imagery 2024", "Imagery 2026"]
    assert group.findLayer(layer.id()) is not None


def test_compare_two_images_runs_the_model_over_the_map_view(plugin, plugin_iface, tmp_path, shared_data):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer, QgsRectangle

    from idf_hr_plugin.demo.change_accuracy import MODEL

    tab = plugin.dock.analysis_tab
    img = str(shared_data / "imagery" / "ign_ortho_20cm_rgb_l93.tif")
    layers = [QgsRasterLayer(img, name) for name in ("ortho 2023", "ortho 2024")]
    for rl in layers:
        assert rl.isValid()
        QgsProject.instance().addMapLayer(rl)
    canvas = plugin_iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:2154"))
    canvas.setExtent(QgsRectangle(770549.8, 6277549.8, 770600.2, 6277600.2))
    tab.mode_images.setChecked(True)
    assert not tab.before_layer.isEnabled() and tab.model_widget.isEnabled()
    tab.before_raster.setLayer(layers[0])
    tab.after_raster.setLayer(layers[1])
    tab.model_widget.setFilePath(str(MODEL))
    tab.vintages_edit.setText("2023,2024")
    tab.change_output.setFilePath(str(tmp_path / "ortho_changes.gpkg"))
    tab.compare_button.click()
    _wait(tab)
    layer = tab.change_layer
    assert layer is not None and layer.isValid(), tab.status.text()
    # the same image twice: nothing new, nothing removed
    assert {f["change"] for f in layer.getFeatures()} <= {"unchanged", "uncertain"}
    group = QgsProject.instance().layerTreeRoot().findLayer(layer.id()).parent()
    assert [n.name() for n in group.children()] == ["Changes", "Imagery 2023", "Imagery 2024"]
    assert sorted(p.name for p in (tmp_path / "ortho_changes_runs").iterdir()) == [
        "detections_2023.gpkg",
        "detections_2024.gpkg",
    ]


def test_result_combos_offer_only_detection_or_change_layers_and_say_when_there_is_none(plugin, tmp_path):
    from idf_hr_plugin.gis.i18n import tr
    from idf_hr_plugin.gis.layers import footprints_layer

    tab = plugin.dock.analysis_tab
    combos = (tab.before_layer, tab.after_layer, tab.stats_input)
    QgsProject.instance().addMapLayer(footprints_layer([]))  # the catalog's footprints: polygons, no score
    _add(_zones_4326(tmp_path / "zones.gpkg"), "zones")
    tab.showEvent(QShowEvent())  # the user opens the tab: its lists are refreshed
    for combo in combos:
        assert combo.currentLayer() is None and combo.count() == 0
        assert combo.placeholderText() == tr("No detection layer yet: run one first")
    assert tab.zones_layer_combo.findText("zones") >= 0  # the zones combo still offers any polygons

    before, after = _runs(tmp_path)
    first, second = _add(before, "yolo_2024"), _add(after, "yolo_2026")
    tab.showEvent(QShowEvent())
    assert [c.count() for c in combos] == [2, 2, 2]
    assert tab.before_layer.currentLayer() == first and tab.after_layer.currentLayer() == second
    tab.change_output.setFilePath(str(tmp_path / "changes.gpkg"))
    tab.compare_button.click()
    _wait(tab)
    assert tab.change_layer is not None, tab.status.text()
    offered = {tab.stats_input.layer(i) for i in range(tab.stats_input.count())}
    assert offered == {first, second, tab.change_layer}  # the change layer has "change", no score
