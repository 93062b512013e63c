"""A project saved with streamed imagery reopens: after a restart (new proxy port) and without IdF HR."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProject, QgsRectangle
from rasterio.windows import Window

from idf_hr_plugin.core.catalog.model import Asset, Item
from idf_hr_plugin.gis import cache_service
from idf_hr_plugin.gis.layers import imagery_layer
from tests.unit.tiles.conftest import X0, Y0, write_cog

TIFF = "image/tiff; application=geotiff; profile=cloud-optimized"


@pytest.fixture(scope="module")
def two_cogs(tmp_path_factory):
    root = tmp_path_factory.mktemp("reopen_cogs")
    write_cog(root / "a.tif", 600, 500, seed=1)
    write_cog(root / "b.tif", 600, 500, seed=2)
    return root


@pytest.fixture
def fresh_service():
    cache_service.stop()
    yield
    cache_service.stop()


def _item(srv, name: str) -> Item:
    return Item(
        id=name,
        source_id="test",
        collection="thr",
        datetime="2026-06-15T11:00:00Z",
        gsd=0.2,
        assets={"image": Asset("image", f"{srv.url}/{name}.tif", TIFF, ["data"])},
    )


def _pixels(layer) -> np.ndarray:
    """Band 1 of the top-left 100 × 100 px, as QGIS draws it."""
    block = layer.dataProvider().block(1, QgsRectangle(X0, Y0 - 20, X0 + 20, Y0), 100, 100)
    return np.frombuffer(bytes(block.data()), dtype=np.uint8).reshape(100, 100)


def _expected(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1, window=Window(0, 0, 100, 100))


def _reopen(path) -> dict:
    project = QgsProject.instance()
    project.clear()
    assert project.read(str(path))
    return {lyr.name(): lyr for lyr in project.mapLayers().values()}


def test_project_with_streamed_imagery_reopens_after_restart_and_without_plugin(
    qgis_app, loopback, two_cogs, tmp_path, fresh_service
):
    srv = loopback(two_cogs)
    first = cache_service.start()
    assert first is not None
    first_url = first.base_url
    project = QgsProject.instance()
    project.clear()
    single = imagery_layer([_item(srv, "a")])
    single.setName("single")
    mosaic = imagery_layer([_item(srv, "a"), _item(srv, "b")])
    mosaic.setName("mosaic")
    assert first_url in single.source()  # this session streams through the cache proxy
    project.addMapLayers([single, mosaic])
    saved = tmp_path / "streamed.qgs"
    assert project.write(str(saved))

    text = saved.read_text(encoding="utf-8")
    assert first_url not in text and "/r/" not in text  # no proxy URL of a dead session
    assert first.secret not in text  # the relay secret is never saved
    assert f"/vsicurl/{srv.url}/a.tif" in text
    vrts = [d.split("</datasource>")[0] for d in text.split("<datasource>")[1:] if ".vrt<" in d]
    assert len(vrts) == 1
    assert "session-" not in vrts[0]  # the saved mosaic is the stable one, not this session's copy
    vrt_text = (saved.parent / vrts[0]).read_text(encoding="utf-8")
    assert f"/vsicurl/{srv.url}/b.tif" in vrt_text and first_url not in vrt_text

    want_a, want_b = _expected(two_cogs / "a.tif"), _expected(two_cogs / "b.tif")

    # QGIS restarted: a new proxy on another port
    cache_service.stop()
    second = cache_service.start()
    assert second.base_url != first_url
    layers = _reopen(saved)
    assert layers["single"].isValid() and layers["mosaic"].isValid()
    assert second.base_url in layers["single"].source()  # routed through the new proxy
    np.testing.assert_array_equal(_pixels(layers["single"]), want_a)
    np.testing.assert_array_equal(_pixels(layers["mosaic"]), want_b)  # the last tile is on top
    served = srv.range_requests
    assert served > 0

    # saving again from this session writes the same stable sources
    again = tmp_path / "again.qgs"
    assert QgsProject.instance().write(str(again))
    assert second.base_url not in again.read_text(encoding="utf-8")
    assert second.secret not in again.read_text(encoding="utf-8")  # the relay secret is never saved

    # IdF HR not installed: the project opens with plain /vsicurl/
    cache_service.stop()
    layers = _reopen(saved)
    assert layers["single"].isValid() and layers["mosaic"].isValid()
    assert layers["single"].source() == f"/vsicurl/{srv.url}/a.tif"
    np.testing.assert_array_equal(_pixels(layers["single"]), want_a)
    np.testing.assert_array_equal(_pixels(layers["mosaic"]), want_b)
    QgsProject.instance().clear()
