"""``idfhr:downloadimagery`` into a GeoPackage that already holds a raster table: the pack is added as a
second raster table, and the algorithm returns (and loads) ``GPKG:path:table`` so QGIS opens that table."""

from __future__ import annotations

import numpy as np
from osgeo import gdal, osr
from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingUtils,
    QgsProject,
    QgsRasterLayer,
)

from idf_hr_plugin.processing.download_imagery import DownloadImageryAlgorithm

X0, Y0, PX = 652000.0, 6862000.0, 0.2


def _tif(path, value: int) -> None:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 320, 320, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((X0, PX, 0, Y0, 0, -PX))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(1, 4):
        ds.GetRasterBand(b).WriteArray(np.full((320, 320), value + b, dtype=np.uint8))
    ds = None


def test_pack_added_to_a_geopackage_with_a_raster_loads_as_its_own_table(qgis_app, tmp_path):
    before, source = tmp_path / "before.tif", tmp_path / "ortho.tif"
    _tif(before, 10)
    _tif(source, 100)
    gpkg = tmp_path / "terrain.gpkg"
    gdal.Translate(str(gpkg), str(before), format="GPKG", creationOptions=["RASTER_TABLE=ortho_2021"])

    alg = DownloadImageryAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    params = {
        "SOURCE": str(source),
        "EXTENT": f"{X0},{X0 + 40},{Y0 - 40},{Y0} [EPSG:2154]",
        "FORMAT": 1,
        "OUTPUT": QgsProcessingOutputLayerDefinition(str(gpkg), QgsProject.instance()),
    }
    assert alg.prepare(params, context, feedback)
    results = alg.runPrepared(params, context, feedback)
    alg.postProcess(context, feedback)

    uri = f"GPKG:{gpkg}:terrain"
    assert results["OUTPUT"] == uri
    assert list(context.layersToLoadOnCompletion()) == [uri]  # what QGIS adds to the map
    pack = QgsProcessingUtils.mapLayerFromString(uri, context)  # as Processing loads results
    assert isinstance(pack, QgsRasterLayer) and pack.isValid()
    assert (pack.width(), pack.height()) == (200, 200)
    assert pack.dataProvider().sample(pack.extent().center(), 1)[0] == 101
    earlier = QgsRasterLayer(f"GPKG:{gpkg}:ortho_2021", "earlier")
    assert earlier.isValid() and earlier.dataProvider().sample(earlier.extent().center(), 1)[0] == 11
