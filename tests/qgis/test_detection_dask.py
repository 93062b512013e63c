"""Where a detection runs, from QGIS: the Detection tab's collapsed "Advanced: where to run"
section runs the Dask client in a QgsTask (progress from the futures, dashboard link), and
``idfhr:detect`` takes the same choice as a parameter. Real LocalCluster, real processes."""

from __future__ import annotations

import json

import pytest
from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

from tests.qgis.conftest import wait_until
from tests.qgis.test_detection_tab import SQUARES, _raster_layer, iface, model_file, tab  # noqa: F401
from tests.qgis.test_small_screens import _problems, small_dock  # noqa: F401

pytest.importorskip("distributed", reason="dask distributed is a listed requirement (requirements.txt)")


class Feedback(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.infos: list[str] = []

    def pushInfo(self, text):  # noqa: N802
        self.infos.append(text)
        super().pushInfo(text)


def test_where_to_run_is_collapsed_and_a_local_cluster_run_adds_the_layer(tab, tmp_path):  # noqa: F811
    assert tab.where_box.isHidden() and tab.where_combo.currentData() == 0
    tab.where_toggle.setChecked(True)
    assert not tab.where_box.isHidden()
    tab.where_combo.setCurrentIndex(1)
    assert tab.workers_spin.isEnabled() and not tab.scheduler_edit.isEnabled()
    assert tab.dask_install_button.isHidden()  # Dask is installed here
    layer = _raster_layer(tmp_path, size=(1200, 600))
    tab.layer_combo.setLayer(layer)
    tab.set_extent_mode("layer")
    tab.output_widget.setFilePath(str(tmp_path / "dask.gpkg"))
    tab.conf_spin.setValue(0.5)
    assert tab.run() is not None
    assert wait_until(lambda: tab.task is None, 180), tab.status_label.text()
    assert tab.last_layer is not None, tab.status_label.text()
    assert sorted(round(f.geometry().centroid().asPoint().x(), 1) for f in tab.last_layer.getFeatures()) == [
        round(x, 1) for x, _y, _s in SQUARES
    ]
    d = tab.last_report.distributed
    assert d["jobs"] >= 2 and sum(w["jobs"] for w in d["workers"].values()) == d["jobs"]
    assert "Dask dashboard" in tab.dask_label.text() and "http://127.0.0.1:" in tab.dask_label.text()


def test_web_layers_cannot_go_to_dask(tab, tmp_path):  # noqa: F811
    from idf_hr_plugin.core.errors import UserInputError
    from idf_hr_plugin.gis.dask_runtime import check_dask_execution

    class WebSource:  # a layer read through QGIS (WMTS/XYZ): the engine gets a reader_factory
        reader_factory = object()

    with pytest.raises(UserInputError, match="Dask workers cannot open"):
        check_dask_execution(WebSource(), 1)
    tab.where_toggle.setChecked(True)
    tab.where_combo.setCurrentIndex(2)
    layer = _raster_layer(tmp_path)
    tab.layer_combo.setLayer(layer)
    tab.set_extent_mode("layer")
    tab.scheduler_edit.setText("host:8786")
    assert tab.run() is None and "tcp://host:8786" in tab.status_label.text()


def test_processing_detect_on_a_local_cluster(qgis_app, model_file, tmp_path):  # noqa: F811
    from idf_hr_plugin.processing.detect import DetectAlgorithm

    layer = _raster_layer(tmp_path, size=(1200, 600))
    results = {}
    for execution, name in ((0, "here"), (1, "dask")):
        alg = DetectAlgorithm()
        alg.initAlgorithm()
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        feedback = Feedback()
        params = {
            "INPUT": layer,
            "MODEL": str(model_file),
            "CONF": 0.5,
            "EXECUTION": execution,
            "WORKERS": 2,
            "OUTPUT": str(tmp_path / f"{name}.gpkg"),
        }
        out, ok = alg.run(params, context, feedback)
        assert ok, feedback.textLog()
        results[name] = (out, feedback)
    assert results["dask"][0]["COUNT"] == results["here"][0]["COUNT"] == 2
    report = json.loads(results["dask"][0]["REPORT"])
    assert report["parameters"]["execution"] == "local cluster" and report["distributed"]["workers"]
    assert any("Dask dashboard: http://127.0.0.1:" in t for t in results["dask"][1].infos)


def test_cancel_a_dask_run_from_the_tab(tab, tmp_path):  # noqa: F811
    tab.where_toggle.setChecked(True)
    tab.where_combo.setCurrentIndex(1)
    layer = _raster_layer(tmp_path, "big_2024.tif", size=(4000, 4000))
    tab.layer_combo.setLayer(layer)
    tab.set_extent_mode("layer")
    out = tmp_path / "cancelled.gpkg"
    tab.output_widget.setFilePath(str(out))
    assert tab.run() is not None
    assert wait_until(lambda: "jobs" in tab.progress_text() or tab.task is None, 180)
    assert tab.task is not None, "the run ended before it could be cancelled"
    tab.cancel()
    assert wait_until(lambda: tab.task is None, 120)
    assert not out.exists() and not (tmp_path / "cancelled.idfhr-jobs").exists()
    assert tab.run_button.isEnabled() and "ancel" in tab.status_label.text()


def test_where_to_run_fits_a_420_px_dock_with_the_install_offer(small_dock, monkeypatch):  # noqa: F811
    """Opened, with Dask reported missing (its sentence and Install button): still 420 px wide."""
    from idf_hr_plugin.gis import dask_runtime

    dt = small_dock.detection_tab
    assert dt.where_box.isHidden(), "the where-to-run section should start collapsed"
    monkeypatch.setattr(dask_runtime, "dask_available", lambda: False)
    dt.where_toggle.setChecked(True)
    dt.where_combo.setCurrentIndex(1)
    assert not dt.dask_install_button.isHidden() and "dask" in dt.dask_label.text().lower()
    problems = _problems(
        small_dock, "detection_tab", ("run_button", "cancel_button", "progress", "status_label")
    )
    assert problems == [], "\n".join(problems)
    dt.where_combo.setCurrentIndex(0)  # "this computer" never needs Dask
    assert dt.dask_install_button.isHidden() and dt.dask_label.text() == ""
