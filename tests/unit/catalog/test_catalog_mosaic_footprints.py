"""Mosaic VRTs of items (local and over HTTP) and GeoJSON footprints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from idf_hr_plugin.core.catalog.footprints import (
    FOOTPRINT_FIELDS,
    item_to_feature,
    items_to_feature_collection,
    write_footprints_geojson,
)
from idf_hr_plugin.core.catalog.model import COG_MEDIA_TYPE, Asset, Item
from idf_hr_plugin.core.catalog.mosaic import build_mosaic_vrt, gdal_path
from idf_hr_plugin.core.errors import UserInputError


def _tif(path, x0, y0, bands=3, crs="EPSG:2154", value=100):
    data = np.full((bands, 50, 50), value, dtype="uint8")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=50,
        height=50,
        count=bands,
        dtype="uint8",
        crs=crs,
        transform=from_origin(x0, y0, 0.2, 0.2),
        tiled=True,
        blockxsize=32,
        blockysize=32,
    ) as ds:
        ds.write(data)
    return path


def _item(i, href):
    return Item(
        id=f"t{i}",
        source_id="s",
        collection="c",
        datetime="2024-06-01T00:00:00Z",
        gsd=0.2,
        bbox=(2.3, 48.8, 2.31, 48.81),
        assets={
            "image": Asset("image", href, COG_MEDIA_TYPE, ["data"]),
            "thumbnail": Asset("thumbnail", href.replace(".tif", ".png"), "image/png", ["thumbnail"]),
        },
    )


@pytest.fixture
def two_tiles(tmp_path):
    d = tmp_path / "tiles"
    d.mkdir()
    a = _tif(d / "a.tif", 650000.0, 6860010.0, value=50)
    b = _tif(d / "b.tif", 650010.0, 6860010.0, value=200)  # right of a
    return a, b


def test_local_mosaic_has_union_bounds(two_tiles, tmp_path):
    a, b = two_tiles
    out = build_mosaic_vrt([_item(0, str(a)), _item(1, str(b))], tmp_path / "out" / "mosaic.vrt")
    with rasterio.open(out) as ds:
        assert ds.count == 3 and ds.crs.to_epsg() == 2154
        assert tuple(ds.bounds) == pytest.approx((650000.0, 6860000.0, 650020.0, 6860010.0))
        px = ds.read(1)
        assert px[0, 0] == 50 and px[0, -1] == 200
    assert [p.name for p in out.parent.iterdir()] == ["mosaic.vrt"]  # no temporary left


def test_remote_mosaic_goes_through_vsicurl(two_tiles, loopback, tmp_path):
    a, b = two_tiles
    srv = loopback(a.parent)
    items = [_item(0, f"{srv.url}/a.tif"), _item(1, f"{srv.url}/b.tif")]
    out = build_mosaic_vrt(items, tmp_path / "remote.vrt")
    assert f"/vsicurl/{srv.url}/a.tif" in out.read_text()
    with rasterio.open(out) as ds:
        assert tuple(ds.bounds) == pytest.approx((650000.0, 6860000.0, 650020.0, 6860010.0))
        assert ds.read(1)[25, 75] == 200
    assert srv.range_requests > 0


def test_mixing_crs_or_band_counts_is_refused(two_tiles, tmp_path):
    a, _b = two_tiles
    merc = _tif(tmp_path / "merc.tif", 256000.0, 6250000.0, crs="EPSG:3857")
    gray = _tif(tmp_path / "gray.tif", 650010.0, 6860010.0, bands=1)
    with pytest.raises(UserInputError, match="coordinate systems"):
        build_mosaic_vrt([_item(0, str(a)), _item(1, str(merc))], tmp_path / "x.vrt")
    with pytest.raises(UserInputError, match="band counts"):
        build_mosaic_vrt([_item(0, str(a)), _item(1, str(gray))], tmp_path / "y.vrt")
    with pytest.raises(UserInputError, match="cannot be opened"):
        build_mosaic_vrt([_item(0, str(tmp_path / "missing.tif"))], tmp_path / "z.vrt")
    assert not (tmp_path / "x.vrt").exists() and not list(tmp_path.glob("*.part"))


def test_gdal_path():
    assert gdal_path("/data/a.tif") == "/data/a.tif"
    assert gdal_path("https://h/a.tif") == "/vsicurl/https://h/a.tif"
    assert gdal_path("file:///data/a%20b.tif") == "/data/a b.tif"
    with pytest.raises(UserInputError, match="s3"):
        gdal_path("s3://b/a.tif")


def test_footprints(tmp_path):
    it = _item(0, "https://h/a.tif")
    it.assets["ir"] = Asset("ir", "https://h/a_ir.tif", COG_MEDIA_TYPE, ["data"])
    f = item_to_feature(it)
    assert f["geometry"]["type"] == "Polygon" and f["geometry"]["coordinates"][0][0] == [2.3, 48.8]
    p = f["properties"]
    assert [k for k, _ in FOOTPRINT_FIELDS] == list(p)
    assert p["id"] == "t0" and p["gsd"] == 0.2 and p["collection"] == "c" and p["source"] == "s"
    assert p["datetime"] == "2024-06-01T00:00:00Z"
    assert p["assets"] == "https://h/a.tif;https://h/a_ir.tif" and p["thumbnail"] == "https://h/a.png"
    out = write_footprints_geojson([it, _item(1, "/x/b.tif")], tmp_path / "fp.geojson")
    doc = json.loads(out.read_text())
    assert doc == items_to_feature_collection([it, _item(1, "/x/b.tif")])
    assert len(doc["features"]) == 2
