"""The synthetic demo region: deterministic bytes, valid COGs, STAC shape, ground truth, realism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr
from rasterio.features import geometry_mask
from shapely import wkb

from idf_hr_plugin.demo import CLASSES, ensure_demo_region
from idf_hr_plugin.demo.generate import mosaic_array

SMALL = dict(size_m=200, seed=7, tile_m=100)


@pytest.fixture(scope="session")
def region(tmp_path_factory):
    return ensure_demo_region(tmp_path_factory.mktemp("demo") / "region", **SMALL)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _truth(region) -> list[dict]:
    ds = ogr.Open(str(region.ground_truth))
    lyr = ds.GetLayerByName("objects")
    rows = []
    for f in lyr:
        rows.append(
            {k: f.GetField(k) for k in ("class", "vintage", "object_id", "change")}
            | {"geom": wkb.loads(bytes(f.GetGeometryRef().ExportToWkb()))}
        )
    assert lyr.GetSpatialRef().GetAuthorityCode(None) == "2154"
    return rows


def test_same_seed_gives_identical_bytes_and_another_seed_differs(region, tmp_path):
    again = ensure_demo_region(tmp_path / "again", **SMALL)
    a, b = _files(region.root), _files(again.root)
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
    assert any(k.endswith(".tif") for k in a) and "ground_truth.gpkg" in a and "catalog.json" in a


def test_second_call_reuses_and_interrupted_regeneration_leaves_old_region(region):
    stamp = region.root / "demo_region.json"
    before = stamp.stat().st_mtime_ns
    assert ensure_demo_region(region.root, **SMALL).root == region.root
    assert stamp.stat().st_mtime_ns == before

    calls = []

    def boom(fraction, message):
        calls.append(message)
        if len(calls) == 3:
            raise KeyboardInterrupt("user cancelled")

    with pytest.raises(KeyboardInterrupt):
        ensure_demo_region(region.root, size_m=200, seed=8, tile_m=100, progress=boom)
    assert stamp.stat().st_mtime_ns == before
    assert json.loads(stamp.read_text())["seed"] == 7
    leftovers = [p.name for p in region.root.parent.iterdir() if p.name.startswith(".region")]
    assert leftovers == []


def test_tiles_are_georeferenced_cogs_labelled_synthetic(region):
    x0, y0, x1, y1 = region.bounds
    assert (x1 - x0, y1 - y0) == (200, 200) and region.crs == "EPSG:2154"
    assert set(region.vintages) == {2024, 2026} and set(region.subset_5cm) == {2024, 2026}
    for year, paths in list(region.vintages.items()) + list(region.subset_5cm.items()):
        union = [np.inf, np.inf, -np.inf, -np.inf]
        for p in paths:
            ds = gdal.Open(str(p))
            assert ds.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
            assert ds.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") in ("JPEG", "YCbCr JPEG")
            assert ds.RasterCount == 3
            band = ds.GetRasterBand(1)
            assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() is None
            assert band.GetBlockSize() == [512, 512]
            assert band.GetOverviewCount() >= 1
            assert ds.GetSpatialRef().GetAuthorityCode(None) == "2154"
            md = ds.GetMetadata()
            assert md["IDFHR_SYNTHETIC"] == "yes" and md["IDFHR_VINTAGE"] == str(year)
            assert "SYNTHETIC" in md["TIFFTAG_IMAGEDESCRIPTION"] and "Etalab-2.0" in md["IDFHR_LICENSE"]
            gt = ds.GetGeoTransform()
            b = (gt[0], gt[3] + gt[5] * ds.RasterYSize, gt[0] + gt[1] * ds.RasterXSize, gt[3])
            union = [min(union[0], b[0]), min(union[1], b[1]), max(union[2], b[2]), max(union[3], b[3])]
            assert f"_{year}_" in p.name
        expected = region.bounds if paths in region.vintages.values() else region.subset_bounds
        assert tuple(union) == pytest.approx(expected)
    assert len(region.vintages[2024]) == 4  # 200 m cut in 100 m tiles, like a delivery


def test_static_stac_catalog(region):
    cat = json.loads(region.catalog_path.read_text())
    assert cat["type"] == "Catalog" and cat["stac_version"].startswith("1.")
    assert "SYNTHETIC" in cat["description"]
    children = [link for link in cat["links"] if link["rel"] == "child"]
    ids = set()
    for link in children:
        cpath = (region.catalog_path.parent / link["href"]).resolve()
        coll = json.loads(cpath.read_text())
        for key in ("type", "stac_version", "id", "description", "license", "extent", "links"):
            assert key in coll
        assert coll["type"] == "Collection"
        ids.add(coll["id"])
        year, res = int(coll["id"].split("-")[2]), coll["id"].split("-")[3]
        tiles = (region.vintages if res == "20cm" else region.subset_5cm)[year]
        items = [link for link in coll["links"] if link["rel"] == "item"]
        assert len(items) == len(tiles)
        assert coll["extent"]["temporal"]["interval"][0][0].startswith(str(year))
        for il in items:
            ipath = (cpath.parent / il["href"]).resolve()
            item = json.loads(ipath.read_text())
            assert item["type"] == "Feature" and item["collection"] == coll["id"]
            for key in ("id", "geometry", "bbox", "properties", "assets", "links", "stac_version"):
                assert key in item
            props = item["properties"]
            assert props["datetime"].startswith(str(year)) and props["idfhr:synthetic"] is True
            assert props["proj:code"] == "EPSG:2154" and props["gsd"] == (0.2 if res == "20cm" else 0.05)
            lon0, lat0, lon1, lat1 = item["bbox"]
            assert 2.4 < lon0 < lon1 < 2.6 and 48.7 < lat0 < lat1 < 48.9  # Saint-Maur-des-Fossés
            img = item["assets"]["image"]
            assert img["type"] == "image/tiff; application=geotiff; profile=cloud-optimized" and img[
                "roles"
            ] == ["data"]
            assert img["href"].startswith("./")
            tif = (ipath.parent / img["href"]).resolve()
            assert tif.exists() and tif in [t.resolve() for t in tiles]
            with rasterio.open(tif) as src:
                assert list(props["proj:shape"]) == [src.height, src.width]
                assert props["proj:bbox"] == pytest.approx(list(src.bounds))
            th = item["assets"]["thumbnail"]
            assert th["roles"] == ["thumbnail"] and (ipath.parent / th["href"]).exists()
    assert ids == {
        "idfhr-demo-2024-20cm",
        "idfhr-demo-2026-20cm",
        "idfhr-demo-2024-5cm",
        "idfhr-demo-2026-5cm",
    }


def test_ground_truth_covers_all_classes_and_real_changes(region):
    rows = _truth(region)
    assert tuple(region.classes) == CLASSES
    x0, y0, x1, y1 = region.bounds
    for year in (2024, 2026):
        assert {r["class"] for r in rows if r["vintage"] == year} == set(CLASSES)
    for r in rows:
        gx0, gy0, gx1, gy1 = r["geom"].bounds
        assert x0 <= gx0 and gx1 <= x1 and y0 <= gy0 and gy1 <= y1, r
        assert r["geom"].is_valid and r["geom"].area > 0.5
        assert r["change"] in ("unchanged", "new", "removed")
    kinds = {(r["class"], r["vintage"], r["change"]) for r in rows}
    for need in [
        ("building", 2026, "new"),
        ("swimming_pool", 2026, "new"),
        ("solar_panel", 2026, "new"),
        ("tree", 2024, "removed"),
    ]:
        assert need in kinds
    # unchanged objects keep their id and exact footprint across vintages
    by = {(r["object_id"], r["vintage"]): r for r in rows}
    same = [r for r in rows if r["vintage"] == 2024 and r["change"] == "unchanged"]
    assert same and all(by[(r["object_id"], 2026)]["geom"].equals(r["geom"]) for r in same)


def _pixels_under(region, year, geom, paths, bounds, res):
    arr = mosaic_array(paths, bounds, int(round((bounds[2] - bounds[0]) / res)))
    transform = rasterio.transform.from_origin(bounds[0], bounds[3], res, res)
    inner = geom.buffer(-res)  # keep clear of the anti-aliased edge
    if inner.is_empty:
        return None
    mask = ~geometry_mask([inner], out_shape=arr.shape[:2], transform=transform)
    return arr[mask].astype(float) if mask.sum() >= 4 else None


def test_drawn_pixels_match_ground_truth_classes(region):
    rows = _truth(region)
    arrs = {y: mosaic_array(region.vintages[y], region.bounds, 1000) for y in (2024, 2026)}
    transform = rasterio.transform.from_origin(region.bounds[0], region.bounds[3], 0.2, 0.2)
    seen = {"swimming_pool": 0, "solar_panel": 0, "tree": 0}
    for r in rows:
        if r["class"] not in seen:
            continue
        inner = r["geom"].buffer(-0.25)
        if inner.is_empty:
            continue
        m = ~geometry_mask([inner], out_shape=(1000, 1000), transform=transform)
        if m.sum() < 4:
            continue
        px = arrs[r["vintage"]][m].astype(float).mean(axis=0)
        seen[r["class"]] += 1
        if r["class"] == "swimming_pool":  # turquoise water
            assert px[2] > px[0] + 40 and px[1] > px[0] + 40, (r, px)
        elif r["class"] == "solar_panel":  # dark blue-black arrays
            assert px.mean() < 95 and px[2] >= px[0], (r, px)
        else:  # green crowns
            assert px[1] >= px[0] and px.mean() < 140, (r, px)
    assert all(v > 0 for v in seen.values()), seen


def test_new_objects_change_the_pixels_between_vintages(region):
    rows = _truth(region)
    a = {y: mosaic_array(region.vintages[y], region.bounds, 1000).astype(float) for y in (2024, 2026)}
    transform = rasterio.transform.from_origin(region.bounds[0], region.bounds[3], 0.2, 0.2)
    for cls in ("building", "swimming_pool", "solar_panel"):
        g = next(r["geom"] for r in rows if r["class"] == cls and r["change"] == "new")
        m = ~geometry_mask([g.buffer(-0.3)], out_shape=(1000, 1000), transform=transform)
        diff = np.abs(a[2026][m] - a[2024][m]).mean()
        assert diff > 20, (cls, diff)


def test_imagery_has_aerial_texture_not_flat_fills(region, shared_data):
    def stats(arr):
        g = arr.astype(float).mean(axis=2)
        h, w = (g.shape[0] // 8) * 8, (g.shape[1] // 8) * 8
        blocks = g[:h, :w].reshape(h // 8, 8, w // 8, 8).std(axis=(1, 3))
        return float(np.median(blocks)), float(g.std()), float(arr.reshape(-1, 3).std(axis=0).mean())

    demo = mosaic_array(region.vintages[2024], region.bounds, 1000)
    with rasterio.open(shared_data / "imagery" / "ign_ortho_20cm_rgb_l93.tif") as src:
        real = np.moveaxis(src.read((1, 2, 3)), 0, -1)
    d_local, d_global, _ = stats(demo)
    r_local, r_global, _ = stats(real)
    assert d_local > 2.0  # sensor noise and textures everywhere: no flat fills
    assert 0.35 * r_local < d_local < 3 * r_local  # real IGN 20 cm: ~16; flat fills: ~2
    assert 0.4 * r_global < d_global < 2.5 * r_global
    assert 60 < demo.mean() < 170
    colours = np.unique(demo.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 5000
    fine = mosaic_array(region.subset_5cm[2026], region.subset_bounds, 1000)
    assert stats(fine)[0] > 1.0 and fine.shape == (1000, 1000, 3)


def test_preview_pngs_written(region):
    from PIL import Image

    with Image.open(region.root / "preview.png") as im:
        assert im.width > 2 * im.height * 0.9 and im.mode == "RGB"
    with Image.open(region.root / "preview_crop.png") as im:
        assert im.height == 400
