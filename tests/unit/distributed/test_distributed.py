"""Detection on a real Dask LocalCluster (2 worker processes) over a COG served with Range
requests: same result as one process, survives a worker killed with SIGKILL, cancel, resume,
and a worker whose model copy differs refuses."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from idf_hr_plugin.core.errors import Cancelled, UserInputError

from .conftest import MODEL, assert_same_features, read_layer


def _run(client, url, out, **kw):
    from idf_hr_plugin.core.distributed import run_distributed

    return run_distributed(MODEL, url, out, client=client, **kw)


@pytest.mark.parametrize("year", [2024, 2026])
def test_same_features_as_one_process(dask_client, demo_cogs, single_runs, tmp_path, year):
    from idf_hr_plugin.core.inference.writer import read_runs

    out = tmp_path / "dist.gpkg"
    rep = _run(dask_client, demo_cogs[year], out, tiles_per_job=36, vintage=str(year))
    ref_path, ref_layer = single_runs[year]
    assert_same_features(read_layer(ref_path, ref_layer), read_layer(out, rep.layer))
    d = rep.distributed
    # both workers ran jobs; only the seam features travelled back, the rest came from GeoParquet
    assert len(d["workers"]) == 2 and d["jobs"] == 4
    assert 0 < d["seam_features"] < rep.features
    assert sorted(p.name for p in (tmp_path / "dist.idfhr-jobs").glob("job-*.parquet")) == [
        f"job-{i:05d}{s}" for i in range(4) for s in (".parquet", ".seams.parquet")
    ]
    (stored,) = read_runs(out)
    assert stored["features"] == rep.features and stored["distributed"]["retries_total"] == 0
    assert {w["providers"][0] for w in stored["distributed"]["workers"].values()} == {"CPUExecutionProvider"}
    assert sum(w["tiles"] for w in stored["distributed"]["workers"].values()) == stored["tiles_total"]


def test_worker_killed_mid_run(dask_client, demo_cogs, single_runs, tmp_path):
    """SIGKILL a worker while it holds a job: Dask re-runs it elsewhere, nothing lost or doubled."""
    pids = dask_client.run(os.getpid)
    killed = []

    def progress(done, total, eta):
        if done >= 2 and not killed:
            for addr, keys in dask_client.processing().items():
                if keys and addr in pids:
                    os.kill(pids[addr], signal.SIGKILL)
                    killed.append(addr)
                    return

    out = tmp_path / "killed.gpkg"
    rep = _run(dask_client, demo_cogs[2026], out, tiles_per_job=6, progress=progress)
    assert killed, "no worker held a job when two were done"
    assert_same_features(read_layer(single_runs[2026][0], single_runs[2026][1]), read_layer(out, rep.layer))
    d = rep.distributed
    assert d["retries_total"] >= 1 and d["retries"]
    retried = {int(k) for k in d["retries"]}
    assert all(r["attempt"] >= 2 for r in d["job_reports"] if r["job"] in retried)
    files = sorted(p.name for p in (tmp_path / "killed.idfhr-jobs").iterdir())
    assert files == sorted(
        ["run.json"] + [f"job-{i:05d}{s}" for i in range(d["jobs"]) for s in (".parquet", ".seams.parquet")]
    )
    dask_client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


def test_cancel_removes_job_files_and_keeps_the_output(dask_client, demo_cogs, tmp_path):
    from idf_hr_plugin.core.inference.writer import read_runs

    out = tmp_path / "kept.gpkg"
    first = _run(dask_client, demo_cogs[2024], out, tiles_per_job=72)
    shutil.rmtree(tmp_path / "kept.idfhr-jobs")
    before = out.read_bytes()
    seen = []

    def progress(done, total, eta):
        seen.append(done)

    with pytest.raises(Cancelled):
        _run(
            dask_client,
            demo_cogs[2024],
            out,
            tiles_per_job=6,
            progress=progress,
            cancel=lambda: max(seen, default=0) >= 1,
        )
    assert not (tmp_path / "kept.idfhr-jobs").exists()
    assert out.read_bytes() == before and [r["run_id"] for r in read_runs(out)] == [first.run_id]
    deadline = time.monotonic() + 30  # tasks were cancelled: the workers go idle
    while any(dask_client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(dask_client.processing().values())
    assert not (tmp_path / "kept.idfhr-jobs").exists()


def test_resume_runs_only_the_missing_jobs(dask_client, demo_cogs, single_runs, tmp_path):
    out = tmp_path / "r.gpkg"
    first = _run(dask_client, demo_cogs[2026], out, tiles_per_job=36)
    folder = tmp_path / "r.idfhr-jobs"
    out.unlink()
    for name in ("job-00001.parquet", "job-00003.seams.parquet"):  # jobs a crashed client never saw
        (folder / name).unlink()
    with pytest.raises(UserInputError, match="--resume"):
        _run(dask_client, demo_cogs[2026], out, tiles_per_job=36)
    rep = _run(dask_client, demo_cogs[2026], out, tiles_per_job=36, resume=True)
    assert rep.distributed["resumed_jobs"] == 2 and rep.run_id == first.run_id
    assert sorted(r["job"] for r in rep.distributed["job_reports"] if not r.get("resumed")) == [1, 3]
    assert_same_features(read_layer(single_runs[2026][0], single_runs[2026][1]), read_layer(out, rep.layer))
    # resumed again without saying how big the jobs were (other workers now): the folder's jobs, all done
    again = _run(dask_client, demo_cogs[2026], out, resume=True)
    assert (
        again.distributed["resumed_jobs"] == again.distributed["jobs"] == 4 and again.features == rep.features
    )
    with pytest.raises(UserInputError, match="another run"):
        _run(dask_client, demo_cogs[2026], tmp_path / "r2.gpkg", jobs_dir=folder, tiles_per_job=36, conf=0.9)


def test_worker_with_another_model_copy_refuses(dask_client, demo_cogs, tmp_path):
    tampered = tmp_path / "copy.onnx"
    tampered.write_bytes(MODEL.read_bytes() + b"\0")
    out = tmp_path / "sha.gpkg"
    with pytest.raises(UserInputError, match="refused the run: its model .* has sha256") as err:
        _run(dask_client, demo_cogs[2026], out, tiles_per_job=72, worker_model=str(tampered))
    assert "Copy the same model file to every worker" in str(err.value)
    assert not out.exists() and not (tmp_path / "sha.idfhr-jobs").exists()


def test_segmentation_same_polygons_as_one_process(dask_client, tmp_path):
    """Semantic segmentation: pieces on job borders are stitched by the client as in one process."""

    from idf_hr_plugin.core.distributed import run_distributed
    from idf_hr_plugin.core.inference import run_detection
    from tests.unit.inference.conftest import make_test_models
    from tests.unit.inference.test_segmentation_merge import red_blobs_raster

    model = make_test_models.build("seg_sigmoid.onnx", tmp_path)
    r, _red = red_blobs_raster(tmp_path / "blobs.tif", 7, 0.55)
    one = run_detection(model, str(r), out_path=tmp_path / "one.gpkg", overlap=26)
    rep = run_distributed(
        model, str(r), tmp_path / "dask.gpkg", client=dask_client, tiles_per_job=4, overlap=26
    )
    assert rep.distributed["jobs"] == 2 and rep.distributed["seam_features"] > 0
    assert rep.features == one.features > 20
    assert_same_features(read_layer(tmp_path / "one.gpkg"), read_layer(tmp_path / "dask.gpkg"))


def _set_region_block(px: int) -> None:
    from idf_hr_plugin.core.inference import results

    results.REGION_BLOCK_PX = px


def test_segmentation_regions_cut_the_same_as_one_process(dask_client, tmp_path, monkeypatch):
    """Regions wider than a block are cut along the same grid whether their pieces meet on a
    worker or on the client; the report says so in both runs."""

    from idf_hr_plugin.core.distributed import run_distributed
    from idf_hr_plugin.core.inference import results, run_detection
    from tests.unit.inference.conftest import make_test_models
    from tests.unit.inference.test_segmentation_merge import red_blobs_raster

    model = make_test_models.build("seg_sigmoid.onnx", tmp_path)
    r, _red = red_blobs_raster(tmp_path / "blobs.tif", 7, 0.5)
    default = results.REGION_BLOCK_PX
    monkeypatch.setattr(results, "REGION_BLOCK_PX", 160)
    dask_client.run(_set_region_block, 160)
    try:
        one = run_detection(model, str(r), out_path=tmp_path / "one.gpkg", overlap=26)
        rep = run_distributed(
            model, str(r), tmp_path / "dask.gpkg", client=dask_client, tiles_per_job=4, overlap=26
        )
    finally:
        dask_client.run(_set_region_block, default)
    cut = [n for n in one.notes if "cut along" in n]
    assert len(cut) == 1 and [n for n in rep.notes if "cut along" in n] == cut
    assert rep.features == one.features > 20
    assert_same_features(read_layer(tmp_path / "one.gpkg"), read_layer(tmp_path / "dask.gpkg"))
