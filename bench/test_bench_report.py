"""Report benchmark: time to gather, lay out and export the PDF (+ HTML) of a change report.

Run with ``make bench`` (or this file alone with ``-s``). Prints plain times and, as a reference
measured in the same run, the ratio to rendering the same map alone to a PNG of the same size.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import SHARED_DATA
from tests.unit.analysis.test_report_data import make_runs


def test_bench_report_generation(qgis_app, tmp_path):
    from qgis.core import (
        QgsMapRendererSequentialJob,
        QgsMapSettings,
        QgsProject,
        QgsRasterLayer,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QSize

    from idf_hr_plugin.core.analysis.report_data import gather_report_data
    from idf_hr_plugin.gis.report_layout import chart_png, report_from_file

    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    runs = make_runs(SHARED_DATA, tmp_path)
    t0 = time.perf_counter()
    data = gather_report_data(runs["changes"], runs_from=[str(runs["runs"])])
    t_gather = time.perf_counter() - t0
    t0 = time.perf_counter()
    chart_png(data)
    t_chart = time.perf_counter() - t0
    t0 = time.perf_counter()
    report_from_file(runs["changes"], "changes", tmp_path / "r.pdf", runs_from=[str(runs["runs"])])
    t_pdf = time.perf_counter() - t0
    t0 = time.perf_counter()
    report_from_file(
        runs["changes"],
        "changes",
        tmp_path / "r2.pdf",
        runs_from=[str(runs["runs"])],
        html_path=tmp_path / "r.html",
    )
    t_pdf_html = time.perf_counter() - t0

    # reference: the same two layers rendered once to a 150 dpi image of the map frame's size
    vl = QgsVectorLayer(f"{runs['changes']}|layername=changes", "c", "ogr")
    rl = QgsRasterLayer(runs["raster"], "r", "gdal")
    QgsProject.instance().addMapLayers([vl, rl], False)
    ms = QgsMapSettings()
    ms.setLayers([vl, rl])
    ms.setDestinationCrs(rl.crs())
    ms.setExtent(rl.extent())
    ms.setOutputSize(QSize(886, 797))  # 150 x 135 mm at 150 dpi
    t0 = time.perf_counter()
    job = QgsMapRendererSequentialJob(ms)
    job.start()
    job.waitForFinished()
    t_map = time.perf_counter() - t0
    QgsProject.instance().removeMapLayers([vl.id(), rl.id()])

    print(
        f"\nreport: gather {t_gather * 1000:.0f} ms, chart {t_chart * 1000:.0f} ms, "
        f"PDF {t_pdf:.2f} s, PDF+HTML {t_pdf_html:.2f} s; map alone {t_map * 1000:.0f} ms "
        f"(PDF / map ratio {t_pdf / max(t_map, 1e-6):.1f}x)"
    )
