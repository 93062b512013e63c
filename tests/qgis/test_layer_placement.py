"""Issue 9 item 9: "All quarters" runs the Temporal Controller; new layers stay out of the
detections group; footprint labels can be switched off."""

from __future__ import annotations

import pytest
from qgis.core import (
    QgsLayerTreeRegistryBridge,
    QgsProject,
    QgsTemporalNavigationObject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate

import idf_hr_plugin
from idf_hr_plugin.core.catalog.model import Item
from idf_hr_plugin.gis import detection
from tests.qgis.conftest import wait_until


@pytest.fixture
def plugin(plugin_iface):
    p = idf_hr_plugin.classFactory(plugin_iface)
    p.initGui()
    yield p
    p.unload()
    # the insertion point set by _user_clicked_a_detection_layer points at a group that the next
    # tests' project.clear() deletes: put it back on the root, as QGIS does when the group goes
    project = QgsProject.instance()
    project.layerTreeRegistryBridge().setLayerInsertionPoint(
        QgsLayerTreeRegistryBridge.InsertionPoint(project.layerTreeRoot(), 0)
    )


def _user_clicked_a_detection_layer(project: QgsProject) -> None:
    """What QGIS does when the user selects a layer of the detections group: insert new layers there."""
    group = detection.results_group(project)
    project.addMapLayer(QgsVectorLayer("Point?crs=EPSG:2154", "earlier run", "memory"), False)
    group.insertLayer(0, project.mapLayersByName("earlier run")[0])
    bridge = project.layerTreeRegistryBridge()
    bridge.setLayerInsertionPoint(QgsLayerTreeRegistryBridge.InsertionPoint(group, 0))


def test_all_quarters_starts_temporal_controller_and_layers_stay_out_of_detections(
    plugin, plugin_iface, shared_data
):
    project = QgsProject.instance()
    _user_clicked_a_detection_layer(project)
    tab = plugin.dock.fibre_tab
    tab.ftth_file.setText(str(shared_data / "arcep" / "ftthCommunes_IDF.csv"))
    tab.premises_file.setText(str(shared_data / "arcep" / "communes_IDF.csv"))
    tab.boundaries_file.setText(str(shared_data / "admin" / "mgp_communes_with_ept.geojson"))
    tab.compute_button.click()
    assert wait_until(lambda: tab.task is None, timeout=120), "task did not finish"
    communes = tab.layer("commune")
    assert communes is not None, tab.status.text()

    root = project.layerTreeRoot()
    for level in ("commune", "ept"):
        assert root.findLayer(tab.layer(level).id()).parent() == root, level
    assert detection.results_group(project).findLayer(communes.id()) is None

    # no navigable Temporal Controller (not the QGIS desktop): say what to do
    tab.set_quarter(None)
    assert "View › Panels › Temporal Controller" in tab.mgp_label.text()

    # the QGIS desktop's controller: switched to animation over T3 2017 … T1 2018, a quarter a frame
    nav = QgsTemporalNavigationObject(plugin_iface.canvas)  # owned by the canvas: it outlives the test
    plugin_iface.canvas.setTemporalController(nav)
    tab.set_quarter("T1 2018")
    tab.set_quarter(None)
    assert nav.navigationMode() == QgsTemporalNavigationObject.NavigationMode.Animated
    extent = nav.temporalExtents()
    assert extent.begin().date() == QDate(2017, 7, 1)
    assert nav.totalFrameCount() == 3
    frames = [nav.dateTimeRangeForFrameNumber(i) for i in range(3)]
    assert [f.begin().date() for f in frames] == [QDate(2017, 7, 1), QDate(2017, 10, 1), QDate(2018, 1, 1)]
    assert "Play" in tab.mgp_label.text()
    # one quarter picked: the filter shows it, the animation would hide it, so it stops
    tab.set_quarter("T3 2017")
    assert nav.navigationMode() == QgsTemporalNavigationObject.NavigationMode.NavigationOff
    assert communes.featureCount() == 131


def test_footprint_labels_switch_off(plugin):
    project = QgsProject.instance()
    _user_clicked_a_detection_layer(project)
    tab = plugin.dock.catalog_tab
    items = [
        Item(
            id="t1",
            source_id="demo",
            datetime="2026-05-01T00:00:00Z",
            gsd=0.2,
            bbox=(2.30, 48.80, 2.31, 48.81),
            geometry={
                "type": "Polygon",
                "coordinates": [[[2.30, 48.80], [2.31, 48.80], [2.31, 48.81], [2.30, 48.81], [2.30, 48.80]]],
            },
        )
    ]
    tab._show_footprints(items)
    layer = tab.footprints_layer()
    assert layer.labelsEnabled()
    assert project.layerTreeRoot().findLayer(layer.id()).parent() == project.layerTreeRoot()
    tab.footprint_labels.setChecked(False)
    assert not layer.labelsEnabled()
    tab._show_footprints(items)  # a new search keeps the user's choice
    assert not tab.footprints_layer().labelsEnabled()
    tab.footprint_labels.setChecked(True)
    assert tab.footprints_layer().labelsEnabled()
