"""Offline kit end to end: built online from loopback servers, opened offline (``unshare -n``) elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

ROOT = Path(__file__).resolve().parents[2]
OPEN_PROJECT = Path(__file__).with_name("open_project.py")
MODEL = ROOT / "idf_hr_plugin" / "resources" / "models" / "idfhr_demo_detector.onnx"
# 400 m at the centre of the demo region (Saint-Maur-des-Fossés), where both vintages have 20 cm imagery
EXTENT = (662_300.0, 6_855_300.0, 662_700.0, 6_855_700.0)


def open_offline(project: Path) -> dict:
    """Open ``project`` in a fresh PyQGIS process with no network at all."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to open the kit without network")
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, str(OPEN_PROJECT), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PROJ_DATA": "/usr/share/proj"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "idf_hr_plugin", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def test_kit_built_online_opens_offline_on_another_machine(demo_region, loopback, shared_data, tmp_path):
    stac = loopback(demo_region.root)  # static STAC + COGs over HTTP with Range
    arcep = loopback(shared_data / "arcep")  # ARCEP files as downloaded from the observatory
    out = tmp_path / "build" / "kit_saint_maur"
    out.parent.mkdir()
    common = [
        "offline-kit",
        "--out",
        str(out),
        "--zone",
        "Saint-Maur-des-Fossés",
        "--extent",
        ",".join(str(v) for v in EXTENT),
        "--catalog",
        f"{stac.url}/catalog.json",
        "--vintage",
        "2024",
        "--vintage",
        "2026",
        "--gsd",
        "0.2",
        "--boundaries",
        str(shared_data / "admin" / "mgp_communes_with_ept.geojson"),
        "--ftth",
        f"{arcep.url}/ftthCommunes_IDF.csv",
        "--premises",
        f"{arcep.url}/communes_IDF.csv",
        "--opendata",
        str(shared_data / "opendata" / "velib-emplacement-des-stations.geojson"),
        "--model",
        str(MODEL),
    ]
    estimate = run_cli(*common, "--estimate")
    assert estimate.returncode == 0, estimate.stderr[-3000:]
    assert "Estimated size of the kit" in estimate.stdout and not out.exists()

    proc = run_cli(*common)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.parent.iterdir()) == ["kit_saint_maur"]  # no partial left
    manifest = json.loads((out / "kit.json").read_text())
    assert manifest["zone"] == "Saint-Maur-des-Fossés (94068)"
    assert {"imagery:2024", "imagery:2026", "boundaries", "fibre", "model:idfhr_demo_detector.onnx"} <= set(
        manifest["parts"]
    )
    assert "models/idfhr_demo_detector.json" in manifest["parts"]["model:idfhr_demo_detector.onnx"]["files"]
    for year in (2024, 2026):
        with rasterio.open(out / "imagery" / f"stac_{year}.tif") as ds:
            assert ds.crs.to_epsg() == 2154 and (ds.width, ds.height) == (2000, 2000)  # 400 m at 20 cm
            assert ds.overviews(1) and ds.tags()["vintage"] == str(year)
            assert ds.read(1, out_shape=(100, 100)).std() > 10  # imagery, not a blank
    for gpkg in (out / "vectors").glob("*.gpkg"):  # plain GeoPackages, as QField reads them
        con = sqlite3.connect(gpkg)
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47, gpkg
        assert con.execute("SELECT count(*) FROM gpkg_contents").fetchone()[0] >= 1
        con.close()

    # the folder goes to another laptop (another path), the original is gone, the network is off
    usb = tmp_path / "usb" / "kit_copy"
    shutil.copytree(out, usb)
    shutil.rmtree(out.parent)
    seen = open_offline(usb / "kit_saint_maur.qgz")
    assert seen["read"], seen["error"]
    assert seen["absolute_paths"] is False
    layers = {lyr["name"]: lyr for lyr in seen["layers"]}
    assert len(layers) == 5, list(layers)
    for lyr in layers.values():
        assert lyr["valid"], lyr
        assert lyr["provider"] in ("ogr", "gdal"), lyr  # no plugin-only provider
        assert lyr["source"].startswith(str(usb)), lyr  # relative paths resolved in the copy
    fibre = layers["FttH coverage by commune (ARCEP)"]
    assert "Licence Ouverte" in " ".join(fibre["licences"]) and "T1 2018" in fibre["abstract"]
    assert "Vintage: 2026" in layers["STAC 2026 — 20 cm"]["abstract"]
    # the map opens on the zone, not on a blank 1:1 view
    x0, y0, x1, y1 = seen["extent"]
    assert seen["crs"] == "EPSG:2154"
    assert x0 <= EXTENT[0] and x1 >= EXTENT[2] and y0 <= EXTENT[1] and y1 >= EXTENT[3]
    assert x1 - x0 < 2_000 and 500 < seen["scale"] < 20_000


def test_kit_refuses_an_existing_folder_and_a_zone_outside_the_mgp(shared_data, tmp_path):
    existing = tmp_path / "kit"
    existing.mkdir()
    (existing / "notes.txt").write_text("field notes")
    proc = run_cli("offline-kit", "--out", str(existing), "--zone", "94068", "--catalog", "none")
    assert proc.returncode == 2 and "already exists" in proc.stderr and "Traceback" not in proc.stderr
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]
    proc = run_cli(
        "offline-kit",
        "--out",
        str(tmp_path / "new"),
        "--zone",
        "Lyon",
        "--catalog",
        "none",
        "--boundaries",
        str(shared_data / "admin" / "mgp_communes_with_ept.geojson"),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert 'No commune or EPT of the Métropole du Grand Paris matches "Lyon"' in proc.stderr
    assert not (tmp_path / "new").exists()


def test_processing_offlinekit_builds_a_kit_without_imagery(qgis_process, shared_data, tmp_path):
    out = tmp_path / "kit_t10"
    result = qgis_process.run(
        "idfhr:offlinekit",
        {
            "ZONE": "Saint-Maur-des-Fossés",
            "SOURCE": "",
            "BOUNDARIES": shared_data / "admin" / "mgp_communes_with_ept.geojson",
            "FTTH": shared_data / "arcep" / "ftthCommunes_IDF.csv",
            "PREMISES": shared_data / "arcep" / "communes_IDF.csv",
            "MODELS": MODEL,
            "OUTPUT": out,
        },
    )
    assert result["_returncode"] == 0, result["_stdout"][-3000:] + result["_stderr"][-3000:]
    assert result["results"]["PROJECT"] == str(out / "kit_t10.qgz")
    seen = open_offline(out / "kit_t10.qgz")
    assert sorted(lyr["name"] for lyr in seen["layers"]) == [
        "Communes (MGP boundaries)",
        "FttH coverage by commune (ARCEP)",
    ]
    assert all(lyr["valid"] for lyr in seen["layers"])
    assert (out / "models" / "idfhr_demo_detector.json").exists()


def test_kit_built_with_the_network_off_carries_the_bundled_boundaries_and_fibre(tmp_path):
    out = tmp_path / "kit_offline"
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "idf_hr_plugin", "offline-kit", "--out", str(out)]
        + ["--zone", "Saint-Maur-des-Fossés", "--catalog", "none"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = open_offline(out / "kit_offline.qgz")
    layers = {lyr["name"]: lyr for lyr in seen["layers"]}
    communes, fibre = layers["Communes (MGP boundaries)"], layers["FttH coverage by commune (ARCEP)"]
    assert communes["valid"] and fibre["valid"]
    # what the user reads in the layer properties: licence, source and vintage of the bundled copies
    assert "Licence Ouverte" in " ".join(communes["licences"]) and "Vintage: 2018" in communes["abstract"]
    assert "ADMIN EXPRESS" in communes["abstract"]
    assert "Licence Ouverte" in " ".join(fibre["licences"]) and "T1 2018" in fibre["abstract"]
