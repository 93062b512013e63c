"""Plan before spending: tiles, pixels, expected wall time on N workers and output size of a run.

Nothing is written and no full run happens: the extent is planned (raster header only) and the
per-tile cost is measured on a few tiles from the middle of the plan (or taken from the model
card's measured ``seconds_per_mpx``, or given).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

from ..i18n import num, tr
from ..offline_kit import human_size

# measured on the demo run (6,967 boxes): GeoPackage ~390 B per feature with its R-tree,
# GeoParquet job files ~70 B per feature
GPKG_BYTES_PER_FEATURE = 390
PARQUET_BYTES_PER_FEATURE = 70
TASK_OVERHEAD_S = 0.05  # scheduling + transfer per task, measured by bench/test_bench_distributed.py


@dataclass
class Estimate:
    """What a run would cost, from the plan and a measured per-tile cost."""

    tiles: int
    tiles_skipped_mask: int
    tile_size: int
    mpx: float  # pixels the model sees (tiles x tile area), millions
    km2: float
    per_tile_s: float  # wall seconds per tile on one worker
    per_tile_cpu_s: float
    cost_source: str
    workers: int
    jobs: int
    tiles_per_job: int
    wall_s: float
    cpu_s: float
    energy_wh: float
    features: int
    gpkg_bytes: int
    parquet_bytes: int

    def summary(self) -> str:
        """A few lines for the user."""
        return "\n".join(
            [
                tr(
                    "{tiles} tiles of {ts} px ({mpx} Mpx) over {km2} km² ({skip} tiles outside the mask)."
                ).format(
                    tiles=self.tiles,
                    ts=self.tile_size,
                    mpx=num(self.mpx),
                    km2=num(self.km2, 2),
                    skip=self.tiles_skipped_mask,
                ),
                tr("Cost per tile: {s} s wall, {c} s CPU ({src}).").format(
                    s=num(self.per_tile_s, 3), c=num(self.per_tile_cpu_s, 3), src=self.cost_source
                ),
                tr(
                    "On {n} worker(s) like this computer: {jobs} job(s) of {tpj} tiles, ~{wall} wall, "
                    "{cpu} CPU-hours, ~{wh} Wh (CPU only)."
                ).format(
                    n=self.workers,
                    jobs=self.jobs,
                    tpj=self.tiles_per_job,
                    wall=human_duration(self.wall_s),
                    cpu=num(self.cpu_s / 3600, 1),
                    wh=num(self.energy_wh),
                ),
                tr("Expected output: ~{n} features, GeoPackage ~{g}, GeoParquet job files ~{p}.").format(
                    n=self.features, g=human_size(self.gpkg_bytes), p=human_size(self.parquet_bytes)
                ),
            ]
        )


def human_duration(s: float) -> str:
    """Seconds -> '45 s', '12 min', '3.5 h' (decimal separator of the reader)."""
    if s < 120:
        return f"{num(s)} s"
    if s < 7200:
        return f"{num(s / 60)} min"
    return f"{num(s / 3600, 1)} h"


def estimate_run(
    model,
    raster: str,
    *,
    workers: int = 1,
    sample_tiles: int = 4,
    per_tile_s: Optional[float] = None,
    tiles_per_job: Optional[int] = None,
    watts: Optional[float] = None,
    **params,
) -> Estimate:
    """Estimate a run of ``model`` on ``raster`` (``params``: :func:`run_detection` keywords).

    ``per_tile_s`` given: used as is. Else ``sample_tiles`` > 0 tiles from the middle of the
    plan are run (nothing written) to measure the cost and the feature density; with 0, the
    model card's ``seconds_per_mpx`` is used.
    """
    from ..inference.report import watts_per_core
    from ..inference.runner import run_detection
    from ..inference.tiling import Job, split_plan_blocks
    from .client import default_tiles_per_job, plan_run

    spec, dry = plan_run(model, raster, **params)
    plan = dry.plan
    T = plan.tile_size
    n = len(plan.tiles)
    workers = max(1, int(workers))
    per_tile_cpu = None
    density = None  # features per tile
    if per_tile_s:
        source = tr("given")
    elif sample_tiles and n:
        k = min(int(sample_tiles), n)
        start = max(0, n // 2 - k // 2)
        job = Job(0, 1, start, start + k)
        run_detection(spec, raster, job=Job(0, 1, start, start + 1), **_run_params(dry, params))  # warm-up
        w0, c0 = time.perf_counter(), time.process_time()
        rep = run_detection(spec, raster, job=job, **_run_params(dry, params))
        per_tile_s = (time.perf_counter() - w0) / k
        per_tile_cpu = (time.process_time() - c0) / k
        density = rep.features / k
        source = tr("measured on {k} tiles here").format(k=k)
    else:
        spm = float(spec.card.get("seconds_per_mpx", 0) or 0.25)
        per_tile_s = spm * T * T / 1e6
        source = tr("the model card's {s} s/Mpx").format(s=spm)
    per_tile_cpu = per_tile_cpu if per_tile_cpu is not None else per_tile_s
    tpj = int(tiles_per_job or default_tiles_per_job(spec, n, T, workers))
    jobs = len(split_plan_blocks(plan, tpj)) if n else 0
    wall = math.ceil(jobs / workers) * (tpj * per_tile_s + TASK_OVERHEAD_S) if jobs else 0.0
    cpu = n * per_tile_cpu
    feats = int(round((density or 0.0) * n))
    return Estimate(
        tiles=n,
        tiles_skipped_mask=plan.skipped_outside_mask,
        tile_size=T,
        mpx=n * T * T / 1e6,
        km2=plan.area_km2,
        per_tile_s=float(per_tile_s),
        per_tile_cpu_s=float(per_tile_cpu),
        cost_source=source,
        workers=workers,
        jobs=jobs,
        tiles_per_job=tpj,
        wall_s=float(wall),
        cpu_s=float(cpu),
        energy_wh=cpu * watts_per_core(watts) / 3600.0,
        features=feats,
        gpkg_bytes=feats * GPKG_BYTES_PER_FEATURE,
        parquet_bytes=feats * PARQUET_BYTES_PER_FEATURE,
    )


def _run_params(dry, params: dict) -> dict:
    P = dry.parameters
    out = dict(params)
    out.update(tile_size=P["tile_size"], overlap=P["overlap"], band_map=P["band_map"])
    return out
