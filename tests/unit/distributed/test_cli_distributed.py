"""CLI: ``detect --workers N | --scheduler ADDRESS [--resume]`` and ``estimate``."""

from __future__ import annotations

from idf_hr_plugin.cli import main
from tests.servers import free_port

from .conftest import MODEL, assert_same_features, read_layer


def _run(args, capsys) -> tuple:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_detect_on_the_scheduler_then_resume(dask_client, demo_cogs, single_runs, tmp_path, capsys):
    out = tmp_path / "cli.gpkg"
    args = ["detect", "--model", str(MODEL), "--raster", demo_cogs[2024], "--out", str(out), "--quiet"]
    args += ["--scheduler", dask_client.scheduler.address, "--tiles-per-job", "36", "--vintage", "2024"]
    code, text, err = _run(args, capsys)
    assert code == 0, err
    assert (
        "Ran on Dask: 4 job(s) of 36 tile(s), 0 retried, 0 resumed" in text
        and "worker tcp://127.0.0.1:" in text
    )
    assert_same_features(read_layer(*single_runs[2024]), read_layer(out))
    # the same command again: the job folder is there, the user is told about --resume
    code, _text, err = _run(args, capsys)
    assert code == 2 and "--resume" in err and "Traceback" not in err
    (tmp_path / "cli.idfhr-jobs" / "job-00002.parquet").unlink()
    resumed = [
        "--resume",
        "--out",
        str(tmp_path / "resumed.gpkg"),
        "--jobs-dir",
        str(tmp_path / "cli.idfhr-jobs"),
    ]
    code, text, err = _run(args + resumed, capsys)
    assert code == 0, err
    assert "1 resumed" not in text and "3 resumed" in text
    assert_same_features(read_layer(*single_runs[2024]), read_layer(tmp_path / "resumed.gpkg"))


def test_detect_options_need_a_cluster_and_one_place(demo_cogs, tmp_path, capsys):
    base = ["detect", "--model", str(MODEL), "--raster", demo_cogs[2024], "--out", str(tmp_path / "o.gpkg")]
    code, _t, err = _run(base + ["--resume"], capsys)
    assert code == 2 and "need --workers N or --scheduler ADDRESS" in err
    code, _t, err = _run(base + ["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], capsys)
    assert code == 2 and "not allowed with argument" in err
    code, _t, err = _run(base + ["--workers", "0"], capsys)
    assert code == 2 and "--workers" in err
    code, _t, err = _run(base + ["--scheduler", f"tcp://127.0.0.1:{free_port()}"], capsys)
    assert code == 2 and "Cannot reach the Dask scheduler" in err and "Traceback" not in err
    assert not (tmp_path / "o.gpkg").exists() and not (tmp_path / "o.idfhr-jobs").exists()


def test_estimate_prints_the_plan_and_writes_nothing(demo_cogs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, text, err = _run(
        ["estimate", "--model", str(MODEL), "--raster", demo_cogs[2026], "--workers", "4", "--sample", "2"],
        capsys,
    )
    assert code == 0, err
    assert "144 tiles of 512 px (38 Mpx) over 1.00 km²" in text
    assert "measured on 2 tiles here" in text and "On 4 worker(s)" in text and "GeoPackage ~" in text
    assert list(tmp_path.iterdir()) == []
