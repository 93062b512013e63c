"""The demo region's static catalog through the catalog core: search, then a mosaic of one vintage."""

from __future__ import annotations

import pytest
import rasterio

from idf_hr_plugin.core.catalog.model import SearchQuery, SourceConfig
from idf_hr_plugin.core.catalog.mosaic import build_mosaic_vrt
from idf_hr_plugin.core.catalog.stac_static import StaticStacSource


def test_demo_catalog_search_and_mosaic(tmp_path):
    from idf_hr_plugin.demo import ensure_demo_region

    region = ensure_demo_region(tmp_path / "demo", size_m=200, tile_m=100)
    src = StaticStacSource(SourceConfig("demo", "Démo", "demo"), location=str(region.catalog_path))
    items = list(src.search(SearchQuery()))
    assert items and not src.warnings
    years = {it.year for it in items}
    assert years == {2024, 2026}
    assert all(it.epsg == 2154 and it.raster_assets() for it in items)
    coarse = [it for it in items if it.year == 2024 and it.gsd and it.gsd > 0.1]
    assert len(coarse) >= 2
    assert all(it.raster_assets()[0].href.startswith(str(region.root)) for it in coarse)
    only_2026 = list(src.search(SearchQuery(datetime_start="2025-01-01")))
    assert only_2026 and all(it.year == 2026 for it in only_2026)

    vrt = build_mosaic_vrt(coarse, tmp_path / "mosaic_2024.vrt")
    with rasterio.open(vrt) as ds:
        assert ds.crs.to_epsg() == 2154
        assert tuple(ds.bounds) == pytest.approx(tuple(region.bounds), abs=0.5)  # union of the tiles
        assert ds.read(1, window=((0, 10), (0, 10))).std() > 0  # real imagery, not blank
