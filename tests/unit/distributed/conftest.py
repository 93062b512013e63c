"""A real Dask LocalCluster (2 worker processes on 127.0.0.1) and the demo imagery as COGs over
the loopback Range server, shared by the distributed tests of a session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MODEL = (
    Path(__file__).resolve().parents[3]
    / "idf_hr_plugin"
    / "resources"
    / "models"
    / "idfhr_demo_detector.onnx"
)


@pytest.fixture(scope="session")
def dask_client():
    pytest.importorskip("distributed", reason="dask distributed is a listed requirement (requirements.txt)")
    from idf_hr_plugin.core.distributed import connect

    with connect(workers=2) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture(scope="session")
def demo_cogs(demo_region, tmp_path_factory):
    """{year: URL of a COG of the whole demo vintage (20 cm) served with Range support}."""
    from osgeo import gdal

    from tests.servers import LoopbackServer

    root = tmp_path_factory.mktemp("cogs")
    for year, tifs in demo_region.vintages.items():
        vrt = gdal.BuildVRT(str(root / f"m{year}.vrt"), [str(p) for p in tifs])
        vrt = None  # noqa: F841  (flushes the VRT)
        gdal.Translate(str(root / f"demo_{year}.tif"), str(root / f"m{year}.vrt"), format="COG")
        os.unlink(root / f"m{year}.vrt")
    srv = LoopbackServer(root).start()
    yield {year: f"{srv.url}/demo_{year}.tif" for year in demo_region.vintages}
    srv.stop()


@pytest.fixture(scope="session")
def single_runs(demo_cogs, tmp_path_factory):
    """{year: GeoPackage of the single-process engine on the whole vintage}: the reference."""
    from idf_hr_plugin.core.inference import run_detection

    out = {}
    for year, url in demo_cogs.items():
        path = tmp_path_factory.mktemp("single") / f"single_{year}.gpkg"
        rep = run_detection(MODEL, url, out_path=path, vintage=str(year))
        out[year] = (path, rep.layer)
    return out


def read_layer(path, layer=None) -> list:
    """[(label, score, shapely geometry, (class_scores, tile_id) where the layer has them)] of a
    GeoPackage layer (the only detection layer if None)."""
    from osgeo import ogr
    from shapely import wkb

    ds = ogr.Open(str(path))
    if layer is None:
        names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
        layer = next(n for n in names if n != "idfhr_runs")
    lyr = ds.GetLayerByName(layer)
    defn = lyr.GetLayerDefn()
    extra = [n for n in ("class_scores", "tile_id") if defn.GetFieldIndex(n) >= 0]
    return [
        (
            f.GetField("label"),
            f.GetField("score"),
            wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())),
            tuple(f.GetField(n) for n in extra),
        )
        for f in lyr
    ]


def assert_same_features(a: list, b: list, tol: float = 1e-6) -> None:
    """Same count, and one-to-one the same label, score and geometry (vertices within ``tol`` m)."""
    assert len(a) == len(b)

    def key(r):
        return (r[0],) + tuple(round(v, 3) for v in r[2].bounds)

    sa, sb = sorted(a, key=key), sorted(b, key=key)
    for (la, sca, ga, xa), (lb, scb, gb, xb) in zip(sa, sb):
        assert la == lb and xa == xb  # label, top classes and tile of the plan
        assert abs(sca - scb) <= 1e-6
        # same vertices, or (unions of segmentation pieces) the same shape from another start vertex
        assert ga.equals_exact(gb, tol) or ga.hausdorff_distance(gb) <= tol, (ga.wkt, gb.wkt)
