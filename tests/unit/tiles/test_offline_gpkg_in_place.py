"""An offline pack written into an existing GeoPackage is added in place: the user's layers stay."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import rasterio
from conftest import X0, Y0
from rasterio.windows import Window

from idf_hr_plugin.core.errors import Cancelled, UserInputError
from idf_hr_plugin.core.opendata import gpkgio
from idf_hr_plugin.core.tiles.offline import download_pack
from tests.unit.opendata.test_gpkg_in_place import assert_user_data_kept, tables, user_gpkg

EXTENT = (X0 + 20.1, Y0 - 200.05, X0 + 250.3, Y0 - 10.0)
SRC_WIN = Window(100, 50, 1152, 951)
META = {"licence": "Licence Ouverte 2.0", "attribution": "Synthetic test imagery"}


@pytest.fixture(scope="module")
def expected(cog_dir):
    with rasterio.open(cog_dir / "small.tif") as ds:
        return ds.read(window=SRC_WIN), ds.window_transform(SRC_WIN)


def _raster(gpkg, table):
    with rasterio.open(f"GPKG:{gpkg}:{table}") as ds:
        return ds.read(), ds.transform, ds.tags(), len(ds.overviews(1))


def test_pack_added_to_an_existing_geopackage_keeps_its_layers(cog_dir, expected, tmp_path):
    gpkg = user_gpkg(tmp_path / "projet.gpkg")
    res = download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", gpkg, fmt="GPKG", metadata=META)
    assert res.path == gpkg
    assert tables(gpkg) == {"mine", "projet"}
    assert_user_data_kept(gpkg)
    data, transform, tags, n_ovr = _raster(gpkg, "projet")
    np.testing.assert_array_equal(data, expected[0])
    assert transform.almost_equals(expected[1]) and n_ovr >= 1
    assert tags["licence"] == "Licence Ouverte 2.0" and tags["attribution"] == "Synthetic test imagery"

    # a second pack under its own table name, then the first one again: replaced, not doubled
    download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", gpkg, fmt="GPKG", layer="ortho_2")
    download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", gpkg, fmt="GPKG", resolution=0.4)
    assert tables(gpkg) == {"mine", "projet", "ortho_2"}
    assert_user_data_kept(gpkg)
    with rasterio.open(f"GPKG:{gpkg}:projet") as ds:
        assert ds.res == pytest.approx((0.4, 0.4))
    np.testing.assert_array_equal(_raster(gpkg, "ortho_2")[0], expected[0])
    con = sqlite3.connect(gpkg)
    try:
        assert con.execute(
            "SELECT COUNT(*) FROM gpkg_tile_matrix_set WHERE table_name = 'projet'"
        ).fetchone() == (1,)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["projet.gpkg"]


def test_cancel_while_writing_or_a_name_clash_leaves_the_geopackage_unchanged(cog_dir, tmp_path):
    gpkg = user_gpkg(tmp_path / "projet.gpkg")
    state = {"writing": False}

    def progress(fraction, _msg):
        state["writing"] = fraction >= 0.9

    with pytest.raises(Cancelled):
        download_pack(
            str(cog_dir / "small.tif"),
            EXTENT,
            "EPSG:2154",
            gpkg,
            fmt="GPKG",
            progress=progress,
            cancel=lambda: state["writing"],
        )
    assert tables(gpkg) == {"mine"}
    assert_user_data_kept(gpkg)
    # the user's vector layer 'mine' is never replaced by imagery
    with pytest.raises(UserInputError, match="vector layer named 'mine'.*nothing was changed"):
        download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", gpkg, fmt="GPKG", layer="mine")
    assert tables(gpkg) == {"mine"}
    assert [f["properties"]["name"] for f in gpkgio.read_features(gpkg, "mine")] == ["mairie"]
    assert_user_data_kept(gpkg)
    assert "projet.gpkg" in {p.name for p in tmp_path.iterdir()}
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
