"""``qgis_process run idfhr:catalogsearch`` / ``idfhr:downloadimagery`` with the real QGIS command line."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from osgeo import ogr
from rasterio.windows import from_bounds


def _extent_arg(b):
    return f"{b[0]},{b[2]},{b[1]},{b[3]} [EPSG:2154]"


def test_catalogsearch_demo_outputs_footprints(qgis_process, demo_region, tmp_path):
    out = tmp_path / "footprints.gpkg"
    res = qgis_process.run(
        "idfhr:catalogsearch",
        {
            "SOURCE": "demo",
            "EXTENT": _extent_arg(demo_region.bounds),
            "START": "2026-01-01",
            "OUTPUT": str(out),
        },
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    ds = ogr.Open(str(out))
    layer = ds.GetLayer(0)
    names = [
        layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())
    ]
    assert {"id", "datetime", "gsd", "collection", "assets"} <= set(names)
    feats = list(layer)
    assert feats, "no footprint written"
    assert all(f.GetField("datetime").startswith("2026") for f in feats)  # date filter applied
    assert all(f.GetField("assets").endswith(".tif") for f in feats)
    n_20cm = sum(1 for f in feats if abs(f.GetField("gsd") - 0.2) < 1e-6)
    assert n_20cm == len(demo_region.vintages[2026])


def test_catalogsearch_unknown_source_fails_clearly(qgis_process, tmp_path):
    res = qgis_process.run("idfhr:catalogsearch", {"SOURCE": "nope", "OUTPUT": str(tmp_path / "x.gpkg")})
    assert res["_returncode"] != 0
    assert "Unknown catalog source" in res["_stderr"] + res["_stdout"]
    assert not (tmp_path / "x.gpkg").exists()


def test_downloadimagery_writes_cog_with_source_pixels(qgis_process, demo_region, tmp_path):
    tile = demo_region.vintages[2024][0]
    with rasterio.open(tile) as src:
        b = src.bounds
        ext = (b.left + 20, b.bottom + 20, b.left + 320, b.bottom + 220)  # 1500 x 1000 px
        expected = src.read(window=from_bounds(*ext, transform=src.transform))
    out = tmp_path / "pack.tif"
    res = qgis_process.run(
        "idfhr:downloadimagery",
        {"SOURCE": str(tile), "EXTENT": _extent_arg(ext), "FORMAT": 0, "OUTPUT": str(out)},
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    with rasterio.open(out) as pack:
        assert pack.crs.to_epsg() == 2154
        assert pack.res == pytest.approx((0.2, 0.2))
        assert pack.overviews(1), "the pack has no overviews"
        assert pack.profile.get("tiled")
        data = pack.read()
    assert data.shape == expected.shape
    assert np.array_equal(data, expected)


def test_downloadimagery_reads_remote_imagery_through_the_persistent_cache(qgis_process, loopback, tmp_path):
    from tests.unit.tiles.conftest import X0, Y0, write_cog

    root = tmp_path / "www"
    root.mkdir()
    write_cog(root / "remote.tif", 800, 600)
    srv = loopback(root)
    extent = f"{X0 + 10},{X0 + 110},{Y0 - 110},{Y0 - 10} [EPSG:2154]"
    params = {"SOURCE": f"/vsicurl/{srv.url}/remote.tif", "EXTENT": extent, "FORMAT": 0}

    def download(name: str) -> dict:
        res = qgis_process.run("idfhr:downloadimagery", {**params, "OUTPUT": str(tmp_path / name)})
        assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
        return res

    download("first.tif")
    assert srv.range_requests > 0
    seen = len(srv.log)
    download("second.tif")
    assert len(srv.log) == seen  # a second identical download: no request reached the server
    srv.stop()
    download("offline.tif")  # the server is down: the imagery fetched before comes from the cache
    with rasterio.open(tmp_path / "first.tif") as a, rasterio.open(tmp_path / "offline.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
