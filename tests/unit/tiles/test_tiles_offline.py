"""Offline packs: exact pixels, COG/GPKG outputs, cancel + resume, clean failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import X0, Y0
from rasterio.windows import Window

from idf_hr_plugin.core.errors import Cancelled, UserInputError
from idf_hr_plugin.core.tiles.offline import download_pack, partial_paths

# 20.1 m .. 250.3 m east and 10 m .. 200.05 m south of the COG's corner, in Lambert-93:
EXTENT = (X0 + 20.1, Y0 - 200.05, X0 + 250.3, Y0 - 10.0)
SRC_WIN = Window(100, 50, 1152, 951)  # the native pixels that cover it (snapped outwards)
META = {"licence": "Licence Ouverte 2.0", "attribution": "Synthetic test imagery"}


@pytest.fixture(scope="module")
def expected(cog_dir):
    with rasterio.open(cog_dir / "small.tif") as ds:
        return ds.read(window=SRC_WIN), ds.window_transform(SRC_WIN)


def check_pack(path, expected, overviews=True):
    data, transform = expected
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 2154
        assert ds.transform.almost_equals(transform)
        np.testing.assert_array_equal(ds.read(), data)
        if overviews:
            assert len(ds.overviews(1)) >= 1
        return ds.tags()


def test_local_cog_to_cog_keeps_native_pixels(cog_dir, expected, tmp_path):
    out = tmp_path / "packs" / "pack.tif"
    seen = []
    res = download_pack(
        str(cog_dir / "small.tif"),
        EXTENT,
        "EPSG:2154",
        out,
        metadata=META,
        progress=lambda f, m: seen.append(f),
    )
    tags = check_pack(out, expected)
    assert tags["licence"] == "Licence Ouverte 2.0" and tags["source"].endswith("small.tif")
    assert tags["extent_crs"] == "EPSG:2154" and tags["date"][:2] == "20"
    assert (res.width, res.height, res.pixels) == (1152, 951, 1152 * 951)
    assert res.blocks_done == res.blocks_total == 3 * 2 and not res.resumed
    assert res.bytes == out.stat().st_size and res.seconds > 0
    assert seen == sorted(seen) and seen[-1] == 1.0
    with rasterio.open(out) as ds:
        assert ds.profile.get("compress", "").lower() == "deflate" and ds.profile["blockxsize"] == 512
    assert sorted(p.name for p in out.parent.iterdir()) == ["pack.tif"]  # no partial, journal, temp


def test_http_cog_and_wgs84_extent(cog_dir, expected, tmp_path, loopback):
    srv = loopback(cog_dir)
    out = tmp_path / "http.tif"
    download_pack(f"/vsicurl/{srv.url}/small.tif", EXTENT, "EPSG:2154", out, block=256)
    check_pack(out, expected)
    assert srv.range_requests > 0
    # the same area given in lon/lat is reprojected into the source CRS (it grows a little)
    from rasterio.warp import transform_bounds

    ll = transform_bounds("EPSG:2154", "EPSG:4326", *EXTENT)
    res = download_pack(str(cog_dir / "small.tif"), ll, "EPSG:4326", tmp_path / "ll.tif")
    assert 1152 <= res.width <= 1200 and 951 <= res.height <= 1000


def test_geopackage_output(cog_dir, expected, tmp_path):
    out = tmp_path / "pack.gpkg"
    res = download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", out, fmt="GPKG", metadata=META)
    assert res.path == out
    tags = check_pack(out, expected)
    assert tags.get("attribution") == "Synthetic test imagery"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack.gpkg"]


def test_resampled_pack(cog_dir, tmp_path):
    res = download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", tmp_path / "r.tif", resolution=0.4)
    with rasterio.open(res.path) as ds:
        assert ds.res == pytest.approx((0.4, 0.4))
        assert ds.bounds.left <= EXTENT[0] < ds.bounds.left + 0.4
        assert ds.bounds.top >= EXTENT[3] > ds.bounds.top - 0.4
        assert 100 < ds.read(1).mean() < 200  # real imagery, not fill


def test_cancel_leaves_nothing_and_the_next_run_resumes(cog_dir, expected, tmp_path):
    out = tmp_path / "pack.tif"
    partial, journal = partial_paths(out)
    calls = []

    def cancel_after_7():
        calls.append(1)
        return len(calls) >= 7

    with pytest.raises(Cancelled, match="resume"):
        download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", out, block=256, cancel=cancel_after_7)
    assert not out.exists()
    assert partial.exists() and journal.exists()  # hidden, next to the destination
    res = download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", out, block=256)
    assert res.resumed and res.blocks_resumed == 6 and res.blocks_done == res.blocks_total == 20
    check_pack(out, expected)
    assert not partial.exists() and not journal.exists()


def test_cancel_while_writing_the_cog_then_resume(cog_dir, expected, tmp_path):
    out = tmp_path / "pack.tif"
    state = {"writing": False}

    def progress(fraction, _msg):
        state["writing"] = fraction >= 0.9

    with pytest.raises(Cancelled):
        download_pack(
            str(cog_dir / "small.tif"),
            EXTENT,
            "EPSG:2154",
            out,
            progress=progress,
            cancel=lambda: state["writing"],
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pack.tif.partial.json", ".pack.tif.partial.tif"]
    res = download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", out)
    assert res.resumed and res.blocks_resumed == res.blocks_total
    check_pack(out, expected)


def test_changed_arguments_start_over(cog_dir, tmp_path):
    out = tmp_path / "pack.tif"
    with pytest.raises(Cancelled):
        download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", out, block=256, cancel=lambda: True)
    other = (EXTENT[0], EXTENT[1], EXTENT[2] - 50, EXTENT[3])
    res = download_pack(str(cog_dir / "small.tif"), other, "EPSG:2154", out, block=256)
    assert not res.resumed and res.blocks_resumed == 0 and res.width == 1152 - 250


def test_unusable_destination_or_extent_is_a_clear_error(cog_dir, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(UserInputError, match="Cannot write the offline pack"):
        download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", blocker / "pack.tif")
    with pytest.raises(UserInputError, match="does not overlap"):
        download_pack(str(cog_dir / "small.tif"), (0, 0, 10, 10), "EPSG:2154", tmp_path / "x.tif")
    with pytest.raises(UserInputError, match="Could not open"):
        download_pack(str(tmp_path / "missing.tif"), EXTENT, "EPSG:2154", tmp_path / "x.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


KILLED_RUN = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from idf_hr_plugin.core.tiles.offline import download_pack
ext = tuple(float(v) for v in sys.argv[4].split(","))

def progress(fraction, msg):
    print(msg, flush=True)
    time.sleep(0.05)

download_pack(sys.argv[2], ext, "EPSG:2154", sys.argv[3], block=256, progress=progress, checkpoint_seconds=0)
"""


def test_a_killed_run_resumes(cog_dir, expected, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "pack.tif"
    root = str(Path(__file__).resolve().parents[3])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_RUN,
            root,
            str(cog_dir / "small.tif"),
            str(out),
            ",".join(map(str, EXTENT)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("Downloaded 8 of"):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    res = download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", out, block=256)
    assert res.resumed and 7 <= res.blocks_resumed < 20
    check_pack(out, expected)


def test_an_error_mid_run_keeps_finished_blocks_for_the_next_run(cog_dir, expected, tmp_path):
    out = tmp_path / "pack.tif"

    def failing_progress(fraction, msg):
        if msg.startswith("Downloaded 5 of"):
            raise RuntimeError("simulated crash in the caller")

    with pytest.raises(RuntimeError):
        download_pack(
            str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", out, block=256, progress=failing_progress
        )
    assert not out.exists()
    res = download_pack(str(cog_dir / "small.tif"), EXTENT, "EPSG:2154", out, block=256)
    assert res.resumed and res.blocks_resumed == 5
    check_pack(out, expected)


CLI_EXTENT = f"{X0 + 20},{Y0 - 120},{X0 + 120},{Y0 - 20}:2154"  # 500 × 500 px


def _cli_download(source: str, out, cache_root) -> subprocess.CompletedProcess:
    env = dict(os.environ, IDF_HR_CACHE_DIR=str(cache_root), PROJ_DATA="/usr/share/proj")
    return subprocess.run(  # a fresh process each time: GDAL's in-memory cache cannot help
        [
            sys.executable,
            "-m",
            "idf_hr_plugin",
            "download",
            "--source",
            source,
            "--extent",
            CLI_EXTENT,
            "--out",
            str(out),
        ],
        env=env,
        cwd=str(Path(__file__).resolve().parents[3]),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_download_goes_through_the_persistent_cache(cog_dir, loopback, tmp_path):
    srv = loopback(cog_dir)
    cache_root = tmp_path / "cache"
    source = f"/vsicurl/{srv.url}/small.tif"
    first = _cli_download(source, tmp_path / "a.tif", cache_root)
    assert first.returncode == 0, first.stderr
    assert srv.range_requests > 0
    seen = len(srv.log)
    second = _cli_download(source, tmp_path / "b.tif", cache_root)
    assert second.returncode == 0, second.stderr
    assert len(srv.log) == seen  # the same download again: not one request reached the server
    srv.stop()  # the server is down a minute later: the imagery fetched before is still there
    third = _cli_download(source, tmp_path / "c.tif", cache_root)
    assert third.returncode == 0, third.stderr
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "c.tif") as c:
        np.testing.assert_array_equal(a.read(), c.read())
        assert c.tags().get("source") == source  # the origin is recorded, not the local proxy


def test_download_with_credentials_in_the_url_keeps_them_out_of_the_pack_and_cache(
    cog_dir, loopback, tmp_path, _isolated_cache
):
    from idf_hr_plugin.core.tiles import service

    srv = loopback(cog_dir)
    srv.basic_auth = ("technicien", "pw-Secret-42")
    source = f"/vsicurl/http://technicien:pw-Secret-42@{srv.url.removeprefix('http://')}/small.tif"
    extent = (X0 + 20, Y0 - 60, X0 + 60, Y0 - 20)
    try:
        result = download_pack(source, extent, "EPSG:2154", tmp_path / "p.tif")
    finally:
        service.stop()
    with rasterio.open(result.path) as ds, rasterio.open(cog_dir / "small.tif") as ref:
        np.testing.assert_array_equal(ds.read(), ref.read(window=Window(100, 100, 200, 200)))
        assert ds.tags()["source"] == f"/vsicurl/{srv.url}/small.tif"
    assert b"pw-Secret-42" not in result.path.read_bytes()
    for f in _isolated_cache.rglob("*"):
        if f.is_file() and f.suffix != ".bin":
            assert b"pw-Secret-42" not in f.read_bytes(), f
