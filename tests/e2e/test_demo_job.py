"""`make demo`'s job: search the demo catalog, pack part of it offline, detect, render, save a project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
from osgeo import ogr

ROOT = Path(__file__).resolve().parents[2]


def test_demo_cli_runs_the_whole_job(demo_region, tmp_path, _isolated_cache):
    out = tmp_path / "demo-output"
    proc = subprocess.run(
        [sys.executable, "-m", "idf_hr_plugin", "demo", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "idfhr-demo-2026-20cm: 4 items" in proc.stdout
    pack = out / "offline_pack_2026.tif"
    with rasterio.open(pack) as ds:
        assert ds.crs.to_epsg() == 2154 and ds.overviews(1)
        assert (ds.width, ds.height) == (2000, 2000)  # 400 m at 20 cm
        assert ds.read(1, out_shape=(200, 200)).std() > 10  # imagery, not a blank
    png = out / "demo_map.png"
    assert png.stat().st_size > 100_000
    assert (out / "idf_hr_demo.qgz").exists()
    gpkg = out / "detections.gpkg"
    assert gpkg.exists(), proc.stdout
    ds = ogr.Open(str(gpkg))
    layer = next(
        ds.GetLayer(i) for i in range(ds.GetLayerCount()) if ds.GetLayer(i).GetName().startswith("idfhr_demo")
    )
    labels = [f.GetField("label") for f in layer]
    # the central 400 m of the region holds dozens of houses and trees: the bundled model finds them
    assert labels.count("building") > 50 and labels.count("tree") > 50
    assert np.isfinite(layer.GetFeatureCount())
