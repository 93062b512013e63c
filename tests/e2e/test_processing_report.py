"""``idfhr:report`` through the real ``qgis_process``, the CLI ``report`` command, and the demo's analysis step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.qgis.test_report import pdf_pages, pdf_text
from tests.unit.analysis.test_report_data import make_runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory):
    return make_runs(shared_data, tmp_path_factory.mktemp("report_e2e"))


def test_qgis_process_writes_the_french_report_and_its_html(qgis_process, runs, tmp_path):
    pdf, html = tmp_path / "rapport.pdf", tmp_path / "rapport.html"
    res = qgis_process.run(
        "idfhr:report",
        {"INPUT": f"{runs['runs']}|layername=det_2026", "OUTPUT": str(pdf), "OUTPUT_HTML": str(html)},
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    assert pdf_pages(pdf) == 2
    text = pdf_text(pdf)
    assert "Rapport de détection" in text and "Sobriété" in text
    assert "data:image/png;base64," in html.read_text(encoding="utf-8")


def test_qgis_process_refuses_a_layer_that_is_not_a_result_with_a_sentence(
    qgis_process, shared_data, tmp_path
):
    pdf = tmp_path / "rapport.pdf"
    res = qgis_process.run(
        "idfhr:report",
        {"INPUT": str(shared_data / "admin" / "paris_arrondissements.geojson"), "OUTPUT": str(pdf)},
    )
    assert res["_returncode"] != 0
    assert "is not stored in a GeoPackage" in res["_stderr"] + res["_stdout"]
    assert not pdf.exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", PROJ_DATA="/usr/share/proj")
    return subprocess.run(
        [sys.executable, "-m", "idf_hr_plugin", "report", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_report_in_english_with_zones_from_a_file(runs, shared_data, tmp_path):
    pdf = tmp_path / "report.pdf"
    zones = shared_data / "admin" / "communes-ile-de-france.geojson"
    proc = _cli(
        str(runs["changes"]),
        "--out",
        str(pdf),
        "--lang",
        "en",
        "--runs",
        str(runs["runs"]),
        "--zones",
        str(zones),
    )
    assert proc.returncode == 0, proc.stderr
    assert str(pdf) in proc.stdout
    text = pdf_text(pdf)
    assert "Change report between vintages" in text and "Frugality" in text
    # the IGN ortho lies near Montpellier: outside every Île-de-France commune, so no zone row
    assert "None of the zones given overlaps the analysed extent." in text


def test_cli_report_user_errors_exit_2_with_one_sentence(runs, tmp_path):
    proc = _cli(str(runs["runs"]), "--out", str(tmp_path / "r.pdf"))
    assert proc.returncode == 2
    assert "holds several layers" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli(str(runs["runs"]), "--layer", "det_2026", "--out", str(tmp_path / "r.docx"))
    assert proc.returncode == 2 and "must end in .pdf" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_demo_analysis_writes_the_change_report_for_saint_maur(qgis_app, demo_region, shared_data, tmp_path):
    from idf_hr_plugin.gis.demo_analysis import run_analysis_demo
    from idf_hr_plugin.gis.demo_job import pack_extent

    lines: list[str] = []
    out = run_analysis_demo(
        tmp_path,
        pack_extent(demo_region.bounds, 200.0),
        boundaries_file=str(shared_data / "admin" / "mgp_communes_with_ept.geojson"),
        log=lines.append,
    )
    assert out["report_pdf"].is_file() and out["report_png"].is_file()
    assert any(str(out["report_pdf"]) in line for line in lines)  # the demo says where the report is
    text = pdf_text(out["report_pdf"])
    assert "Saint-Maur-des-Fossés" in text and "Rapport de changements entre millésimes" in text
    assert "SYNTHÉTIQUES" in text  # synthetic imagery is said so on the report
    assert "2024" in text and "2026" in text  # both runs' cost is reported
    assert "Licence Ouverte" in text  # the commune boundaries' source and licence
