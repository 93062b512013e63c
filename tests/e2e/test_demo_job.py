"""`make demo`'s job: search the demo catalog, pack part of it offline, detect, render, save a project."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
from osgeo import ogr

ROOT = Path(__file__).resolve().parents[2]


def run_demo_cli(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "idf_hr_plugin", "demo", "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def test_demo_cli_runs_the_whole_job(demo_region, tmp_path, _isolated_cache):
    out = tmp_path / "demo-output"
    proc = run_demo_cli(out)
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
    # the bundled model is published as a STAC MLM item that the model manager lists back
    from idf_hr_plugin.core.inference.models_registry import MlmCatalog

    models = MlmCatalog(str(out / "models_catalog")).models()
    assert len(models) == 1 and models[0].usable and models[0].sha256, models
    # issue 8: the demo compares 2024 with 2026 and hands over a report
    assert (out / "changes_2024_2026.gpkg").exists(), proc.stdout[-2000:]
    pdf = out / "rapport_changements.pdf"
    assert pdf.stat().st_size > 50_000 and (out / "rapport_changements_p1.png").exists()


def test_demo_project_opens_on_the_demo_region(demo_region, tmp_path, _isolated_cache):
    """`make qgis` opens the demo project: the map must show the packed area, not a blank 1:1 view."""
    out = tmp_path / "demo-output"
    proc = run_demo_cli(out, "--no-detect")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    opened = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("open_project.py")), str(out / "idf_hr_demo.qgz")],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert opened.returncode == 0, opened.stderr[-3000:]
    seen = json.loads(opened.stdout.strip().splitlines()[-1])
    assert all(lyr["valid"] for lyr in seen["layers"]), seen["layers"]
    x0, y0, x1, y1 = seen["extent"]
    rx0, ry0, rx1, ry1 = demo_region.bounds
    assert seen["crs"] == "EPSG:2154"
    # the view is the 400 m offline pack at the centre of the region, at a street-level scale
    assert rx0 < x0 < x1 < rx1 and ry0 < y0 < y1 < ry1
    assert 300 < x1 - x0 < 1_000
    assert 500 < seen["scale"] < 20_000
    # `make demo` also leaves a small offline kit of the demo commune, which opens with the network off
    kit = subprocess.run(
        ["unshare", "-n", sys.executable, str(Path(__file__).with_name("open_project.py"))]
        + [str(out / "kit_saint_maur" / "kit_saint_maur.qgz")],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert kit.returncode == 0, kit.stderr[-3000:]
    kit_layers = json.loads(kit.stdout.strip().splitlines()[-1])["layers"]
    assert len(kit_layers) == 3 and all(lyr["valid"] for lyr in kit_layers), kit_layers
