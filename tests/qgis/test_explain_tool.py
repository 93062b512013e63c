""" "Why this detection?" in QGIS: the Detection tab's button, the map tool on a real run of the
bundled model over a (small) demo region, the panel, and the occlusion map task (done, cancelled)."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRectangle, QgsVectorLayer
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt
from qgis.PyQt.QtWidgets import QPushButton

from tests.qgis.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "idf_hr_plugin" / "resources" / "models" / "idfhr_demo_detector.onnx"


@pytest.fixture(scope="module")
def runs(small_demo_region, tmp_path_factory):
    from idf_hr_plugin.core.inference import run_detection

    d = tmp_path_factory.mktemp("runs")
    out = {}
    for year in (2024, 2026):
        gpkg = d / f"detections_{year}.gpkg"
        rep = run_detection(
            str(MODEL), str(small_demo_region.vintages[year][0]), out_path=gpkg, vintage=str(year), threads=1
        )
        out[year] = (gpkg, rep)
    return out


@pytest.fixture
def iface(plugin_iface):
    return plugin_iface


@pytest.fixture
def tab(iface):
    from idf_hr_plugin.gui.detection_tab import DetectionTab

    t = DetectionTab(iface, iface.window)
    yield t
    panel = t.why.panel
    if panel is not None and panel.task is not None:
        panel.cancel()
        wait_until(lambda: panel.task is None, 30)
    t.shutdown()


def _layer(gpkg: Path, name: str) -> QgsVectorLayer:
    layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def _best(layer, label: str):
    """The best-scored object of ``label`` well inside the region."""
    feats = [
        f
        for f in layer.getFeatures()
        if f["label"] == label and f.geometry().boundingBox().xMinimum() > 662372 + 30
    ]
    return max(feats, key=lambda f: f["score"])


def _click(tab, iface, layer, feature) -> None:
    canvas = iface.mapCanvas()
    canvas.resize(600, 600)
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:2154"))
    c = feature.geometry().centroid().asPoint()
    canvas.setExtent(QgsRectangle(c.x() - 30, c.y() - 30, c.x() + 30, c.y() + 30))
    canvas.setLayers([layer])
    button = tab.findChild(QPushButton, "whyDetectionButton")
    assert button is not None and button.text() == "Why this detection?"
    button.click()
    tool = canvas.mapTool()
    assert tool is tab.why.tool and button.isChecked()
    pt = canvas.getCoordinateTransform().transform(c)
    ev = QgsMapMouseEvent(
        canvas, QEvent.Type.MouseButtonRelease, QPoint(int(pt.x()), int(pt.y())), Qt.MouseButton.LeftButton
    )
    tool.canvasReleaseEvent(ev)
    assert wait_until(lambda: tab.why.panel is not None, 60), "the panel did not open"


def test_click_on_a_detection_opens_the_panel_with_its_scores(tab, iface, runs):
    gpkg, rep = runs[2024]
    layer = _layer(gpkg, rep.layer)
    pool = _best(layer, "swimming_pool")
    _click(tab, iface, layer, pool)
    panel = tab.why.panel
    assert panel.isVisible() and panel.parent() is iface.mainWindow()
    assert panel.exp.fid == pool.id() and panel.exp.label == "swimming_pool"
    text = panel.details.toPlainText()
    assert "swimming pool" in text and f"{pool['score']:.2f}" in text
    runner_up = panel.exp.class_scores[1]
    assert f"{runner_up[0].replace('_', ' ')}: {runner_up[1]:.2f}" in text
    assert rep.run_id[:12] in text and "SYNTHETIC" in text  # the run, and the card's known limits
    assert f"tile {pool['tile_id']}" in text
    assert not panel.images[0].pixmap().isNull()
    # fits a 1366 x 768 laptop screen
    hint = panel.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 700 and panel.height() <= 700


def test_occlusion_map_runs_in_a_task_and_shows_the_heat_map(tab, iface, runs):
    gpkg, rep = runs[2024]
    layer = _layer(gpkg, rep.layer)
    _click(tab, iface, layer, _best(layer, "tree"))
    panel = tab.why.panel
    before = panel.images[0].pixmap().toImage()
    assert "Red = hiding this area" in panel.meaning.text() and panel.meaning.isVisible()
    panel.occlusion_button.click()
    assert panel.task is not None and panel.cancel_button.isEnabled()
    assert wait_until(lambda: panel.task is None, 120)
    occ = panel.exp.occlusion
    assert occ is not None and 64 <= occ.runs <= 144 and occ.max_drop > 0.2
    assert panel.progress.value() == 100 and "Largest score drop" in panel.status.text()
    assert panel.images[0].pixmap().toImage() != before  # the heat map is drawn over the crop
    zoomed = panel.images[0].pixmap().size()
    panel.zoom_check.setChecked(False)  # the whole crop the model saw, heat map included
    assert panel.images[0].pixmap().width() == 512 and zoomed.width() < 512
    assert panel.occlusion_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_occlusion_map_can_be_cancelled(tab, iface, runs):
    gpkg, rep = runs[2024]
    layer = _layer(gpkg, rep.layer)
    _click(tab, iface, layer, _best(layer, "building"))
    panel = tab.why.panel
    before = panel.images[0].pixmap().toImage()
    panel.occlusion_button.click()
    panel.cancel_button.click()
    assert wait_until(lambda: panel.task is None, 60)
    assert panel.exp.occlusion is None
    assert "cancelled" in panel.status.text().lower()
    assert panel.images[0].pixmap().toImage() == before
    assert panel.occlusion_button.isEnabled()


def test_click_on_a_change_shows_both_vintages(tab, iface, runs, tmp_path):
    from idf_hr_plugin.core.analysis import read_detections, write_change_layer
    from idf_hr_plugin.core.analysis.workflow import compare_runs

    result = compare_runs(*(read_detections(g, r.layer) for g, r in (runs[2024], runs[2026])))
    out = tmp_path / "changes.gpkg"
    write_change_layer(result, out, "changes")
    layer = _layer(out, "changes")
    new = next(f for f in layer.getFeatures() if f["change"] == "new")
    _click(tab, iface, layer, new)
    panel = tab.why.panel
    assert [v.vintage for v in panel.exp.views] == ["2024", "2026"]
    assert len(panel.images) == 2 and all(not i.pixmap().isNull() for i in panel.images)
    assert [c.text() for c in panel.captions] == ["Before: 2024", "After: 2026"]
    assert "new" in panel.details.toPlainText()
    assert panel.minimumSizeHint().width() <= 1366
