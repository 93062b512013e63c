"""Analysis benchmark: change matching 10k/100k/1M vs same, zonal statistics of 1M objects / 131 communes.

Run with ``make bench`` (or this file alone with ``-s``); prints times and ratios measured in the
same run: matching time against n·log n growth from the 10k reference, and zonal statistics
against the time of one vectorised pass over the same objects (their areas).
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from shapely.geometry import box, shape

from idf_hr_plugin.core.analysis import geometry as G
from idf_hr_plugin.core.analysis.change import Detections, compare_detections
from idf_hr_plugin.core.analysis.zonal import zonal_statistics
from tests.conftest import SHARED_DATA

DENSITY_PER_KM2 = 7000  # objects per km², as in the demo region's ground truth
CLASSES = np.array(["building", "swimming_pool", "solar_panel", "tree", "car"])


def synthetic_boxes(n: int, x0: float, y0: float, side_m: float, seed: int):
    """``n`` axis-aligned boxes of 2–15 m spread over a square, with classes and scores."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, side_m, (n, 2)) + (x0, y0)
    wh = rng.uniform(2, 15, (n, 2))
    return xy, wh, rng.integers(0, len(CLASSES), n), rng.uniform(0.3, 1.0, n)


def to_geoms(xy: np.ndarray, wh: np.ndarray) -> np.ndarray:
    return G.as_geometry_array([box(x, y, x + w, y + h) for (x, y), (w, h) in zip(xy.tolist(), wh.tolist())])


def two_vintages(n: int, seed: int = 1):
    """Before: n boxes; after: the same jittered by up to 0.3 m, 5 % removed and 5 % new."""
    side = math.sqrt(n / DENSITY_PER_KM2) * 1000.0
    x0, y0 = 650000.0, 6850000.0
    xy, wh, cls, sc = synthetic_boxes(n, x0, y0, side, seed)
    rng = np.random.default_rng(seed + 1)
    keep = rng.random(n) >= 0.05
    nxy, nwh, ncls, nsc = synthetic_boxes(n // 20, x0, y0, side, seed + 2)
    axy = np.vstack([xy[keep] + rng.uniform(-0.3, 0.3, (keep.sum(), 2)), nxy])
    awh, acls, asc = (
        np.vstack([wh[keep], nwh]),
        np.concatenate([cls[keep], ncls]),
        np.concatenate([sc[keep], nsc]),
    )
    area = box(x0, y0, x0 + side + 20, y0 + side + 20)
    before = Detections(to_geoms(xy, wh), CLASSES[cls], sc, area, model_name="bench")
    after = Detections(to_geoms(axy, awh), CLASSES[acls], asc, area, model_name="bench")
    return before, after


def test_bench_matching_growth():
    times = {}
    for n in (10_000, 100_000, 1_000_000):
        before, after = two_vintages(n)
        t0 = time.perf_counter()
        res = compare_detections(before, after)
        times[n] = time.perf_counter() - t0
        counts = {
            s: int((res.columns["change"] == s).sum()) for s in ("unchanged", "modified", "new", "removed")
        }
        assert counts["unchanged"] > 0.8 * n
        ref, nlogn = times[10_000], (n * math.log(n)) / (10_000 * math.log(10_000))
        print(
            f"\n[analysis] matching {n:>9,} vs {len(after):,}: {times[n]:7.2f} s "
            f"({times[n] / n * 1e6:.1f} µs/object); ratio to 10k {times[n] / ref:6.1f} "
            f"(n log n predicts {nlogn:.1f}, n² would be {(n / 10_000) ** 2:,.0f}); {counts}"
        )
        del before, after, res


def test_bench_zonal_statistics_1m_over_mgp_communes():
    path = SHARED_DATA / "admin" / "mgp_communes_with_ept.geojson"
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (a fresh clone has no ../shared)")
    feats = json.loads(path.read_text(encoding="utf-8"))["features"]
    zones = [shape(f["geometry"]) for f in feats]
    names = [f["properties"]["nom"] for f in feats]
    zl93, _ = G.to_lambert93(G.as_geometry_array(zones), "EPSG:4326")
    zb = G.bounds(zl93)
    (minx, miny), (maxx, maxy) = zb[:, :2].min(axis=0), zb[:, 2:].max(axis=0)
    n = 1_000_000
    rng = np.random.default_rng(3)
    xy = np.column_stack([rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)])
    wh = rng.uniform(2, 15, (n, 2))
    geoms = to_geoms(xy, wh)
    cls = CLASSES[rng.integers(0, len(CLASSES), n)]
    # runs analysed three bands of the metropolis, not all of it
    h = (maxy - miny) / 7
    analysed = [box(minx, miny + k * 2 * h, maxx, miny + k * 2 * h + h) for k in range(3)]

    t0 = time.perf_counter()
    G.areas(geoms)
    ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = zonal_statistics(zones, names, geoms, cls, analysed, zones_crs="EPSG:4326")
    dt = time.perf_counter() - t0
    counted = sum(r["count"] for r in res.rows)
    assert counted + res.metadata["objects_outside_zones"] == n
    print(
        f"\n[analysis] zonal statistics, {n:,} objects over {len(zones)} communes (EPSG:4326 -> Lambert-93): "
        f"{dt:.2f} s ({dt / n * 1e6:.2f} µs/object) = {dt / ref:.1f}x one pass computing their areas "
        f"({ref:.2f} s); {counted:,} in communes, {len(res.rows)} rows; shapely {'2' if G.SHAPELY2 else '1.8'}"
    )
