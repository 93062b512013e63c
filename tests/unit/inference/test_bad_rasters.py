"""Item 9 of issue 7 (raster half): a truncated or damaged raster is refused with one sentence
naming the file, before any work, in the engine, the ``detect`` CLI and the ``download`` CLI."""

from __future__ import annotations

import pytest

from idf_hr_plugin import cli
from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.inference import run_detection
from idf_hr_plugin.core.inference.reader import RasterioWindowReader
from idf_hr_plugin.core.inference.tiling import plan_tiles

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0


def _cog(tmp_path, name="full.tif"):
    import rasterio
    from rasterio.shutil import copy

    src = make_raster(tmp_path / "plain.tif", size=(600, 600), squares=[(X0 + 30.0, Y0 - 30.0, 4.0)])
    out = tmp_path / name
    with rasterio.open(src) as ds:
        copy(ds, out, driver="COG", compress="DEFLATE", blocksize=256)
    return out


def _truncated(tmp_path, keep: int | float):
    full = _cog(tmp_path)
    data = full.read_bytes()
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    out = tmp_path / f"cut_{n}.tif"
    out.write_bytes(data[:n])
    return out


@pytest.mark.parametrize("keep", [1024, 0.6])
def test_truncated_geotiff_is_refused_before_work(models, tmp_path, keep):
    bad = _truncated(tmp_path, keep)
    with pytest.raises(UserInputError, match="incomplete") as err:
        run_detection(models["yolov8"], str(bad), out_path=tmp_path / "o.gpkg")
    assert str(bad) in str(err.value) and "coordinate reference system" not in str(err.value)
    assert not (tmp_path / "o.gpkg").exists()


def test_damaged_block_is_a_sentence_not_a_traceback(tmp_path):
    import rasterio

    full = _cog(tmp_path)
    with rasterio.open(full) as ds:
        off = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
        size = int(ds.get_tag_item("BLOCK_SIZE_1_1", "TIFF", bidx=1))
    data = bytearray(full.read_bytes())
    data[off : off + size] = b"\xff" * size  # not DEFLATE any more, same length
    bad = tmp_path / "damaged.tif"
    bad.write_bytes(bytes(data))
    plan = plan_tiles(str(bad), tile_size=256, overlap=0)
    with RasterioWindowReader(str(bad), plan.grid, [1, 2, 3]) as reader:
        with pytest.raises(UserInputError, match="could not be read") as err:
            reader.read(256, 256, 256, 256)
    assert str(bad) in str(err.value)


def test_cli_detect_on_truncated_raster_exits_2(models, tmp_path, capsys):
    bad = _truncated(tmp_path, 0.6)
    code = cli.main(
        ["detect", "--model", str(models["yolov8"]), "--raster", str(bad), "--out", str(tmp_path / "o.gpkg")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and str(bad) in err and "incomplete" in err
    assert not (tmp_path / "o.gpkg").exists()


@pytest.mark.parametrize("keep", [1024, 0.6])
def test_cli_download_of_truncated_raster_exits_2(tmp_path, capsys, keep):
    bad = _truncated(tmp_path, keep)
    out = tmp_path / "pack.tif"
    code = cli.main(
        ["download", "--source", str(bad), "--extent", f"{X0},{Y0 - 60},{X0 + 60},{Y0}", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and str(bad) in err and "incomplete" in err
    assert not out.exists()


def test_cli_detect_on_truncated_remote_cog_exits_2(models, tmp_path, loopback, capsys, monkeypatch):
    monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")  # no folder listing on this server
    served = tmp_path / "www"
    served.mkdir()
    bad = _truncated(tmp_path, 0.6)
    (served / "cut.tif").write_bytes(bad.read_bytes())
    srv = loopback(served)
    url = f"/vsicurl/{srv.url}/cut.tif"
    code = cli.main(
        [
            "detect",
            "--model",
            str(models["yolov8"]),
            "--raster",
            url,
            "--out",
            str(tmp_path / "o.gpkg"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "cut.tif" in err and "could not be read" in err
    assert not (tmp_path / "o.gpkg").exists()
