"""Tile matrix set maths against known tiles (WebMercatorQuad, IGN LAMB93_5cm_EPSG)."""

from __future__ import annotations

import math

import pytest
from pyproj import Transformer

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.tiles.tms import (
    LAMB93_5CM,
    TILE_MATRIX_SETS,
    WEB_MERCATOR_QUAD,
    tile_bounds,
    tiles_for_extent,
    zoom_for_resolution,
)

HALF = 20037508.34


def test_web_mercator_zoom0_covers_the_whole_world():
    b = tile_bounds(WEB_MERCATOR_QUAD, 0, 0, 0)
    assert b == pytest.approx((-HALF, -HALF, HALF, HALF), abs=0.01)
    assert tile_bounds(WEB_MERCATOR_QUAD, 1, 1, 0) == pytest.approx((0, 0, HALF, HALF), abs=0.01)
    assert WEB_MERCATOR_QUAD.scale_denominator(0) == pytest.approx(559082264.0287178, rel=1e-12)
    assert TILE_MATRIX_SETS["PM"] is WEB_MERCATOR_QUAD


def test_a_known_paris_tile():
    # Notre-Dame de Paris (2.3499 E, 48.8530 N) is in tile z=15 x=16597 y=11273 (XYZ = WMTS col/row).
    to_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x, y = to_3857.transform(2.3499, 48.8530)
    assert tiles_for_extent(WEB_MERCATOR_QUAD, 15, (x, y, x + 1, y + 1)) == [(16597, 11273)]
    # its corners from the slippy-map formulas, independently of the module
    n = 2**15

    def corner(col, row):
        lon = col / n * 360 - 180
        lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))
        return to_3857.transform(lon, lat)

    xmin, ymax = corner(16597, 11273)
    xmax, ymin = corner(16598, 11274)
    assert tile_bounds(WEB_MERCATOR_QUAD, 15, 16597, 11273) == pytest.approx(
        (xmin, ymin, xmax, ymax), abs=0.01
    )


def test_tiles_for_extent_is_exact_on_tile_edges_and_clipped():
    b = tile_bounds(WEB_MERCATOR_QUAD, 3, 2, 5)
    assert tiles_for_extent(WEB_MERCATOR_QUAD, 3, b) == [(2, 5)]  # touching neighbours excluded
    grown = (b[0] - 1, b[1], b[2] + 1, b[3])
    assert tiles_for_extent(WEB_MERCATOR_QUAD, 3, grown) == [(1, 5), (2, 5), (3, 5)]
    world = (-3e7, -3e7, 3e7, 3e7)
    assert len(tiles_for_extent(WEB_MERCATOR_QUAD, 2, world)) == 16
    assert tiles_for_extent(WEB_MERCATOR_QUAD, 2, (5, 5, 5, 9)) == []


def test_lambert93_matches_ign_capabilities():
    # Values of LAMB93_5cm_EPSG in the data.geopf.fr WMTS GetCapabilities.
    assert LAMB93_5CM.crs == "EPSG:2154" and LAMB93_5CM.origin == (0.0, 12_000_000.0)
    assert LAMB93_5CM.scale_denominator(22) == pytest.approx(178.5714285714286, rel=1e-12)
    assert LAMB93_5CM.scale_denominator(0) == pytest.approx(748982857.1428572, rel=1e-12)
    expected = {0: (1, 1), 6: (2, 13), 10: (25, 206), 16: (1575, 13138), 22: (100800, 840818)}
    for z, wh in expected.items():
        assert (LAMB93_5CM.matrix_widths[z], LAMB93_5CM.matrix_heights[z]) == wh
    # A 20 cm tile over Paris: 51.2 m square, aligned on the grid.
    z = zoom_for_resolution(LAMB93_5CM, 0.2)
    assert z == 20 and LAMB93_5CM.resolutions[z] == pytest.approx(0.2)
    ((col, row),) = tiles_for_extent(LAMB93_5CM, z, (652010, 6862010, 652011, 6862011))
    xmin, ymin, xmax, ymax = tile_bounds(LAMB93_5CM, z, col, row)
    assert xmax - xmin == pytest.approx(51.2) and xmin <= 652010 < xmax and ymin <= 6862010 < ymax
    assert (col, row) == (math.floor(652010 / 51.2), math.floor((12e6 - 6862011) / 51.2))


def test_zoom_for_resolution():
    assert zoom_for_resolution(WEB_MERCATOR_QUAD, 156543.04) == 0
    assert zoom_for_resolution(WEB_MERCATOR_QUAD, 0.3) == 19  # 0.2986 m/px
    assert zoom_for_resolution(LAMB93_5CM, 0.05) == 22
    assert zoom_for_resolution(LAMB93_5CM, 0.01) == 22  # finer than the finest: the finest
    assert zoom_for_resolution(LAMB93_5CM, 0.15) == 21  # 10 cm, never coarser than asked
    with pytest.raises(UserInputError):
        zoom_for_resolution(LAMB93_5CM, 0)
    with pytest.raises(UserInputError):
        tile_bounds(LAMB93_5CM, 23, 0, 0)
