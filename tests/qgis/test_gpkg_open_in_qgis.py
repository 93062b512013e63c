"""A detection result written into a GeoPackage that QGIS has open (and edits) loses nothing."""

from __future__ import annotations

from osgeo import ogr, osr
from shapely.geometry import box

from idf_hr_plugin.core.inference.writer import FIELDS, write_gpkg

X0, Y0 = 652000.0, 6862000.0


def _write(out, layer: str, n: int = 3) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    geoms = [box(X0 + i, Y0 - 1, X0 + i + 0.5, Y0 - 0.5) for i in range(n)]
    records = {name: [1 if kind == "int" else 0.5 if kind == "real" else layer] * n for name, kind in FIELDS}
    return write_gpkg(out, layer, srs.ExportToWkt(), geoms, records, {"run_id": layer}, lock_wait_s=60)


def _labels(out, layer: str) -> list[str]:
    ds = ogr.Open(str(out))
    return sorted(f.GetField("label") for f in ds.GetLayerByName(layer))


def test_result_written_while_qgis_edits_the_file(qgis_new_project, tmp_path):
    from qgis.core import QgsProject, QgsVectorLayer

    out = tmp_path / "results.gpkg"
    _write(out, "earlier")
    layer = QgsVectorLayer(f"{out}|layername=earlier", "earlier", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    idx = layer.fields().indexOf("label")

    def edit(fid: int, text: str) -> None:
        assert layer.startEditing()
        assert layer.changeAttributeValue(fid, idx, text)
        assert layer.commitChanges(), layer.commitErrors()

    fids = sorted(f.id() for f in layer.getFeatures())
    edit(fids[0], "edited before the run")

    assert _write(out, "second") == "second"  # a run writes while the layer is open in QGIS

    edit(fids[1], "edited after the run")  # the user goes on editing in QGIS
    assert _labels(out, "earlier") == ["earlier", "edited after the run", "edited before the run"]
    assert _labels(out, "second") == ["second"] * 3
    second = QgsVectorLayer(f"{out}|layername=second", "second", "ogr")
    assert second.isValid() and second.featureCount() == 3
    assert layer.featureCount() == 3 and layer.isValid()
