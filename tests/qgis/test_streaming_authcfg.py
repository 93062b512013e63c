"""Streamed imagery behind authentication: read through the cache with the source's authcfg."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProject, QgsRectangle
from rasterio.windows import Window

from idf_hr_plugin.core.catalog.model import Asset, Item
from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.gis import cache_service
from idf_hr_plugin.gis.layers import imagery_layer
from tests.qgis.test_authcfg import basic_authcfg  # noqa: F401  (fixture)
from tests.unit.tiles.conftest import X0, Y0, write_cog

USER, PASSWORD = "technicien", "s3cret"  # the account of the basic_authcfg fixture


@pytest.fixture
def private_cog(tmp_path_factory, loopback):
    root = tmp_path_factory.mktemp("private")
    write_cog(root / "p.tif", 400, 300, seed=3)
    srv = loopback(root)
    srv.basic_auth = (USER, PASSWORD)
    return srv, root / "p.tif"


def _item(url: str) -> Item:
    asset = Asset("image", url, "image/tiff; application=geotiff", ["data"])
    return Item(id="p", source_id="private", datetime="2026-01-01", assets={"image": asset})


def test_imagery_behind_basic_auth_streams_with_authcfg_and_reopens(
    qgis_app,
    basic_authcfg,  # noqa: F811
    private_cog,
    tmp_path,
    _isolated_cache,
):
    srv, path = private_cog
    authcfg = basic_authcfg
    cache_service.stop()
    proxy = cache_service.start()
    try:
        with pytest.raises(UserInputError):
            imagery_layer([_item(f"{srv.url}/p.tif")], authcfg="")  # refused without credentials
        layer = imagery_layer([_item(f"{srv.url}/p.tif")], authcfg=authcfg)
        assert layer.isValid() and proxy.base_url in layer.source()
        block = layer.dataProvider().block(1, QgsRectangle(X0, Y0 - 10, X0 + 10, Y0), 50, 50)
        with rasterio.open(path) as ds:
            want = ds.read(1, window=Window(0, 0, 50, 50))
        np.testing.assert_array_equal(np.frombuffer(bytes(block.data()), np.uint8).reshape(50, 50), want)

        project = QgsProject.instance()
        project.clear()
        project.addMapLayer(layer)
        saved = tmp_path / "private.qgs"
        assert project.write(str(saved))
        text = saved.read_text(encoding="utf-8")
        assert f"/vsicurl/{srv.url}/p.tif#authcfg={authcfg}" in text and PASSWORD not in text

        cache_service.stop()
        cache_service.start()
        project.clear()
        assert project.read(str(saved))
        (reopened,) = project.mapLayers().values()
        assert reopened.isValid()  # read with the authcfg again, through the new proxy
        for f in _isolated_cache.rglob("*"):
            if f.is_file() and f.suffix != ".bin":
                assert PASSWORD.encode() not in f.read_bytes(), f
    finally:
        QgsProject.instance().clear()
        cache_service.stop()
