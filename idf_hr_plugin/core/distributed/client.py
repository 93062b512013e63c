"""Client side of a distributed run: plan, submit one Dask task per job, merge seams, write.

The client plans the run (no imagery read beyond the raster's header), cuts the plan into jobs
(:func:`..inference.tiling.split_plan`), and submits them to a Dask ``Client`` — a
``LocalCluster`` of N worker processes on 127.0.0.1, or an existing scheduler. Workers write
each job's interior features to the GeoParquet dataset folder and return its seam vectors,
which the client merges exactly as the single-process engine does, then exports everything
to the GeoPackage through the usual writer, with the run record (per-worker figures,
retries). Dask's own rescheduling re-runs the jobs of a lost worker; the job files are
written atomically under the job's name, so a job that ran twice is counted once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

from ..errors import Cancelled, UserInputError
from ..i18n import num, tr
from .jobs import FeatureStream, RunTask, class_totals, finish_features, in_plan_order, job_files, read_seams

MANIFEST = "run.json"
# a box reaching further than this past its own tile would make the interior/seam split
# inexact: the run is refused with a sentence (real Ultralytics exports at a low confidence can
# draw boxes 200+ px past a 160 px window: such runs are refused, never silently split)
DEFAULT_MARGIN_FRACTION = 0.25
TARGET_TASK_S = 30.0  # a task should last ~10-60 s: scheduling overhead stays negligible


def dask_available() -> bool:
    """Whether ``dask.distributed`` and pyarrow's Parquet (the job files) can be imported here."""
    try:
        import distributed  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:  # also a pyarrow built for another NumPy
        return False
    return True


def require_dask() -> None:
    """Raise a sentence saying how to install Dask when it is missing."""
    if not dask_available():
        raise UserInputError(
            tr(
                "Running on a Dask cluster needs the Python packages 'dask' and 'distributed', which "
                "are not installed: install them (pip install dask distributed pyarrow) or run on this "
                "computer."
            )
        )


@contextlib.contextmanager
def connect(
    workers: Optional[int] = None, scheduler: Optional[str] = None, threads_per_worker: int = 1
) -> Iterator:
    """A Dask ``Client``: to ``scheduler`` (``tcp://host:8786``) or a new ``LocalCluster`` of
    ``workers`` processes on 127.0.0.1 (closed on exit)."""
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserInputError(
                tr(
                    "Cannot reach the Dask scheduler at {addr} ({err}); check the address and that "
                    "dask-scheduler is running there."
                ).format(addr=scheduler, err=str(exc)[:200])
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    n = int(workers or 2)
    if n < 1:
        raise UserInputError(tr("The number of workers must be at least 1 (got {n}).").format(n=n))
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=int(threads_per_worker),
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _fingerprint(doc: dict) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _mask_doc(mask) -> Optional[str]:
    if mask is None:
        return None
    from shapely import wkb

    h = hashlib.sha256()
    for g in mask:
        h.update(wkb.dumps(g))
    return h.hexdigest()


def plan_run(model, raster: str, **params) -> tuple:
    """Plan a run without running any tile -> (ModelSpec, RunReport with ``plan`` and the
    resolved parameters). ``params``: :func:`run_detection` keywords."""
    from ..inference.model import ModelSpec, load_model_spec
    from ..inference.runner import run_detection
    from ..inference.tiling import Job

    spec = (
        model
        if isinstance(model, ModelSpec)
        else load_model_spec(
            model,
            expected_sha256=params.pop("expected_sha256", None),
            task=params.get("task"),
            layout=params.get("layout"),
        )
    )
    params.pop("expected_sha256", None)
    rep = run_detection(spec, raster, job=Job(0, 1, 0, 0), threads=1, **params)
    return spec, rep


def default_tiles_per_job(spec, n_tiles: int, tile_size: int, n_workers: int) -> int:
    """Tiles per task: ~``TARGET_TASK_S`` of work from the model card's measured cost, and at
    least two tasks per worker so that every worker is busy and a lost one costs little."""
    spm = float(getattr(spec, "card", {}).get("seconds_per_mpx", 0) or 0.25)
    by_time = max(1, int(TARGET_TASK_S / max(spm * tile_size * tile_size / 1e6, 1e-6)))
    by_spread = max(1, math.ceil(n_tiles / max(1, 2 * n_workers)))
    return max(1, min(by_time, by_spread))


def _suspicious(keys, dask_scheduler=None) -> dict:
    """On the scheduler: how many times each task was on a worker that died (Dask's own count)."""
    out = {}
    for k in keys:
        ts = dask_scheduler.tasks.get(k)
        if ts is not None:
            out[k] = int(getattr(ts, "suspicious", 0))
    return out


def run_distributed(
    model: Union[str, os.PathLike],
    raster: str,
    out_path: Union[str, os.PathLike],
    *,
    workers: Optional[int] = None,
    scheduler: Optional[str] = None,
    client=None,
    worker_model: Optional[str] = None,
    expected_sha256: Optional[str] = None,
    jobs_dir: Optional[Union[str, os.PathLike]] = None,
    resume: bool = False,
    tiles_per_job: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[Callable[[int, int, float], None]] = None,
    cancel: Optional[Callable[[], bool]] = None,
    source: str = "",
    vintage: str = "",
    layer_name: Optional[str] = None,
    watts: Optional[float] = None,
    ios: Optional[float] = 0.7,
    agnostic: bool = False,
    simplify_px: Optional[float] = None,
    min_area_px: Optional[float] = None,
    out_crs=None,
    on_client: Optional[Callable[[object], None]] = None,
    **params,
):
    """Run a detection on Dask and write the GeoPackage layer ``out_path``; returns the RunReport.

    ``client``: a connected ``distributed.Client`` (else one is made from ``scheduler`` or a
    ``LocalCluster`` of ``workers`` processes). ``worker_model``: the model path as the workers
    see it (default: ``model``); its sha256 must be the client's copy's. ``jobs_dir``: the
    GeoParquet dataset folder (default ``<out>.idfhr-jobs`` next to the output; on a cluster a
    folder every worker and the client see). ``resume``: finish only the jobs missing from it.
    ``params``: the detection keywords of :func:`run_detection` (extent, mask, conf...).
    ``progress(done, total, eta_s)`` counts jobs; ``cancel()`` -> True stops the run: tasks are
    cancelled, this run's job files removed, nothing written to ``out_path``.
    """
    from ..inference.runner import _load_mask, regions_cut_note
    from ..inference.tiling import split_plan_blocks
    from ..inference.writer import check_output_path, layer_name_for, write_gpkg

    wall0, cpu0 = time.perf_counter(), time.process_time()
    started = _dt.datetime.now(_dt.timezone.utc)
    if client is None:
        require_dask()
    check_output_path(out_path)
    if params.get("mask") is not None:
        geoms, mcrs = _load_mask(params.pop("mask"), params.pop("mask_crs", None))
        params["mask"] = list(geoms) if isinstance(geoms, (list, tuple)) else [geoms]
        params["mask_crs"] = mcrs.to_wkt() if hasattr(mcrs, "to_wkt") else mcrs
    spec, dry = plan_run(
        model, raster, expected_sha256=expected_sha256, ios=ios, agnostic=agnostic, out_crs=out_crs, **params
    )
    plan = dry.plan
    P = dry.parameters
    run_params = dict(params)
    run_params.update(
        tile_size=P["tile_size"],
        overlap=P["overlap"],
        batch_size=P["batch_size"],
        conf=P["conf"],
        iou=P["iou"],
        seg_thresh=P["seg_thresh"],
        band_map=P["band_map"],
        ios=ios,
        agnostic=agnostic,
    )
    finish = {
        "iou": P["iou"],
        "ios": ios,
        "agnostic": agnostic,
        "min_area_px": min_area_px,
        "simplify_px": simplify_px,
        "out_crs": P["out_crs"],
    }
    margin = float(max(P["overlap"], int(P["tile_size"] * DEFAULT_MARGIN_FRACTION)))
    out = Path(out_path)
    folder = Path(jobs_dir) if jobs_dir else out.with_name(out.stem + ".idfhr-jobs")

    with contextlib.ExitStack() as stack:
        if client is None:
            n_local = int(workers or 2)
            client = stack.enter_context(connect(workers=n_local, scheduler=scheduler))
        if on_client is not None:
            on_client(client)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        if threads is None and not scheduler:
            from ..inference.model import physical_cores

            threads = max(1, physical_cores() // n_workers)
        if resume and not tiles_per_job:  # the jobs of the run being finished, whatever the workers now
            tiles_per_job = _manifest(folder).get("tiles_per_job")
        tpj = int(tiles_per_job or default_tiles_per_job(spec, len(plan.tiles), P["tile_size"], n_workers))
        jobs = split_plan_blocks(plan, tpj)
        doc = {
            "model_sha256": spec.sha256,
            "raster": str(raster),
            "params": {k: v for k, v in run_params.items() if k not in ("mask",)},
            "mask": _mask_doc(run_params.get("mask")),
            "finish": finish,
            "tiles": len(plan.tiles),
            "tiles_per_job": tpj,
            "jobs": "blocks",
            "source": source,
            "vintage": vintage,
        }
        fp = _fingerprint(doc)
        run_id, created = _prepare_folder(folder, fp, len(jobs), resume, tpj)
        done_before = (
            [j for j in jobs if all(p.exists() for p in job_files(folder, j.index))] if resume else []
        )
        done_idx = {j.index for j in done_before}
        todo = [j for j in jobs if j.index not in done_idx]
        task = RunTask(
            run_id=run_id,
            model=str(worker_model or spec.path),
            model_sha256=spec.sha256,
            raster=str(raster),
            out_dir=str(folder.resolve()),
            params=run_params,
            finish=finish,
            margin_px=margin,
            threads=threads,
            cancel_event=f"idfhr-cancel-{run_id}-{uuid.uuid4().hex[:8]}",
            source=source or os.path.basename(str(raster)),
            vintage=vintage,
        )
        results, retries = _submit_and_wait(client, task, todo, progress, cancel, folder, created)
        for p in folder.glob(".job-*"):  # temporary files of a worker killed while writing
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        for j in done_before:
            seam, rep = read_seams(job_files(folder, j.index)[1])
            rep["resumed"] = True
            results[j.index] = {"report": rep, "seam": seam}
        dashboard = getattr(client, "dashboard_link", "") or ""
        scheduler_addr = client.scheduler.address if getattr(client, "scheduler", None) else ""

    reports = [results[j.index]["report"] for j in jobs]
    worst = max((r.get("overreach_px", 0.0) for r in reports), default=0.0)
    if worst > margin:
        raise UserInputError(
            tr(
                "A detection reaches {d} px past its tile, more than the {m} px the distributed "
                "merge relies on to give the same result as one computer; nothing was written. Run "
                "this extent on this computer."
            ).format(d=num(worst), m=num(margin))
        )
    tiles_run = sum(int(r["tiles_run"]) for r in reports)
    if tiles_run == 0 and plan.tiles:
        raise UserInputError(
            tr(
                "All {n} tile(s) of the extent hold no data (NoData everywhere); nothing was detected "
                "and nothing written. Pick an extent over the imagery."
            ).format(n=len(plan.tiles))
        )
    if cancel is not None and cancel():
        raise Cancelled()
    t_m = time.perf_counter()
    seams = in_plan_order([results[j.index]["seam"] for j in jobs])
    geoms, records, dropped, regions_cut = finish_features(
        seams, plan, spec, finish, task.source, vintage, run_id
    )
    regions_cut += sum(int(r.get("regions_cut", 0)) for r in reports)
    seam_features = len(geoms)
    counts, areas = class_totals(records)
    for r in reports:  # the interior features stay in the job files until the export
        for lab, n in r["counts"].items():
            counts[lab] = counts.get(lab, 0) + int(n)
            areas[lab] = areas.get(lab, 0.0) + float(r["areas_m2"][lab])
    merge_s = time.perf_counter() - t_m
    dropped += sum(int(r.get("dropped", 0)) for r in reports)
    n_features = seam_features + sum(int(r["interior_features"]) for r in reports)
    stream = FeatureStream(
        geoms,
        records,
        [job_files(folder, j.index)[0] for j in jobs],
        [int(results[j.index]["report"]["interior_features"]) for j in jobs],
    )
    notes = list(dry.notes)
    if regions_cut:
        notes.append(regions_cut_note(regions_cut, plan.grid))
    if dropped:
        notes.append(
            tr("{n} object(s) lying wholly outside the imagery, extent or mask were dropped.").format(
                n=dropped
            )
        )
    per_worker: dict = {}
    providers: list = []
    for r in reports:
        w = per_worker.setdefault(
            r["worker"], {"jobs": 0, "tiles": 0, "km2": 0.0, "cpu_s": 0.0, "wall_s": 0.0, "providers": []}
        )
        w["jobs"] += 1
        w["tiles"] += int(r["tiles"])
        w["km2"] += float(r["km2"])
        w["cpu_s"] += float(r["cpu_s"])
        w["wall_s"] += float(r["wall_s"])
        for p in r["providers"][:1]:
            if p not in w["providers"]:
                w["providers"].append(p)
            if p not in providers:
                providers.append(p)
    timings: dict = {}
    for r in reports:
        for k, v in r.get("timings", {}).items():
            timings[k] = timings.get(k, 0.0) + float(v)
    timings["client_merge_s"] = merge_s
    # the dry run's report already holds the plan's figures, the model and the parameters
    report = dataclasses.replace(
        dry,
        run_id=run_id,
        started_at=started.isoformat(timespec="seconds"),
        source=task.source,
        vintage=vintage,
        parameters=dict(P, execution="scheduler" if scheduler else "local cluster"),
        counts=counts,
        areas_m2=areas,
        features=n_features,
        km2=plan.area_km2,
        pixels=plan.pixels,
        tiles_run=tiles_run,
        tiles_skipped_nodata=sum(int(r["tiles_nodata"]) for r in reports),
        detections_before_nms=sum(int(r["detections"]) for r in reports),
        dropped_outside_mask=dropped,
        providers=providers,
        threads=int(threads or 0),
        timings=timings,
        notes=notes,
        job=None,
        partial=None,
    )
    report.plan = plan
    report.distributed = {
        "scheduler": scheduler_addr,
        "dashboard": dashboard,
        "workers": per_worker,
        "jobs": len(jobs),
        "tiles_per_job": tpj,
        "resumed_jobs": len(done_before),
        "retries": {str(k): v for k, v in sorted(retries.items()) if v},
        "retries_total": int(sum(retries.values())),
        "seam_features": seam_features,
        "margin_px": margin,
        "dataset": str(folder),
        "job_reports": reports,
    }
    if cancel is not None and cancel():
        raise Cancelled()
    when = started.astimezone().strftime("%Y%m%d_%H%M%S")
    report.out_path = str(out_path)
    report.layer = layer_name or layer_name_for(spec.name, when)
    _finish_cost(report, reports, wall0, cpu0, watts)
    t_w = time.perf_counter()
    report.layer = write_gpkg(
        out_path,
        report.layer,
        _crs_wkt(P["out_crs"]),
        stream.column(),
        {name: stream.column(name) for name in records},
        report.to_dict(),
        multipolygon=spec.task in ("semantic_segmentation", "instance_segmentation"),
    )
    timings["write_s"] = time.perf_counter() - t_w
    _finish_cost(report, reports, wall0, cpu0, watts)
    return report


def _crs_wkt(crs_text: str) -> str:
    from ..inference.tiling import to_crs

    return to_crs(crs_text).to_wkt()


def _finish_cost(report, reports: list, wall0: float, cpu0: float, watts) -> None:
    """Wall time, CPU summed over the client and every job, energy (the engine's method)."""
    from ..inference.runner import _finish_cost as finish_cost

    workers_cpu = sum(float(r["cpu_s"]) for r in reports)
    finish_cost(report, wall0, cpu0 - workers_cpu, watts)  # cpu_s = client's + the workers'
    report.energy_method += " " + tr("CPU time summed over the client and every worker's jobs.")


def _manifest(folder: Path) -> dict:
    """The job folder's ``run.json`` ({} when absent or unreadable)."""
    try:
        return dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


def _prepare_folder(folder: Path, fp: str, n_jobs: int, resume: bool, tiles_per_job: int) -> tuple:
    """Create/check the dataset folder -> (run id, whether this call created it)."""
    manifest = folder / MANIFEST
    if manifest.exists():
        doc = _manifest(folder)
        if doc.get("fingerprint") != fp:
            raise UserInputError(
                tr(
                    "The job folder '{path}' holds the jobs of another run (other model, imagery, extent "
                    "or settings); delete it or choose another folder."
                ).format(path=folder)
            )
        if not resume:
            raise UserInputError(
                tr(
                    "The job folder '{path}' holds an unfinished or earlier run of these settings: pass "
                    "--resume to finish it, or delete the folder to start again."
                ).format(path=folder)
            )
        return str(doc["run_id"]), False
    if resume:
        raise UserInputError(
            tr(
                "Nothing to resume: the job folder '{path}' does not hold a run. Run without --resume."
            ).format(path=folder)
        )
    if folder.exists() and any(folder.iterdir()):
        raise UserInputError(
            tr("The job folder '{path}' exists and is not empty; choose an empty or new folder.").format(
                path=folder
            )
        )
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(
            tr("Cannot create the job folder '{path}' ({err}).").format(path=folder, err=exc.strerror or exc)
        ) from exc
    run_id = uuid.uuid4().hex
    from ..tempfiles import temp_path

    tmp = temp_path(manifest)
    doc = {"fingerprint": fp, "run_id": run_id, "jobs": n_jobs, "tiles_per_job": tiles_per_job}
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, manifest)
    return run_id, created


def _remove_jobs(folder: Path, indexes: Sequence[int], created: bool) -> None:
    """Remove this session's job files (and temp files); the folder too if this run made it."""
    for i in indexes:
        for p in job_files(folder, i):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    for p in folder.glob(".job-*"):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    if created:
        shutil.rmtree(folder, ignore_errors=True)


def _submit_and_wait(
    client, task: RunTask, todo: list, progress, cancel, folder: Path, created: bool
) -> tuple:
    """Run ``todo`` on the cluster -> ({job index: result}, {job index: retries})."""
    from distributed import Event

    from .jobs import run_job

    ev = Event(task.cancel_event, client=client)
    futures = {
        client.submit(run_job, task, job, key=f"idfhr-job-{task.run_id}-{job.index:05d}", pure=False): job
        for job in todo
    }
    pending = set(futures)
    results: dict = {}
    retries: dict = {}
    t0 = time.perf_counter()
    total = len(todo)
    if progress is not None:
        progress(0, total, 0.0)
    try:
        while pending:
            if cancel is not None and cancel():
                raise Cancelled()
            finished = [f for f in pending if f.done()]
            if finished:
                # Dask's count of lost workers per task, read before the result is released (a
                # result kept on a worker would be recomputed if that worker died later)
                by_key = client.run_on_scheduler(_suspicious, keys=[f.key for f in finished])
            for f in finished:
                pending.discard(f)
                if f.status != "finished":
                    _raise_job_error(f, futures[f])
                job = futures[f]
                results[job.index] = f.result()
                retries[job.index] = int(by_key.get(f.key, 0))
                results[job.index]["report"]["attempt"] = retries[job.index] + 1
                f.release()
            if finished and progress is not None:
                done = total - len(pending)
                el = time.perf_counter() - t0
                progress(done, total, el / done * (total - done) if done else 0.0)
            if not finished:
                time.sleep(0.1)
        return results, retries
    except BaseException:
        # cancel or failure: tell running tasks to stop, wait for them, remove what this run wrote
        ev.set()
        deadline = time.monotonic() + 60
        while any(not f.done() for f in pending) and time.monotonic() < deadline:
            time.sleep(0.1)
        client.cancel(list(futures))
        _remove_jobs(folder, [j.index for j in todo], created)
        raise
    finally:
        with contextlib.suppress(Exception):
            ev.clear()


def _raise_job_error(fut, job) -> None:
    from ..errors import IdfHrError

    try:
        fut.result()
    except IdfHrError:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if name == "KilledWorker":
            raise UserInputError(
                tr(
                    "Job {n} was lost with every worker that ran it ({err}); the workers may be running "
                    "out of memory. Check the workers, then run again with --resume."
                ).format(n=job.index, err=str(exc)[:200])
            ) from exc
        raise UserInputError(
            tr("Job {n} failed on the cluster: {err}").format(n=job.index, err=str(exc)[:300])
        ) from exc
    raise UserInputError(tr("Job {n} was cancelled on the cluster.").format(n=job.index))


def summary_lines(report) -> list:
    """Lines describing where a distributed run ran (printed after ``report.summary()``)."""
    d = report.distributed or {}
    lines = [
        tr("Ran on Dask: {n} job(s) of {t} tile(s), {r} retried, {s} resumed from {path}.").format(
            n=d.get("jobs", 0),
            t=d.get("tiles_per_job", 0),
            r=d.get("retries_total", 0),
            s=d.get("resumed_jobs", 0),
            path=d.get("dataset", ""),
        )
    ]
    if d.get("dashboard"):
        lines.append(tr("Dask dashboard: {url}").format(url=d["dashboard"]))
    for addr, w in sorted(d.get("workers", {}).items()):
        lines.append(
            tr(
                "  worker {addr}: {jobs} job(s), {tiles} tiles, {km2} km², {cpu} s CPU, {wall} s wall, {prov}"
            ).format(
                addr=addr,
                jobs=w["jobs"],
                tiles=w["tiles"],
                km2=num(w["km2"], 3),
                cpu=num(w["cpu_s"], 1),
                wall=num(w["wall_s"], 1),
                prov=", ".join(w["providers"]) or "?",
            )
        )
    return lines
