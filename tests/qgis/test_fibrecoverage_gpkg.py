"""``idfhr:fibrecoverage`` into an existing GeoPackage: "Save to GeoPackage" (``ogr:dbname=… table=…``)
writes that table in that file, keeps the file's other layers, and creates no folder named after the URI."""

from __future__ import annotations

from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject, QgsVectorLayer

from idf_hr_plugin.processing.fibre_coverage import FibreCoverageAlgorithm
from tests.unit.opendata.test_gpkg_in_place import assert_user_data_kept, tables, user_gpkg


def test_save_to_geopackage_table_writes_that_table_in_place(qgis_app, shared_data, tmp_path):
    gpkg = user_gpkg(tmp_path / "mon projet.gpkg")
    params = {
        "FTTH": str(shared_data / "arcep" / "ftthCommunes_IDF.csv"),
        "PREMISES": str(shared_data / "arcep" / "communes_IDF.csv"),
        "BOUNDARIES": str(shared_data / "admin" / "mgp_communes_with_ept.geojson"),
        "LEVEL": 1,
        "QUARTER": "T1 2018",
        "OUTPUT": f"ogr:dbname='{gpkg}' table=\"couverture_ept\" (geom)",
    }
    alg = FibreCoverageAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    assert alg.prepare(params, context, feedback)
    results = alg.runPrepared(params, context, feedback)
    alg.postProcess(context, feedback)

    assert results["OUTPUT"] == f"{gpkg}|layername=couverture_ept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mon projet.gpkg"]  # no "ogr:dbname='" folder
    assert tables(gpkg) == {"mine", "couverture_ept", "layer_styles"}  # + its default style
    assert_user_data_kept(gpkg)
    layer = QgsVectorLayer(results["OUTPUT"], "couverture", "ogr")
    assert layer.isValid() and layer.featureCount() == 12
