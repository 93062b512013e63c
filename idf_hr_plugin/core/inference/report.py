"""The run report: what was found and what it cost (the frugality report of the MGP AI strategy)."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field, fields
from typing import Optional

from ..i18n import num, tr

DEFAULT_WATTS_PER_CORE = 7.5  # a 15 W laptop CPU with 2 busy cores; override: IDF_HR_WATTS_PER_CORE


def watts_per_core(value: Optional[float] = None) -> float:
    """Power assumed per fully busy CPU core (argument, ``IDF_HR_WATTS_PER_CORE``, or 7.5 W)."""
    if value:
        return float(value)
    env = os.environ.get("IDF_HR_WATTS_PER_CORE")
    try:
        return float(env) if env else DEFAULT_WATTS_PER_CORE
    except ValueError:
        return DEFAULT_WATTS_PER_CORE


def energy_estimate(cpu_s: float, watts: float) -> tuple:
    """(Wh, method sentence) from CPU seconds x power per busy core."""
    wh = cpu_s * watts / 3600.0
    method = tr(
        "CPU time of the run ({cpu} s, all threads) x {w} W per busy core (an assumption; "
        "set IDF_HR_WATTS_PER_CORE to your CPU's TDP per core) / 3600. Excludes GPU, screen, "
        "memory and idle power."
    ).format(cpu=num(cpu_s, 1), w=num(watts, 1))
    return wh, method


@dataclass
class RunReport:
    """Counts/areas per class, cost (time, CPU, energy), provenance and parameters of a run."""

    run_id: str
    started_at: str
    model_name: str
    model_sha256: str
    model_path: str
    task: str
    layout: str
    raster: str
    source: str = ""
    raster_path: str = ""  # the imagery, absolute when local: "Why this detection?" reads it again
    vintage: str = ""
    out_path: str = ""
    layer: str = ""
    crs: str = ""
    parameters: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)  # label -> count
    areas_m2: dict = field(default_factory=dict)  # label -> m2
    features: int = 0
    duration_s: float = 0.0
    cpu_s: float = 0.0
    km2: float = 0.0
    pixels: int = 0
    tiles_total: int = 0
    tiles_run: int = 0
    tiles_skipped_mask: int = 0
    tiles_skipped_nodata: int = 0
    detections_before_nms: int = 0
    dropped_outside_mask: int = 0
    providers: list = field(default_factory=list)
    available_providers: list = field(default_factory=list)
    threads: int = 0
    batch_size: int = 1
    energy_wh: float = 0.0
    energy_method: str = ""
    # read_s, infer_s, decode_s, merge_s, write_s (seconds); taken_back: boxes of settled groups that
    # a later box reached and that were decided again (streamed detections, a count)
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    # what was really analysed (raster footprint ∩ extent ∩ mask): change and per-zone analyses
    # use it so that a mask hole reads as "not analysed", never as "removed" or "0 objects"
    analysed_area_wkt: str = ""
    analysed_area_crs: str = ""
    job: Optional[dict] = None
    partial: object = None  # PartialResult of a job run (not serialised)
    plan: object = None  # the TilePlan of the run (not serialised)
    # runs on Dask: scheduler, dashboard, per-worker figures, retries, per-job reports
    distributed: Optional[dict] = None

    def to_dict(self) -> dict:
        # not asdict(self): it would deep-copy the partial result (every feature of the run)
        return {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("partial", "plan")
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str, indent=1)

    @property
    def km2_per_min(self) -> float:
        return self.km2 / (self.duration_s / 60.0) if self.duration_s > 0 else 0.0

    def summary(self) -> str:
        """A few lines for the user: what was found, and what it cost."""
        lines = [
            tr("{n} object(s) found by {model} on {km2} km² ({tiles} tiles, {px} Mpx).").format(
                n=self.features,
                model=self.model_name,
                km2=num(self.km2, 3),
                tiles=self.tiles_run,
                px=num(self.pixels / 1e6, 1),
            )
        ]
        for label, n in sorted(self.counts.items()):
            lines.append(
                tr("  {label}: {n} ({area} m²)").format(
                    label=label, n=n, area=num(self.areas_m2.get(label, 0.0), 1)
                )
            )
        lines.append(
            tr(
                "Cost: {dur} s wall, {cpu} s CPU, ~{wh} Wh (estimate), {rate} km²/min, "
                "on {prov} with {th} thread(s)."
            ).format(
                dur=num(self.duration_s, 1),
                cpu=num(self.cpu_s, 1),
                wh=num(self.energy_wh, 3),
                rate=num(self.km2_per_min, 2),
                prov=", ".join(self.providers) or "?",
                th=self.threads,
            )
        )
        if self.tiles_skipped_mask or self.tiles_skipped_nodata:
            lines.append(
                tr("Skipped tiles: {m} outside the mask, {nd} without data.").format(
                    m=self.tiles_skipped_mask, nd=self.tiles_skipped_nodata
                )
            )
        lines.extend(self.notes)
        if self.out_path:
            lines.append(
                tr("Written to {path} (layer {layer}).").format(path=self.out_path, layer=self.layer)
            )
        return "\n".join(lines)
