"""Browse a real WMTS server (qgis_mapserver), open its layer in its native Lambert-93 grid, read pixels."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle
from rasterio.transform import from_origin

from idf_hr_plugin.core.catalog.model import SearchQuery, SourceConfig
from idf_hr_plugin.core.catalog.sources import make_source
from idf_hr_plugin.gis.layers import imagery_layer
from tests.qgis.wmts_server import WmtsServer, write_wmts_project


@pytest.fixture(scope="module")
def wmts(tmp_path_factory, qgis_app):
    root = tmp_path_factory.mktemp("wmts")
    raster = root / "ortho.tif"
    # left half red, right half blue: easy to recognise in rendered tiles
    data = np.zeros((3, 800, 800), dtype="uint8")
    data[0, :, :400] = 220
    data[2, :, 400:] = 220
    data[1, 200:300, 100:200] = 250  # a green square: x 662020..662040, y 6855940..6855960
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=800,
        height=800,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(662000, 6856000, 0.2, 0.2),
    ) as dst:
        dst.write(data)
    with WmtsServer(write_wmts_project(raster, root / "wmts.qgs")) as server:
        yield server


def test_wmts_layer_found_and_opened_in_lambert93(wmts, tmp_path):
    source = make_source(SourceConfig(id="t", name="t", kind="wmts", url=wmts.capabilities_url))
    items = list(source.search(SearchQuery(bbox=(2.0, 48.5, 3.0, 49.2))))
    # qgis_mapserver publishes the project (root) and the layer itself
    assert sorted(it.wmts.layer for it in items) == ["ortho", "ortho_test"]
    item = next(it for it in items if it.wmts.layer == "ortho")
    assert item.wmts is not None
    assert item.wmts.crs == "EPSG:2154", "the Lambert-93 grid should be preferred when offered"
    layer = imagery_layer([item])
    assert layer.isValid(), layer.error().summary()
    assert layer.providerType() == "wms"
    assert layer.crs() == QgsCoordinateReferenceSystem("EPSG:2154")
    # render it with QGIS's map renderer, as the canvas would
    from qgis.PyQt.QtGui import QImage

    from idf_hr_plugin.gis.render import render_png

    png = render_png(
        [layer], tmp_path / "wmts.png", extent=QgsRectangle(662000, 6855840, 662160, 6856000), size=(200, 200)
    )
    img = QImage(str(png))
    left, right = img.pixelColor(40, 100), img.pixelColor(160, 100)
    assert left.red() > 150 and left.blue() < 80, left.name()  # red half
    assert right.blue() > 150 and right.red() < 80, right.name()  # blue half


def test_wmts_pack_offline(wmts, tmp_path):
    """The offline downloader reads the WMTS layer through GDAL's WMTS driver into a COG."""
    from idf_hr_plugin.core.tiles.offline import download_pack
    from idf_hr_plugin.gis.sources import gdal_source_for_layer

    source = make_source(SourceConfig(id="t", name="t", kind="wmts", url=wmts.capabilities_url))
    layer = imagery_layer([it for it in source.search(SearchQuery()) if it.wmts.layer == "ortho"])
    gdal_name = gdal_source_for_layer(layer)
    assert gdal_name.startswith("WMTS:")
    out = tmp_path / "wmts_pack.tif"
    res = download_pack(
        gdal_name, (662010, 6855900, 662150, 6855990), "EPSG:2154", out, fmt="COG", resolution=0.2
    )
    with rasterio.open(out) as pack:
        assert pack.crs.to_epsg() == 2154
        arr = pack.read()
        transform = pack.transform
    assert res.pixels > 0
    h, w = arr.shape[1:]
    assert arr[0, :, : w // 4].mean() > 150 and arr[2, :, -w // 4 :].mean() > 150
    # georeferencing survives the WMTS round trip: the green square is where it was drawn
    ys, xs = np.where(arr[1] > 150)
    x0, y1 = transform * (xs.min(), ys.min())
    x1, y0 = transform * (xs.max() + 1, ys.max() + 1)
    # qgis_mapserver 3.22 renders its WMTS tiles offset by (-1.4 m, +10.3 m) here — GDAL's and QGIS's
    # WMTS clients both see exactly that, so it is the fixture server's; a wrong tile matrix set or
    # axis order on our side would be off by hundreds of metres.
    assert x1 - x0 == pytest.approx(20, abs=0.5) and y1 - y0 == pytest.approx(20, abs=0.5)
    assert (x0, y0) == pytest.approx((662020, 6855940), abs=12)
