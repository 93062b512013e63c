"""CLI ``detect`` on remote imagery reads through the persistent cache, like QGIS and ``download``."""

from __future__ import annotations

import os
import subprocess  # nosec B404 - our own CLI in a fresh interpreter
import sys
from pathlib import Path

from osgeo import ogr

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0  # Paris, Lambert-93
ROOT = Path(__file__).resolve().parents[3]


def _detect(model, source: str, out: Path, cache_root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, IDF_HR_CACHE_DIR=str(cache_root), PROJ_DATA="/usr/share/proj")
    args = ["detect", "--model", str(model), "--raster", source, "--out", str(out), "--conf", "0.5"]
    return subprocess.run(  # nosec B603 - fixed argv; a fresh process so GDAL's memory cache cannot help
        [sys.executable, "-m", "idf_hr_plugin", *args],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _count(gpkg: Path) -> int:
    ds = ogr.Open(str(gpkg))
    layer = next(
        ds.GetLayer(i) for i in range(ds.GetLayerCount()) if ds.GetLayer(i).GetName() != "idfhr_runs"
    )
    return layer.GetFeatureCount()


def test_cli_detect_on_remote_imagery_goes_through_the_persistent_cache(models, loopback, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    make_raster(served / "ortho.tif", size=(400, 400), squares=[(X0 + 20.0, Y0 - 20.0, 4.0)])
    srv = loopback(served)
    source = f"/vsicurl/{srv.url}/ortho.tif"
    cache_root = tmp_path / "cache"
    first = _detect(models["yolov8"], source, tmp_path / "a.gpkg", cache_root)
    assert first.returncode == 0, first.stderr[-2000:]
    assert srv.range_requests > 0
    seen = len(srv.log)
    second = _detect(models["yolov8"], source, tmp_path / "b.gpkg", cache_root)
    assert second.returncode == 0, second.stderr[-2000:]
    assert len(srv.log) == seen  # the same detection again: not one request reached the server
    origin = srv.url
    srv.stop()  # offline now: the imagery read before is still there
    third = _detect(models["yolov8"], source, tmp_path / "c.gpkg", cache_root)
    assert third.returncode == 0, third.stderr[-2000:]
    assert _count(tmp_path / "a.gpkg") == _count(tmp_path / "c.gpkg") == 1
    assert "127.0.0.1:" not in third.stdout.replace(origin, "")  # no proxy address shown to the user
