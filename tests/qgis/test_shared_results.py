"""Shared results in QGIS: a saved PostgreSQL connection with an authcfg, the run loaded as a
PostGIS layer limited to an extent, and a catalog run loaded from its GeoPackage asset."""

from __future__ import annotations

import pytest
from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsDataSourceUri, QgsProject, QgsProviderRegistry

from idf_hr_plugin.core.sharing import publish_result, runs_from_catalog
from tests.postgis import DB, READER
from tests.sharing_data import detections_gpkg


@pytest.fixture
def pg_connection(qgis_app, postgis):
    """A QGIS saved PostgreSQL connection to the test server, the reader's password in an authcfg."""
    manager = QgsApplication.authManager()
    manager.setMasterPassword("idf-hr-test-master", True)
    cfg = QgsAuthMethodConfig("Basic")
    cfg.setName("idfhr-pg-reader")
    cfg.setConfig("username", READER[0])
    cfg.setConfig("password", READER[1])
    assert manager.storeAuthenticationConfig(cfg)[0]
    uri = QgsDataSourceUri()
    uri.setConnection(
        "127.0.0.1", str(postgis.port), DB, "", "", QgsDataSourceUri.SslMode.SslDisable, cfg.id()
    )
    md = QgsProviderRegistry.instance().providerMetadata("postgres")
    md.saveConnection(md.createConnection(uri.uri(False), {}), "shared results")
    yield "shared results"
    md.deleteConnection("shared results")
    manager.removeAuthenticationConfig(cfg.id())


def _qgis_features(layer) -> dict:
    return {
        f["fid"]: ({k: f[k] for k in layer.fields().names() if k != "fid"}, f.geometry().asWkt(6))
        for f in layer.getFeatures()
    }


def _ogr_features(gpkg, name) -> dict:
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(f"{gpkg}|layername={name}", "src", "ogr")
    return _qgis_features(lyr)


CHILD = r"""
import json, sys
from qgis.core import (QgsApplication, QgsAuthMethodConfig, QgsDataSourceUri, QgsProject,
                       QgsProviderRegistry, QgsVectorLayer)
app = QgsApplication([], False, sys.argv[1])
app.initQgis()
port, gpkg, layer, reader_user, reader_pw, db = sys.argv[2:8]
from idf_hr_plugin.core.sharing import runs_from_postgis
from idf_hr_plugin.gis.shared_results import add_shared_run, connection_dsn, postgres_connections
manager = QgsApplication.authManager()
manager.setMasterPassword("idf-hr-test-master", True)
cfg = QgsAuthMethodConfig("Basic")
cfg.setName("idfhr-pg-reader")
cfg.setConfig("username", reader_user)
cfg.setConfig("password", reader_pw)
assert manager.storeAuthenticationConfig(cfg)[0]
uri = QgsDataSourceUri()
uri.setConnection("127.0.0.1", port, db, "", "", QgsDataSourceUri.SslMode.SslDisable, cfg.id())
md = QgsProviderRegistry.instance().providerMetadata("postgres")
md.saveConnection(md.createConnection(uri.uri(False), {}), "shared results")

def feats(lyr):
    return {str(f["fid"]): [{k: str(f[k]) for k in lyr.fields().names() if k != "fid"}, f.geometry().asWkt(6)]
            for f in lyr.getFeatures()}

out = {"connections": postgres_connections()}
dsn = connection_dsn("shared results")
out["user_in_dsn"] = reader_user in dsn
(run,) = [r for r in runs_from_postgis(dsn) if r.run_id == "qgis-1"]
lyr = add_shared_run(run, connection="shared results")
out["provider"], out["count"] = lyr.providerType(), lyr.featureCount()
out["password_in_source"] = reader_pw in lyr.source()
out["same"] = feats(lyr) == feats(QgsVectorLayer(f"{gpkg}|layername={layer}", "src", "ogr"))
QgsProject.instance().removeMapLayer(lyr.id())
bbox = (656_000, 6_860_000, 656_150, 6_860_150)
part = add_shared_run(run, connection="shared results", bbox=bbox)
out["part_count"] = part.featureCount()
out["part_inside"] = all(
    f.geometry().boundingBox().xMinimum() <= bbox[2] and f.geometry().boundingBox().yMinimum() <= bbox[3]
    for f in part.getFeatures()
)
QgsProject.instance().removeMapLayer(part.id())
print("RESULT " + json.dumps(out))
"""


def test_postgis_run_loads_in_qgis_through_the_saved_connection_and_its_authcfg(postgis, tmp_path):
    """In a QGIS process of its own (own profile and authentication database): the saved
    connection's authcfg gives the credentials, the layer keeps only the authcfg, and the run
    loads whole or limited to an extent with the published features."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 40, run_id="qgis-1")
    publish_result(gpkg, "Vincennes", dsn=postgis.dsn())
    profile = tmp_path / "profile"
    profile.mkdir()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(root)}
    args = [str(profile), str(postgis.port), str(gpkg), layer, READER[0], READER[1], DB]
    proc = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=300, env=env, cwd=root
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    out = json.loads(lines[-1][len("RESULT ") :])
    assert "shared results" in out["connections"] and out["user_in_dsn"]
    assert out["provider"] == "postgres" and out["count"] == 40
    assert not out["password_in_source"]  # the project keeps the authcfg, not the password
    assert out["same"]
    assert 0 < out["part_count"] < 40 and out["part_inside"]


def test_catalog_run_loads_from_its_geopackage_asset(qgis_app, tmp_path):
    from idf_hr_plugin.gis.shared_results import add_shared_run

    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 15, run_id="qgis-2")
    publish_result(gpkg, "EPT T10", catalog_dir=tmp_path / "results")
    (run,) = runs_from_catalog(str(tmp_path / "results"))
    lyr = add_shared_run(run)
    try:
        assert lyr.featureCount() == 15 and "EPT T10" in lyr.name()
        assert _qgis_features(lyr) == _ogr_features(gpkg, layer)
    finally:
        QgsProject.instance().removeMapLayer(lyr.id())


@pytest.fixture
def plugin(plugin_iface):
    import idf_hr_plugin

    p = idf_hr_plugin.classFactory(plugin_iface)
    p.initGui()
    yield p
    p.unload()


def test_catalog_tab_lists_filters_and_adds_shared_runs(plugin, pg_connection, postgis, tmp_path):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle

    from tests.qgis.conftest import wait_until

    a, _ = detections_gpkg(tmp_path / "a.gpkg", 20, run_id="gui-a", vintage="2018")
    b, _ = detections_gpkg(tmp_path / "b.gpkg", 20, run_id="gui-b", vintage="2021", model="pools_v2")
    cat = tmp_path / "results"
    publish_result(a, "Vincennes", catalog_dir=cat, dsn=postgis.dsn())
    publish_result(b, "EPT T10", catalog_dir=cat, dsn=postgis.dsn())
    tab = plugin.dock.catalog_tab
    box = tab.shared_results
    # the extent of the search: the published area (Lambert-93)
    tab.set_drawn_extent(
        QgsRectangle(656_000, 6_860_000, 656_200, 6_860_200), QgsCoordinateReferenceSystem("EPSG:2154")
    )

    box.kind.setCurrentIndex(box.kind.findData("catalog"))
    box.location.setText(str(cat))
    box.partner.setText("ept t10")
    box.list_button.click()
    assert wait_until(lambda: box.task is None, timeout=60)
    assert [r.run_id for r in box.runs] == ["gui-b"], box.status.text()
    assert "EPT T10" in box.results.item(0).text()
    box.results.item(0).setSelected(True)
    (layer,) = box.add_selected_to_map()
    assert layer.providerType() == "ogr" and layer.featureCount() == 20
    QgsProject.instance().removeMapLayer(layer.id())

    # the same runs through PostGIS, dates from the tab: only the 2018 imagery
    box.kind.setCurrentIndex(box.kind.findData("postgis"))
    assert box.connection.findText(pg_connection) >= 0
    box.connection.setCurrentText(pg_connection)
    box.partner.setText("")
    tab.use_dates.setChecked(True)
    from qgis.PyQt.QtCore import QDate

    tab.date_from.setDate(QDate(2017, 1, 1))
    tab.date_to.setDate(QDate(2019, 12, 31))
    box.list_button.click()
    assert wait_until(lambda: box.task is None, timeout=60)
    assert [(r.partner, r.run_id) for r in box.runs if r.run_id.startswith("gui-")] == [
        ("Vincennes", "gui-a")
    ]
    # loading a PostGIS run goes through add_shared_run, tested in a QGIS process of its own above:
    # in this long-lived test process, QGIS's postgres provider aborted once after many other tests
