"""Item 3 of issue 7: rasters in a projected CRS that is not in ground metres at the place
(Web Mercator, feet) are resampled to a metric CRS, so areas and the model's GSD are true."""

from __future__ import annotations

import pytest
from osgeo import ogr

from idf_hr_plugin.core.inference import plan_tiles, run_detection
from idf_hr_plugin.core.inference.tiling import ground_scale, metric_at_place

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0  # Paris, Lambert-93


def _areas(path, layer) -> list:
    ds = ogr.Open(str(path))
    return sorted(f.GetField("area_m2") for f in ds.GetLayerByName(layer))


def _to_3857(src_path, dst_path):
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(src_path) as src:
        t, w, h = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
        profile = src.profile | {"crs": "EPSG:3857", "transform": t, "width": w, "height": h}
        with rasterio.open(dst_path, "w", **profile) as dst:
            for b in range(1, src.count + 1):
                reproject(
                    rasterio.band(src, b),
                    rasterio.band(dst, b),
                    dst_transform=t,
                    dst_crs="EPSG:3857",
                    resampling=Resampling.nearest,
                )
    return dst_path


def test_web_mercator_scale_is_measured_not_listed():
    from rasterio.crs import CRS

    # Paris: 1 Web Mercator unit is cos(48.85°) ≈ 0.66 ground metre; Lambert-93 is metric there
    assert ground_scale(CRS.from_epsg(3857), 261000.0, 6250000.0) == pytest.approx(1.52, abs=0.01)
    assert metric_at_place(CRS.from_epsg(2154), (X0, Y0 - 100, X0 + 100, Y0))[0]
    assert metric_at_place(CRS.from_epsg(32631), (450000, 5400000, 450100, 5400100))[0]
    # a CRS in US feet is not in metres either
    ok, k = metric_at_place(CRS.from_epsg(2263), (1e6, 2e5, 1e6 + 100, 2e5 + 100))
    assert not ok and k == pytest.approx(3.2808, abs=1e-3)


def test_same_scene_in_2154_and_3857_gives_the_same_areas(models, tmp_path):
    squares = [(X0 + 30.0, Y0 - 30.0, 6.0), (X0 + 80.0, Y0 - 70.0, 4.0)]
    l93 = make_raster(tmp_path / "l93.tif", size=(600, 600), squares=squares)
    merc = _to_3857(l93, tmp_path / "merc.tif")
    a = run_detection(models["yolov8"], str(l93), out_path=tmp_path / "a.gpkg")
    b = run_detection(models["yolov8"], str(merc), out_path=tmp_path / "b.gpkg")
    areas_l93 = _areas(tmp_path / "a.gpkg", a.layer)
    areas_merc = _areas(tmp_path / "b.gpkg", b.layer)
    assert areas_l93 == pytest.approx([16.0, 36.0])
    assert len(areas_merc) == 2
    for x, y in zip(areas_l93, areas_merc):
        assert y == pytest.approx(x, rel=0.1)  # not 2.3x
    assert b.km2 == pytest.approx(a.km2, rel=0.05)
    assert b.parameters["gsd_m"] == pytest.approx(0.2, rel=0.05)  # ground metres, not 0.3 "units"
    assert b.crs == "EPSG:2154"
    assert any("EPSG:3857" in n and "EPSG:2154" in n and "metric" in n for n in b.notes)


def test_real_web_mercator_image_is_planned_in_lambert93(shared_data):
    plan = plan_tiles(str(shared_data / "imagery/oils.tif"), tile_size=256, overlap=16)
    assert plan.grid.crs.to_epsg() != 3857 and not plan.grid.native
    assert any("EPSG:3857" in n for n in plan.notes)
