"""The trainer's guided session in the dock (issue 9 item 11): opened from the menu or by opening the
demo project, each step shows its tab and outlines the widget to click, a step is ticked when its
check passes, and Reset gives the next participant a clean demo project."""

from __future__ import annotations

import pytest
from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsRectangle, QgsVectorLayer
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import QEvent, QPoint, QRect
from qgis.PyQt.QtWidgets import QApplication, QDialog, QListWidgetItem, QPushButton, QWidget

import idf_hr_plugin
from idf_hr_plugin.core.guided_session import DEMO_PROJECT_ENTRY
from idf_hr_plugin.gis.i18n import install_translator, remove_translator
from idf_hr_plugin.gui.guided_session import HIGHLIGHT

WIDTH, HEIGHT = 420, 600


@pytest.fixture
def plugin(plugin_iface):
    translator = install_translator("fr")
    bar = QgsMessageBar(plugin_iface.window)  # pytest-qgis's bar is a mock without widgets
    plugin_iface.messageBar = lambda: bar
    plugin = idf_hr_plugin.classFactory(plugin_iface)
    plugin.initGui()
    plugin_iface.window.resize(1366, 768)
    plugin_iface.window.show()
    plugin.dock.show()
    QApplication.processEvents()
    yield plugin
    plugin.unload()
    remove_translator(translator)


def _memory_polygons(name: str, fields: str) -> QgsVectorLayer:
    layer = QgsVectorLayer(f"Polygon?crs=EPSG:2154{fields}", name, "memory")
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(662400, 6855400, 662410, 6855410)))
    layer.dataProvider().addFeatures([feature])
    return layer


def _menu_action(plugin_iface, text: str):
    menu = plugin_iface.raster_menus["&IdF HR"]
    return next(a for a in menu.actions() if a.text() == text)


def test_menu_action_opens_the_session_on_each_steps_tab_and_outlines_its_widget(plugin, plugin_iface):
    _menu_action(plugin_iface, "Guided session (training)").trigger()
    session = plugin.guided
    dock = plugin.dock
    assert session is not None and session.isVisible()
    assert [dock.tabs.currentWidget() is dock.catalog_tab, session.index] == [True, 0]
    previous = None
    for i, step in enumerate(session.steps):
        session.next_button.click() if i else None
        QApplication.processEvents()
        assert session.index == i
        assert dock.tabs.currentWidget() is getattr(dock, step.tab), step.key
        assert f"{i + 1}" in session.step_title.text() and step.title in session.step_title.text()
        target = dock.findChild(QWidget, step.target)
        if target is None:  # the "why" button comes from another change: the step says so, no crash
            assert step.key == "explain"
            assert "Next" in session.step_text.text().splitlines()[-1]
            assert session.highlighted() is None
        else:
            assert session.highlighted() is target, step.key
            assert HIGHLIGHT in target.styleSheet()
        if previous is not None and previous is not target:
            assert HIGHLIGHT not in previous.styleSheet(), "the last step's outline stays"
        previous = target
    assert not session.next_button.isEnabled()
    session.previous_button.click()
    assert session.index == len(session.steps) - 2


def test_steps_prepare_the_demo_inputs(plugin):
    session = plugin.open_guided_session()
    dock = plugin.dock
    assert dock.catalog_tab.source_combo.currentData().id == "demo"
    session.go(2)
    assert dock.detection_tab.model_combo.currentData() == "bundled:idfhr_demo_detector.onnx"
    assert dock.detection_tab.output_widget.filePath().startswith(str(session.workdir))
    session.go(4)
    assert dock.analysis_tab.mode_images.isChecked()
    assert dock.analysis_tab.model_widget.filePath().endswith("idfhr_demo_detector.onnx")
    session.go(5)
    assert dock.fibre_tab.ftth_file.text().endswith("ftth_mgp_communes.csv")
    assert dock.fibre_tab.boundaries_file.text().endswith("mgp_communes.gpkg")


def test_a_step_is_ticked_when_its_result_appears_then_reset_clears_it(plugin, plugin_iface):
    project = QgsProject.instance()
    trainer = project.addMapLayer(_memory_polygons("trainer's layer", ""))
    canvas = plugin_iface.mapCanvas()
    canvas.setDestinationCrs(trainer.crs())
    canvas.setExtent(QgsRectangle(662000, 6855000, 663000, 6856000))
    QApplication.processEvents()
    view = canvas.extent()
    session = plugin.open_guided_session()
    assert session.done == set()

    # what a participant leaves behind: results, a detection layer, a selection, a moved map
    plugin.dock.catalog_tab.results.addItem(QListWidgetItem("2026 · 20 cm"))
    detections = project.addMapLayer(_memory_polygons("détections", "&field=label:string&field=score:double"))
    trainer.selectAll()
    canvas.setExtent(QgsRectangle(0, 0, 10, 10))
    session.go(2)
    assert session.step_done("search") and session.step_done("detect")
    assert not session.step_done("change") and not session.step_done("stream")
    assert session.chips[2].text().startswith("✓") and session.highlighted() is session.next_button
    workdir = session.workdir

    plugin_iface.messageBar().pushInfo("IdF HR", "Tâche complète")
    session.reset_button.click()
    QApplication.processEvents()
    assert plugin_iface.messageBar().currentItem() is None
    assert project.mapLayersByName("détections") == [] and detections is not None
    assert project.mapLayer(trainer.id()) is trainer and trainer.selectedFeatureCount() == 0
    assert plugin.dock.catalog_tab.results.count() == 0
    assert (session.index, session.done) == (0, set())
    assert not session.chips[2].text().startswith("✓")
    assert canvas.extent().contains(view) and view.contains(canvas.extent().buffered(-1))
    assert session.workdir != workdir and not workdir.exists()
    assert plugin.dock.tabs.currentWidget() is plugin.dock.catalog_tab


def test_opening_the_demo_project_offers_the_session(plugin, plugin_iface, tmp_path):
    project = QgsProject.instance()
    project.writeEntry(*DEMO_PROJECT_ENTRY, "1")
    path = tmp_path / "formation.qgz"
    assert project.write(str(path))
    project.clear()
    bar = plugin_iface.messageBar()
    assert project.read(str(path))
    QApplication.processEvents()
    button = bar.findChild(QPushButton, "IdfHrStartGuidedSession")
    assert button is not None, "no offer of the guided session after opening the demo project"
    button.click()
    assert plugin.guided is not None and plugin.guided.isVisible()

    # another project: no offer, and the session does not survive it
    project.clear()
    other = tmp_path / "autre.qgz"
    assert project.write(str(other))
    bar.clearWidgets()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert project.read(str(other))
    QApplication.processEvents()
    assert bar.findChild(QPushButton, "IdfHrStartGuidedSession") is None
    assert plugin.guided is None


def test_panel_fits_the_420x600_dock_with_each_target_in_view(plugin):
    dock = plugin.dock
    dock.setFloating(True)
    dock.resize(WIDTH, HEIGHT)
    session = plugin.open_guided_session()
    problems = []
    for i, step in enumerate(session.steps):
        session.go(i)
        for _ in range(3):
            QApplication.processEvents()
        dock.resize(WIDTH, HEIGHT)
        QApplication.processEvents()
        hint = dock.minimumSizeHint()
        if hint.width() > WIDTH or hint.height() > HEIGHT:
            problems.append(f"{step.key}: the dock needs {hint.width()}×{hint.height()} px")
        if (dock.width(), dock.height()) != (WIDTH, HEIGHT):
            problems.append(f"{step.key}: the dock grew to {dock.width()}×{dock.height()} px")
        for widget in (session.next_button, session.reset_button, session.step_text, session.highlighted()):
            if widget is None:
                continue
            rect = QRect(widget.mapTo(dock, QPoint(0, 0)), widget.size())
            if not dock.rect().intersects(rect) or widget.visibleRegion().isEmpty():
                problems.append(f"{step.key}: {widget.objectName()} out of view at {rect.getRect()}")
    assert problems == [], "\n".join(problems)


def test_unload_with_the_session_open_then_open_the_demo_project(plugin_iface, tmp_path):
    """After unload no project signal reaches the plugin (a dangling connection crashed QGIS)."""
    plugin = idf_hr_plugin.classFactory(plugin_iface)
    plugin.initGui()
    plugin.open_guided_session()
    plugin.unload()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    project = QgsProject.instance()
    project.writeEntry(*DEMO_PROJECT_ENTRY, "1")
    path = tmp_path / "demo.qgz"
    assert project.write(str(path))
    bar = QgsMessageBar(plugin_iface.window)
    plugin_iface.messageBar = lambda: bar
    assert project.read(str(path))
    QApplication.processEvents()
    assert bar.findChild(QPushButton, "IdfHrStartGuidedSession") is None
    assert plugin.guided is None


class ExplainPanel(QDialog):
    """Stands in for the window of gui/explain_tool.py (another change), found by its class name."""


def test_explain_step_ticks_when_the_explanation_window_shows_and_reset_closes_it(plugin):
    tab = plugin.dock.detection_tab
    why = tab.findChild(QPushButton, "whyDetectionButton")
    if why is None:  # before that change is merged: a checkable button of the same objectName
        why = QPushButton("Pourquoi cette détection ?", tab)
        why.setObjectName("whyDetectionButton")
        why.setCheckable(True)
    session = plugin.open_guided_session()
    session.go(3)
    assert session.highlighted() is why and "skip it" not in session.step_text.text()
    why.click()  # its map tool is on
    assert not session.step_done("explain")
    panel = ExplainPanel(plugin.dock)
    panel.show()
    session.refresh()
    assert session.step_done("explain") and session.highlighted() is session.next_button
    session.reset()
    assert not panel.isVisible() and not why.isChecked()
    assert not session.step_done("explain")
