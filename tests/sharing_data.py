"""Result GeoPackages to publish in tests, written by the plugin's own writers (no inference needed)."""

from __future__ import annotations

import random
from pathlib import Path

# a few hundred metres in Vincennes (Lambert-93)
X0, Y0 = 656_000.0, 6_860_000.0
LABELS = {0: "building", 1: "pool", 2: "tree"}


def detections_gpkg(
    path: Path,
    n: int = 50,
    *,
    run_id: str = "run-0001",
    vintage: str = "2021",
    model: str = "idfhr_demo_detector",
    seed: int = 1,
    size_m: float = 400.0,
    model_path: str = "",
) -> tuple[Path, str]:
    """A detection layer of ``n`` boxes (+ its ``idfhr_runs`` row) written by the detection writer."""
    from shapely.geometry import box

    from idf_hr_plugin.core.inference.writer import write_gpkg

    rnd = random.Random(seed)
    geoms, recs = (
        [],
        {
            k: []
            for k in (
                "class_id",
                "label",
                "score",
                "area_m2",
                "model",
                "model_sha256",
                "source",
                "vintage",
                "run_id",
            )
        },
    )
    for _ in range(n):
        x, y = X0 + rnd.uniform(0, size_m - 12), Y0 + rnd.uniform(0, size_m - 12)
        w, h = rnd.uniform(2, 12), rnd.uniform(2, 12)
        g = box(x, y, x + w, y + h)
        cid = rnd.randrange(3)
        geoms.append(g)
        recs["class_id"].append(cid)
        recs["label"].append(LABELS[cid])
        recs["score"].append(round(rnd.uniform(0.3, 1.0), 4))
        recs["area_m2"].append(g.area)
        recs["model"].append(model)
        recs["model_sha256"].append("a" * 64)
        recs["source"].append('demo: l\'ortho "2021"')  # quotes survive the round trip
        recs["vintage"].append(vintage)
        recs["run_id"].append(run_id)
    area = box(X0, Y0, X0 + size_m, Y0 + size_m)
    record = {
        "run_id": run_id,
        "started_at": "2026-11-20T10:00:00",
        "model_name": model,
        "model_sha256": "a" * 64,
        "model_path": model_path,
        "vintage": vintage,
        "cpu_s": 12.5,
        "km2": area.area / 1e6,
        "energy_wh": 0.05,
        "parameters": {"conf": 0.3, "extent": list(area.bounds)},
        "analysed_area_wkt": area.wkt,
        "analysed_area_crs": "EPSG:2154",
    }
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    layer = write_gpkg(path, f"detections_{run_id.replace('-', '_')}", srs.ExportToWkt(), geoms, recs, record)
    return path, layer


def change_gpkg(path: Path, n: int = 20, seed: int = 2) -> tuple[Path, str]:
    """A change layer (new / removed / unchanged) written by the analysis writer."""
    import numpy as np
    from shapely.geometry import MultiPolygon, box

    from idf_hr_plugin.core.analysis.io import write_layer

    rnd = random.Random(seed)
    geoms = []
    for _ in range(n):
        x, y = X0 + rnd.uniform(0, 300), Y0 + rnd.uniform(0, 300)
        geoms.append(MultiPolygon([box(x, y, x + 5, y + 5)]))
    cols = {
        "change": np.array([rnd.choice(["new", "removed", "unchanged"]) for _ in range(n)], dtype=object),
        "class": np.array([rnd.randrange(3) for _ in range(n)], dtype=np.int64),
        "label": np.array([LABELS[rnd.randrange(3)] for _ in range(n)], dtype=object),
        "iou": np.array([rnd.choice([np.nan, 0.5, 0.75]) for _ in range(n)]),
        "vintage_before": np.array(["2018"] * n, dtype=object),
        "vintage_after": np.array(["2021"] * n, dtype=object),
    }
    area = box(X0, Y0, X0 + 320, Y0 + 320)
    meta = {"model_name": "idfhr_demo_detector", "model_sha256": "a" * 64, "compared_area_wkt": area.wkt}
    write_layer(path, "changes", geoms, cols, metadata=meta)
    return path, "changes"


def zones_gpkg(path: Path) -> tuple[Path, str]:
    """A zone-statistics layer (two communes' worth of squares) written by the analysis writer."""
    import numpy as np
    from shapely.geometry import MultiPolygon, box

    from idf_hr_plugin.core.analysis.io import write_layer

    geoms = [
        MultiPolygon([box(X0, Y0, X0 + 200, Y0 + 400)]),
        MultiPolygon([box(X0 + 200, Y0, X0 + 400, Y0 + 400)]),
    ]
    cols = {
        "zone": np.array(["Vincennes", "Saint-Mandé"], dtype=object),
        "zone_area_km2": np.array([0.08, 0.08]),
        "analysed_km2": np.array([0.08, 0.04]),
        "analysed_pct": np.array([100.0, 50.0]),
        "analysed_label": np.array(["analysé à 100 %", "analysé à 50 %"], dtype=object),
        "count": np.array([12, 5], dtype=np.int64),
        "density_per_km2": np.array([150.0, 125.0]),
    }
    meta = {"assignment": "centroid", "crs": "EPSG:2154", "objects": 17, "analysed_km2": 0.12}
    write_layer(path, "zone_statistics", geoms, cols, metadata=meta)
    return path, "zone_statistics"
