"""The report as a QGIS print layout: PDF rendered with pdftoppm and read with pdftotext, as a user sees it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.qgis.test_detection_tab import iface, model_file, tab  # noqa: F401  (Detection tab fixtures)
from tests.unit.analysis.test_report_data import make_runs

ROOT = Path(__file__).resolve().parents[2]
# map frame on page 1, in mm of the A4 landscape page (inside the frame, away from arrow and scale bar)
MAP_MM = (15, 45, 150, 140)


def _need(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        pytest.fail(f"{tool} is missing: install poppler-utils (scripts/setup.sh does)")
    return exe


def pdf_pages(pdf: Path) -> int:
    out = subprocess.run([_need("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        [_need("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def page_pixels(pdf: Path, tmp: Path, page: int = 1, dpi: int = 50) -> np.ndarray:
    from PIL import Image

    stem = tmp / f"page{page}"
    subprocess.run(
        [
            _need("pdftoppm"),
            "-png",
            "-r",
            str(dpi),
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(pdf),
            str(stem),
        ],
        check=True,
    )
    return np.asarray(Image.open(f"{stem}.png").convert("L"), dtype=float)


def map_region(img: np.ndarray) -> np.ndarray:
    h, w = img.shape
    x0, y0, x1, y1 = MAP_MM
    return img[int(y0 / 210 * h) : int(y1 / 210 * h), int(x0 / 297 * w) : int(x1 / 297 * w)]


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory):
    return make_runs(shared_data, tmp_path_factory.mktemp("report_qgis"))


def test_french_report_is_a_two_page_pdf_with_a_drawn_map_and_french_labels(qgis_app, runs, tmp_path):
    from idf_hr_plugin.gis.report_layout import report_from_file

    pdf = tmp_path / "rapport.pdf"
    out = report_from_file(runs["runs"], "det_2026", pdf, html_path=tmp_path / "rapport.html")
    assert out["pdf"] == pdf and out["chart"] and pdf_pages(pdf) == 2
    assert map_region(page_pixels(pdf, tmp_path)).std() > 20  # imagery and detections, not a blank frame
    text = pdf_text(pdf)
    for label in (
        "Rapport de détection",
        "Légende",
        "Classe",
        "Sources et licences",
        "Statistiques par zone",
        "Sobriété : coût des calculs",
        "Modèle",
        "Paramètres",
        "Exactitude mesurée (F1)",
        "437c86f10b1c131e2becb0a2ddd82daea3548c6c2deb7d48470eac63e72233d0",
        "IGN BD ORTHO 20 cm (2026)",
    ):
        assert label in text, label
    assert "Nothing detected" not in text and "Detection report" not in text
    html = (tmp_path / "rapport.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2  # map and chart inlined: one self-contained file
    assert "Sobriété" in html and "src='http" not in html
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_english_report_has_english_labels(qgis_app, runs, tmp_path):
    from idf_hr_plugin.gis.report_layout import report_from_file

    pdf = tmp_path / "report.pdf"
    report_from_file(runs["changes"], "changes", pdf, lang="en", runs_from=[str(runs["runs"])])
    text = pdf_text(pdf)
    for label in (
        "Change report between vintages",
        "Legend",
        "Frugality",
        "Sources and licences",
        "new",
        "unchanged",
    ):
        assert label in text, label
    assert "Sobriété" not in text and "Légende" not in text


def test_change_report_with_communes_lists_the_zone_and_statuses(qgis_app, runs, tmp_path):
    from idf_hr_plugin.gis.report_layout import report_from_file

    zone = runs["area"].buffer(-3)
    pdf = tmp_path / "changes.pdf"
    report_from_file(
        runs["changes"],
        "changes",
        pdf,
        zones=([zone], ["Zone d'essai"], "EPSG:2154"),
        runs_from=[str(runs["runs"])],
    )
    text = pdf_text(pdf)
    assert "Rapport de changements entre millésimes" in text
    assert "Zone d'essai" in text and "nouveau" in text and "inchangé" in text and "Solde" in text


def test_layer_with_no_feature_gives_a_valid_report_saying_nothing_was_detected(qgis_app, runs, tmp_path):
    from idf_hr_plugin.gis.report_layout import report_from_file

    for lang, sentence in (("fr", "Rien n'a été détecté"), ("en", "Nothing detected")):
        pdf = tmp_path / f"vide_{lang}.pdf"
        report_from_file(runs["runs"], "none", pdf, lang=lang)
        assert pdf_pages(pdf) == 2
        assert sentence in pdf_text(pdf)


def test_cancel_leaves_no_partial_pdf_and_keeps_the_previous_one(qgis_app, runs, tmp_path):
    from idf_hr_plugin.core.errors import Cancelled
    from idf_hr_plugin.gis.report_layout import report_from_file

    pdf = tmp_path / "rapport.pdf"
    pdf.write_bytes(b"previous report")
    calls = []

    def cancel() -> bool:  # the user presses Cancel while the PDF is being exported
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled):
        report_from_file(runs["runs"], "det_2026", pdf, cancel=cancel)
    assert pdf.read_bytes() == b"previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rapport.pdf"]


def test_without_matplotlib_the_report_says_how_to_get_the_chart(runs, tmp_path):
    pdf = tmp_path / "sans_graphique.pdf"
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["matplotlib"] = None  # as on a QGIS without python3-matplotlib
        from idf_hr_plugin.gis.headless import ensure_qgis_app
        ensure_qgis_app()
        from idf_hr_plugin.gis.report_layout import report_from_file
        out = report_from_file({str(runs["runs"])!r}, "det_2026", {str(pdf)!r})
        print("chart", out["chart"])
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "chart False" in proc.stdout
    text = " ".join(pdf_text(pdf).split())
    assert "matplotlib n'est pas installé" in text and "python3-matplotlib" in text
    assert "Objets par classe" not in text  # the chart title only exists in the drawn chart


def test_report_dialog_writes_the_pdf_and_adds_an_editable_layout_to_the_project(qgis_app, runs, tmp_path):
    from qgis.core import QgsProject, QgsVectorLayer

    from idf_hr_plugin.gui.report_dialog import show_report_dialog

    project = QgsProject.instance()
    before = set(project.mapLayers())
    layer = QgsVectorLayer(f"{runs['changes']}|layername=changes", "changes", "ogr")
    project.addMapLayer(layer)
    try:
        dialog = show_report_dialog(None, None, layer)
        assert dialog.pdf_widget.filePath().endswith("rapport_changes.pdf")  # suggested next to the data
        dialog.pdf_widget.setFilePath(str(tmp_path / "dock.pdf"))
        dialog.accept()
        assert (tmp_path / "dock.pdf").is_file() and (tmp_path / "dock.html").is_file()
        name = dialog.result_paths["layout"].name()
        layout = project.layoutManager().layoutByName(name)
        assert layout is not None
        # still editable after the dialog: the map's layers belong to the project
        assert all(project.mapLayer(lyr.id()) is not None for lyr in layout.itemById("map").layers())
        dialog.pdf_widget.setFilePath("")
        dialog.accept()  # nothing to write to: the dialog says so and stays open
        assert dialog.status.text() == "Choose the PDF file to write."
    finally:
        for lay in project.layoutManager().layouts():
            project.layoutManager().removeLayout(lay)
        project.removeMapLayers([i for i in project.mapLayers() if i not in before])


def test_detection_tab_report_button_reports_on_the_run_just_made(tab, tmp_path):  # noqa: F811
    from idf_hr_plugin.gui.report_dialog import ReportDialog
    from tests.qgis.test_detection_tab import _raster_layer, wait_until

    assert not tab.report_button.isEnabled()  # nothing to report on before a run
    tab.layer_combo.setLayer(_raster_layer(tmp_path))
    tab.set_extent_mode("layer")
    tab.output_widget.setFilePath(str(tmp_path / "out.gpkg"))
    tab.conf_spin.setValue(0.5)
    tab.run()
    assert wait_until(lambda: tab.task is None, 60), tab.status_label.text()
    assert tab.report_button.isEnabled()
    tab.report_button.click()
    dialog = tab.findChildren(ReportDialog)[-1]
    assert dialog.layer_combo.currentLayer() is tab.last_layer
    dialog.pdf_widget.setFilePath(str(tmp_path / "run.pdf"))
    dialog.accept()
    try:
        assert "Red squares" in pdf_text(tmp_path / "run.pdf")  # the run's own model card
    finally:
        manager = dialog.result_paths["layout"].project().layoutManager()
        manager.removeLayout(dialog.result_paths["layout"])


def test_many_zones_the_pdf_says_where_the_other_rows_are_and_the_html_has_them_all(qgis_app, runs, tmp_path):
    from shapely.geometry import box

    from idf_hr_plugin.gis.report_layout import report_from_file

    x0, y0, x1, y1 = runs["area"].bounds
    step = (x1 - x0) / 5
    cells = [
        box(x0 + i * step, y0 + j * step, x0 + (i + 1) * step, y0 + (j + 1) * step)
        for i in range(5)
        for j in range(5)
    ]
    names = [f"Îlot {k:02d}" for k in range(len(cells))]
    pdf, html = tmp_path / "zones.pdf", tmp_path / "zones.html"
    out = report_from_file(runs["runs"], "det_2026", pdf, zones=(cells, names, "EPSG:2154"), html_path=html)
    n = len(out["data"].zone_rows)
    assert n > 14
    text = " ".join(pdf_text(pdf).split())
    assert f"… et {n - 14} ligne(s) de plus : voir la version HTML du rapport." in text
    assert html.read_text(encoding="utf-8").count("<td>Îlot ") == n
