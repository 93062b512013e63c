"""Processing and the dock say what went wrong: paging stopped early (catalog), the portal's own error (open data)."""

from __future__ import annotations

import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRectangle,
)

from idf_hr_plugin.processing.catalog_search import CatalogSearchAlgorithm
from tests.unit.catalog.conftest import api_proxy, stac_api  # noqa: F401  (fixtures: rustac + proxy)


class Feedback(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.warnings: list[str] = []

    def pushWarning(self, text):  # noqa: N802
        self.warnings.append(text)
        super().pushWarning(text)


def _run(params):
    alg = CatalogSearchAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = Feedback()
    results, ok = alg.run(params, context, feedback)
    return results, ok, feedback


def test_processing_pushes_a_warning_and_a_flag_when_paging_stops_early(qgis_app, api_proxy, tmp_path):  # noqa: F811
    srv = api_proxy(repeat_next=True)
    params = {"SOURCE": "", "URL": srv.url, "KIND": 0, "LIMIT": 1000, "OUTPUT": str(tmp_path / "fp.gpkg")}
    results, ok, feedback = _run(params)
    assert ok and results["COUNT"] == 200 and results["TRUNCATED"] is True
    assert any("the search stopped after 200 results" in w for w in feedback.warnings)
    complete, ok, feedback = _run({**params, "URL": api_proxy().url, "OUTPUT": str(tmp_path / "all.gpkg")})
    assert ok and complete["COUNT"] == 300 and complete["TRUNCATED"] is False and feedback.warnings == []


def test_processing_refuses_start_after_end_before_sending(qgis_app, api_proxy, tmp_path):  # noqa: F811
    srv = api_proxy()
    params = {
        "SOURCE": "",
        "URL": srv.url,
        "KIND": 0,
        "START": "2024-06-01",
        "END": "2021-01-01",
        "OUTPUT": str(tmp_path / "fp.gpkg"),
    }
    alg = CatalogSearchAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    feedback = Feedback()
    assert alg.prepare(params, context, feedback)
    with pytest.raises(Exception, match="start date 2024-06-01 is after the end date 2021-01-01"):
        alg.runPrepared(params, context, feedback)
    assert srv.log == []


def test_dock_shows_truncation_warning(plugin_iface, api_proxy):  # noqa: F811
    import idf_hr_plugin
    from idf_hr_plugin.core.catalog.model import SourceConfig
    from idf_hr_plugin.gis.settings import Settings
    from tests.qgis.conftest import wait_until

    srv = api_proxy(repeat_next=True)
    Settings.set_sources([SourceConfig(id="bug", name="API with a paging bug", kind="stac-api", url=srv.url)])
    Settings.SEARCH_LIMIT.set(1000)
    plugin = idf_hr_plugin.classFactory(plugin_iface)
    plugin.initGui()
    try:
        tab = plugin.dock.catalog_tab
        tab.reload_sources()
        tab.source_combo.setCurrentIndex(
            next(i for i in range(tab.source_combo.count()) if tab.source_combo.itemData(i).id == "bug")
        )
        tab.set_drawn_extent(QgsRectangle(1.9, 48.5, 2.9, 49.1), QgsCoordinateReferenceSystem("EPSG:4326"))
        tab.search_button.click()
        assert wait_until(lambda: tab.task is None, timeout=60), "search did not finish"
        assert len(tab.items) == 200
        assert "the search stopped after 200 results and more may exist" in tab.status.text()
    finally:
        plugin.unload()
        Settings.SOURCES_JSON.reset()
        Settings.LAST_SOURCE.reset()
        Settings.SEARCH_LIMIT.reset()


def test_opendataload_bad_where_quotes_the_portal(qgis_app, loopback, shared_data, tmp_path):
    from idf_hr_plugin.processing.opendata_load import OpenDataLoadAlgorithm
    from tests.unit.opendata.fakeportals import FakeOds, load_shared_datasets

    ods = FakeOds(loopback(), load_shared_datasets(shared_data))
    alg = OpenDataLoadAlgorithm()
    alg.initAlgorithm()
    params = {
        "PORTAL": ods.url,
        "DATASET": "les-arbres",
        "WHERE": "hauteurenm = = 20",
        "OUTPUT": str(tmp_path / "arbres.gpkg"),
    }
    context = QgsProcessingContext()
    feedback = Feedback()
    assert alg.prepare(params, context, feedback)
    with pytest.raises(Exception) as err:
        alg.runPrepared(params, context, feedback)
    msg = str(err.value)
    assert "refused the query on les-arbres: ODSQL query is malformed" in msg and "HTTP 400" not in msg
    assert not (tmp_path / "arbres.gpkg").exists()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda src, p: p.write_text(
                src.read_text(encoding="utf-8").replace("Code commune,Champ,", "Code commune,Indicateur,"),
                encoding="utf-8",
            ),
            r"row selector \(which rows hold the connectable premises\) \(looked for: Champ\)",
        ),
        (
            lambda src, p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40),
            r"ftth.csv is not a CSV/XLSX text file",
        ),
    ],
    ids=["champ-renamed", "binary"],
)
def test_fibrecoverage_refuses_unreadable_ftth_files(qgis_app, shared_data, tmp_path, make, expected):
    from idf_hr_plugin.processing.fibre_coverage import FibreCoverageAlgorithm

    ftth = tmp_path / "ftth.csv"
    make(shared_data / "arcep" / "ftthCommunes_IDF.csv", ftth)
    alg = FibreCoverageAlgorithm()
    alg.initAlgorithm()
    out = tmp_path / "coverage.gpkg"
    params = {
        "FTTH": str(ftth),
        "PREMISES": str(shared_data / "arcep" / "communes_IDF.csv"),
        "BOUNDARIES": str(shared_data / "admin" / "mgp_communes_with_ept.geojson"),
        "LEVEL": 0,
        "OUTPUT": str(out),
    }
    context = QgsProcessingContext()
    feedback = Feedback()
    assert alg.prepare(params, context, feedback)
    with pytest.raises(Exception, match=expected) as err:
        alg.runPrepared(params, context, feedback)
    assert "Unexpected error" not in str(err.value)
    assert not out.exists()
