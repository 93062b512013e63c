"""The Detection tab driven headlessly: model card, whole-layer and mask runs, cancel, missing ONNX Runtime."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFeature,
    QgsGeometry,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from tests.qgis.conftest import wait_until
from tests.unit.inference.conftest import make_raster

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import make_test_models  # noqa: E402

ORIGIN = (652000.0, 6862000.0)
SQUARES = [(652020.0, 6861980.0, 4.0), (652090.0, 6861930.0, 4.0)]
CARD = {
    "name": "Red squares",
    "licence": "Etalab-2.0",
    "training_data": "hand-built graph",
    "classes": [{"id": 0, "name": "red", "color": "#ff0000"}, {"id": 1, "name": "other", "color": "#00aa00"}],
    "limits": ["Only finds pure red squares."],
}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("tab_models")
    path = make_test_models.build("yolov8.onnx", d)
    path.with_suffix(".json").write_text(json.dumps(CARD), encoding="utf-8")
    return path


@pytest.fixture
def iface(plugin_iface):
    """plugin_iface that hands pytest-qgis's canvas back at teardown (else it dies with the window)."""
    yield plugin_iface
    canvas = plugin_iface.window.takeCentralWidget()
    if canvas is not None:
        canvas.setParent(None)


@pytest.fixture
def tab(iface, model_file):
    from idf_hr_plugin.gui.detection_tab import DetectionTab

    t = DetectionTab(iface, iface.window)
    t.import_model(str(model_file))
    yield t
    t.shutdown()
    if t.task is not None:
        wait_until(lambda: t.task is None, 30)


def _raster_layer(tmp_path, name="ortho_2024.tif", size=(600, 600)):
    path = make_raster(tmp_path / name, origin=ORIGIN, size=size, squares=SQUARES)
    layer = QgsRasterLayer(str(path), "ortho 2024", "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def test_model_card_shown_before_any_run(tab):
    assert tab.tab_title() in ("Detection", "Détection")
    assert "Red squares" in tab.model_combo.currentText()
    html = tab.card_label.text()
    for text in (
        "detection",
        "red",
        "#ff0000",
        "Etalab-2.0",
        "hand-built graph",
        "Only finds pure red squares.",
        "CPU",
    ):
        assert text in html
    assert tab.conf_spin.value() == pytest.approx(0.25)  # prefilled from the model
    assert "CPU" in tab.provider_label.text() and "thread" in tab.provider_label.text()
    assert not tab.runtime_box.isVisibleTo(tab) and tab.run_button.isEnabled()


def test_whole_layer_run_adds_a_styled_layer_in_the_group(tab, tmp_path):
    from idf_hr_plugin.gis.detection import RESULTS_GROUP

    layer = _raster_layer(tmp_path)
    tab.layer_combo.setLayer(layer)
    tab.set_extent_mode("layer")
    assert "km²" in tab.estimate_label.text()
    out = tmp_path / "out.gpkg"
    tab.output_widget.setFilePath(str(out))
    tab.conf_spin.setValue(0.5)
    assert tab.run() is not None
    assert not tab.run_button.isEnabled() and tab.cancel_button.isEnabled()
    assert wait_until(lambda: tab.task is None, 60), tab.status_label.text()
    assert tab.last_layer is not None, tab.status_label.text()
    group = QgsProject.instance().layerTreeRoot().findGroup(RESULTS_GROUP)
    assert group is not None and group.findLayer(tab.last_layer.id()) is not None
    renderer = tab.last_layer.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == "label"
    red = next(c for c in renderer.categories() if c.value() == "red")
    assert red.symbol().symbolLayer(0).strokeColor().name() == "#ff0000"
    feats = sorted(tab.last_layer.getFeatures(), key=lambda f: f.geometry().centroid().asPoint().x())
    assert len(feats) == 2
    for f, (x, y, side) in zip(feats, SQUARES):
        c = f.geometry().centroid().asPoint()
        assert abs(c.x() - x) <= 0.1 and abs(c.y() - y) <= 0.1
        assert f["vintage"] == "2024" and f["area_m2"] == pytest.approx(side * side)
    summary = tab.summary_label.text()
    assert "2 object(s)" in summary and "red: 2 (32.0 m²)" in summary
    assert "CPU" in summary and "Wh" in summary and "Energy method" in summary
    assert out.is_file() and tab.run_button.isEnabled() and not tab.cancel_button.isEnabled()


def test_mask_of_selected_polygons_keeps_only_objects_inside(tab, tmp_path):
    layer = _raster_layer(tmp_path)
    polys = QgsVectorLayer("Polygon?crs=EPSG:2154", "zones", "memory")
    feats = []
    for x, y, _s in SQUARES:
        f = QgsFeature()
        f.setGeometry(
            QgsGeometry.fromWkt(
                f"POLYGON(({x - 10} {y - 10},{x + 10} {y - 10},{x + 10} {y + 10},{x - 10} {y + 10},{x - 10} {y - 10}))"
            )
        )
        feats.append(f)
    polys.dataProvider().addFeatures(feats)
    QgsProject.instance().addMapLayer(polys)
    tab.layer_combo.setLayer(layer)
    tab.set_extent_mode("mask")
    tab.mask_combo.setLayer(polys)
    tab.output_widget.setFilePath(str(tmp_path / "masked.gpkg"))
    assert tab.run() is None  # nothing selected: refused with a sentence
    assert "Select at least one polygon" in tab.status_label.text()
    polys.selectByIds([next(polys.getFeatures()).id()])
    assert tab.run() is not None
    assert wait_until(lambda: tab.task is None, 60)
    found = list(tab.last_layer.getFeatures())
    assert len(found) == 1
    c = found[0].geometry().centroid().asPoint()
    assert abs(c.x() - SQUARES[0][0]) <= 0.1
    assert tab.last_report.tiles_skipped_mask >= 0 and tab.last_report.counts == {"red": 1}


def test_cancel_mid_run_leaves_no_output_and_returns_to_idle(tab, tmp_path):
    layer = _raster_layer(tmp_path, "big_2024.tif", size=(4000, 4000))
    tab.layer_combo.setLayer(layer)
    tab.set_extent_mode("layer")
    out = tmp_path / "cancelled.gpkg"
    tab.output_widget.setFilePath(str(out))
    assert tab.run() is not None
    assert wait_until(lambda: "tiles" in tab.progress_text() or tab.task is None, 60)
    assert tab.task is not None, "the run ended before it could be cancelled"
    assert "/" in tab.progress_text() and "ETA" in tab.progress_text()
    tab.cancel()
    assert wait_until(lambda: tab.task is None, 60)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".gpkg" or ".tmp" in p.name]
    assert tab.run_button.isEnabled() and not tab.cancel_button.isEnabled()
    assert tab.progress.value() == 0 and "ancel" in tab.status_label.text()


def test_missing_onnxruntime_says_so_and_offers_the_install(iface, monkeypatch):
    from idf_hr_plugin.gui.detection_tab import DetectionTab

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import hook: onnxruntime not importable
    t = DetectionTab(iface, iface.window)
    try:
        assert t.runtime_box.isVisibleTo(t)
        assert "ONNX Runtime is not installed" in t.runtime_label.text()
        assert t.install_button.isEnabled() and not t.run_button.isEnabled()
        assert "not installed" in t.provider_label.text()
    finally:
        t.shutdown()


def test_commune_option_hidden_without_boundaries(tab):
    from idf_hr_plugin.gis.detection import boundaries_cache

    if boundaries_cache() is None:
        assert tab.extent_combo.findData("place") == -1
        assert "Open data" in tab.extent_combo.toolTip()
    else:
        assert tab.extent_combo.findData("place") >= 0


def test_forced_model_type_is_used_for_the_run(tab, tmp_path):
    import sqlite3

    layer = _raster_layer(tmp_path)
    tab.layer_combo.setLayer(layer)
    tab.set_extent_mode("layer")
    out = tmp_path / "forced.gpkg"
    tab.output_widget.setFilePath(str(out))
    tab.conf_spin.setValue(0.5)
    # the test model is a detector; forcing another type must change how the run reads it
    tab.task_combo.setCurrentIndex(tab.task_combo.findData("semantic_segmentation"))
    assert tab.run() is not None
    assert wait_until(lambda: tab.task is None, 60), tab.status_label.text()
    assert tab.last_report is not None and tab.last_report.task == "semantic_segmentation"
    with sqlite3.connect(out) as db:
        (report,) = db.execute("select report_json from idfhr_runs").fetchone()
    assert '"task": "semantic_segmentation"' in report
