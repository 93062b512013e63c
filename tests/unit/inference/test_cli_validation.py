"""Item 11 of issue 7: every CLI option is checked before any work; a bad one exits 2 with one
sentence that names it (no traceback, no progress line, nothing written)."""

from __future__ import annotations

import pytest

from idf_hr_plugin import cli
from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.inference import run_detection

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0


@pytest.fixture
def detect_args(models, tmp_path):
    r = make_raster(tmp_path / "r.tif", size=(300, 300), squares=[(X0 + 20.0, Y0 - 20.0, 4.0)])
    return ["detect", "--model", str(models["yolov8"]), "--raster", str(r), "--out", str(tmp_path / "o.gpkg")]


def _run(argv, capsys) -> tuple:
    code = cli.main(argv)
    cap = capsys.readouterr()
    return code, cap.err


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--conf", "2"], ["--conf", "between 0 and 1"]),
        (["--conf", "-1"], ["--conf", "between 0 and 1"]),
        (["--conf", "nan"], ["--conf"]),
        (["--iou", "1.5"], ["--iou", "between 0 and 1"]),
        (["--batch", "-3"], ["--batch", "at least 1"]),
        (["--batch", "0"], ["--batch", "at least 1"]),
        (["--tile-size", "4"], ["--tile-size"]),
        (["--overlap", "-1"], ["--overlap", "at least 0"]),
        (["--tile-size", "256", "--overlap", "256"], ["overlap", "smaller than the tile size"]),
        (["--threads", "0"], ["--threads"]),
        (["--out-crs", "EPSG:999999"], ["--out-crs", "EPSG:999999"]),
        (["--out-crs", "Lambert 93 please"], ["--out-crs"]),
        (["--extent", "1,2,3"], ["extent"]),
        (["--extent", f"{X0 + 50},{Y0},{X0},{Y0 - 50}"], ["extent", "empty"]),
        (["--extent", f"{X0},{Y0 - 50},{X0 + 50},{Y0}:999999"], ["EPSG:999999"]),
        (["--mask", "/nonexistent/mask.gpkg"], ["mask", "/nonexistent/mask.gpkg", "does not exist"]),
    ],
)
def test_bad_detect_option_exits_2_before_any_work(detect_args, tmp_path, capsys, extra, words):
    code, err = _run(detect_args + extra, capsys)
    assert code == 2
    assert "Traceback" not in err and "tiles " not in err  # refused before the run, not after it
    for w in words:
        assert w in err
    assert not (tmp_path / "o.gpkg").exists()


def test_missing_raster_and_model_and_bad_output_folder(detect_args, tmp_path, capsys):
    args = list(detect_args)
    args[args.index("--raster") + 1] = str(tmp_path / "missing.tif")
    code, err = _run(args, capsys)
    assert code == 2 and "missing.tif" in err and "does not exist" in err
    args = list(detect_args)
    args[args.index("--model") + 1] = str(tmp_path / "missing.onnx")
    code, err = _run(args, capsys)
    assert code == 2 and "missing.onnx" in err
    args = list(detect_args)
    args[args.index("--out") + 1] = str(tmp_path / "no_such_folder" / "o.gpkg")
    code, err = _run(args, capsys)
    assert code == 2 and "no_such_folder" in err and "tiles " not in err


def test_good_options_still_run(detect_args, tmp_path, capsys):
    code, err = _run(
        detect_args + ["--conf", "0.5", "--iou", "0.4", "--batch", "2", "--out-crs", "EPSG:4326", "--quiet"],
        capsys,
    )
    assert code == 0 and (tmp_path / "o.gpkg").exists()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"conf": 2.0}, "confidence"),
        ({"batch_size": -3}, "batch size"),
        ({"out_crs": "EPSG:999999"}, "output CRS"),
        ({"overlap": 300, "tile_size": 256}, "overlap"),
    ],
)
def test_engine_refuses_bad_parameters_before_the_run(models, tmp_path, kwargs, words):
    r = make_raster(tmp_path / "r.tif", size=(300, 300))
    seen = []
    with pytest.raises(UserInputError, match=words):
        run_detection(
            models["yolov8"],
            str(r),
            out_path=tmp_path / "o.gpkg",
            progress=lambda *a: seen.append(a),
            **kwargs,
        )
    assert seen == [] and not (tmp_path / "o.gpkg").exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["catalog-search", "--limit", "0"], ["--limit"]),
        (["catalog-search", "--max-gsd", "-0.2"], ["--max-gsd", "greater than 0"]),
        (["catalog-search", "--bbox", "2.5,48.9,2.2,48.8"], ["bbox", "empty"]),
        (["catalog-search", "--bbox", "652000,6862000,653000,6863000"], ["WGS84"]),
        (["catalog-search", "--start", "2024-13-01"], ["--start", "date"]),
        (["catalog-search", "--start", "2024-06-01", "--end", "2023-01-01"], ["--start", "after"]),
        (["catalog-search", "--kind", "stac-api"], ["--url"]),
        (["catalog-search", "--geojson", "missing_dir/f.geojson"], ["--geojson"]),
        (
            ["download", "--source", "missing/a.tif", "--extent", "0,0,10,10", "--out", "x.tif"],
            ["a.tif"],
        ),
        (
            ["download", "--source", "a.tif", "--extent", "0,0,10,10", "--out", "x.tif", "--resolution", "0"],
            ["--resolution"],
        ),
        (["download", "--source", "a.tif", "--extent", "10,0,0,10", "--out", "x.tif"], ["extent", "empty"]),
        (["download", "--source", "a.tif", "--extent", "0,0,10,10", "--out", "x.png"], [".tif", ".gpkg"]),
    ],
)
def test_other_commands_check_their_options_first(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _run(argv, capsys)
    assert code == 2 and "Traceback" not in err
    for w in words:
        assert w in err
    assert not (tmp_path / "x.tif").exists() and not (tmp_path / "x.png").exists()


def test_demo_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    code, err = _run(["demo", "--out", str(f)], capsys)
    assert code == 2 and "file.txt" in err and "folder" in err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["offline-kit", "--out", "kit", "--gsd", "0"], ["--gsd", "greater than 0"]),
        (["offline-kit", "--out", "kit", "--vintage", "20245"], ["--vintage", "between 1900 and 2100"]),
        (["offline-kit", "--out", "kit", "--extent", "10,10,0,0"], ["extent", "empty"]),
        (["offline-kit", "--out", "kit", "--model", "missing.onnx"], ["missing.onnx", "does not exist"]),
        (["offline-kit", "--out", "kit", "--boundaries", "missing.geojson"], ["missing.geojson"]),
        (["publish-model", "missing.onnx", "catalog"], ["missing.onnx", "does not exist"]),
    ],
)
def test_kit_and_publish_check_their_options_first(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _run(argv, capsys)
    assert code == 2 and "Traceback" not in err
    for w in words:
        assert w in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created
