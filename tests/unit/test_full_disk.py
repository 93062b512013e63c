"""A full disk gives a clear message and leaves nothing half-written (a real 256 kB tmpfs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from idf_hr_plugin.core.errors import IdfHrError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _noisy_raster(path: Path, size: int = 1500) -> Path:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 255, (3, size, size), dtype=np.uint8)  # incompressible
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(662000, 6856000, 0.2, 0.2),
        tiled=True,
    ) as dst:
        dst.write(data)
    return path


def test_offline_pack_on_a_full_disk(tiny_disk, tmp_path):
    from idf_hr_plugin.core.tiles.offline import download_pack

    src = _noisy_raster(tmp_path / "src.tif")
    out = tiny_disk / "pack.tif"
    with pytest.raises(IdfHrError) as err:
        download_pack(str(src), (662000, 6855700, 662300, 6856000), "EPSG:2154", out, fmt="COG")
    assert "space" in str(err.value).lower() or "disk" in str(err.value).lower(), str(err.value)
    assert not out.exists()


def test_detection_output_on_a_full_disk_keeps_nothing(tiny_disk, tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_test_models

    from idf_hr_plugin.core.inference import run_detection

    src = _noisy_raster(tmp_path / "src.tif", 600)
    model = make_test_models.build("yolov8.onnx", tmp_path)
    filler = tiny_disk / "filler.bin"
    filler.write_bytes(b"\0" * 200_000)  # leave ~56 kB: a GeoPackage needs more
    out = tiny_disk / "out.gpkg"
    with pytest.raises(IdfHrError) as err:
        run_detection(str(model), str(src), out_path=out, conf=0.01)
    assert "space" in str(err.value).lower() or "disk" in str(err.value).lower(), str(err.value)
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler.bin"]


def test_segmentation_on_a_full_disk_keeps_nothing(tiny_disk, tmp_path):
    """Segments are staged next to the output while the run goes: a full disk stops the run with
    a message, and neither the staging file nor the output is left."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_test_models

    from idf_hr_plugin.core.inference import run_detection

    src = _noisy_raster(tmp_path / "src.tif", 600)  # noise: thousands of segments
    model = make_test_models.build("seg_sigmoid.onnx", tmp_path)
    filler = tiny_disk / "filler.bin"
    for room in (56_000, 150_000):  # too little for the staging file / filled while it is written
        filler.write_bytes(b"\0" * (256_000 - room))
        with pytest.raises(IdfHrError) as err:
            run_detection(str(model), str(src), out_path=tiny_disk / "out.gpkg", simplify_px=0.0)
        assert "space" in str(err.value).lower() or "disk" in str(err.value).lower(), str(err.value)
        assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler.bin"]
