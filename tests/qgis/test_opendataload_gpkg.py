"""``idfhr:opendataload`` into an existing GeoPackage: "Save to GeoPackage" (``ogr:dbname=… table=…``) writes
that table in place, and the file's other layers and tables are kept (also when the run fails)."""

from __future__ import annotations

from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject, QgsVectorLayer

from idf_hr_plugin.processing.destinations import decode_destination
from idf_hr_plugin.processing.opendata_load import OpenDataLoadAlgorithm
from tests.unit.opendata.fakeportals import FakeOds, load_shared_datasets
from tests.unit.opendata.test_gpkg_in_place import assert_user_data_kept, tables, user_gpkg


def _run(params):
    alg = OpenDataLoadAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    assert alg.prepare(params, context, feedback)
    results = alg.runPrepared(params, context, feedback)
    alg.postProcess(context, feedback)
    return results


def _failure(params) -> str:
    """The message of a run that must fail. Caught here so that no traceback keeps the Processing
    context alive until after QGIS has exited (that crashes the interpreter at exit)."""
    try:
        _run(params)
    except Exception as exc:  # noqa: BLE001 - any error is the expected failure; its text is checked
        return str(exc)
    return "the run did not fail"


def test_decode_save_to_geopackage_destination(qgis_app, tmp_path):
    gpkg = tmp_path / "mon projet.gpkg"
    assert decode_destination(f"ogr:dbname='{gpkg}' table=\"arbres\" (geom)") == (str(gpkg), "arbres", "ogr")
    assert decode_destination(str(gpkg))[:2] == (str(gpkg), None)
    assert decode_destination("postgres:dbname='gis' table=\"t\" (geom)")[2] == "postgres"


def test_save_to_geopackage_table_keeps_the_other_layers(qgis_app, loopback, shared_data, tmp_path):
    ods = FakeOds(loopback(), load_shared_datasets(shared_data))
    gpkg = user_gpkg(tmp_path / "mon projet.gpkg")
    dest = f"ogr:dbname='{gpkg}' table=\"arbres_paris\" (geom)"
    results = _run({"PORTAL": ods.url, "DATASET": "les-arbres", "OUTPUT": dest})
    assert results["OUTPUT"] == f"{gpkg}|layername=arbres_paris"
    assert tables(gpkg) == {"mine", "arbres_paris"}
    assert_user_data_kept(gpkg)
    layer = QgsVectorLayer(results["OUTPUT"], "arbres", "ogr")
    assert layer.isValid() and layer.featureCount() == results["FEATURE_COUNT"] > 0
    del layer  # an OGR layer still open on the file when QGIS exits crashes the interpreter
    assert "arbres_paris" not in {p.name for p in tmp_path.iterdir()}  # no file named after the URI

    # a failing run (the portal refuses the query) changes nothing in the file
    assert "malformed" in _failure(
        {"PORTAL": ods.url, "DATASET": "les-arbres", "WHERE": "hauteurenm = = 20", "OUTPUT": dest}
    )
    assert tables(gpkg) == {"mine", "arbres_paris"}
    assert_user_data_kept(gpkg)
