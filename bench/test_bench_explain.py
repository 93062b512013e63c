"""Bench of "Why this detection?": one occlusion map of the bundled model (``make bench``).

Printed: its wall time, number of model runs, and the ratio to bare ONNX Runtime ``session.run``
on the same number of 512 px inputs in the same batches (measured in the same run: the
machines are shared). Nothing is asserted about time.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "idf_hr_plugin" / "resources" / "models" / "idfhr_demo_detector.onnx"


def test_bench_occlusion_map_bundled_model(tmp_path):
    from osgeo import ogr

    from idf_hr_plugin.core.explain import explain_feature, occlusion_map
    from idf_hr_plugin.core.inference import run_detection
    from idf_hr_plugin.core.inference.runner import auto_batch_size
    from idf_hr_plugin.demo import ensure_demo_region

    region = ensure_demo_region(tmp_path / "region", size_m=256, tile_m=256)
    gpkg = tmp_path / "d.gpkg"
    rep = run_detection(str(MODEL), str(region.vintages[2024][0]), out_path=gpkg)
    ds = ogr.Open(str(gpkg))
    trees = [f for f in ds.GetLayerByName(rep.layer) if f["label"] == "tree"]
    fid = max(trees, key=lambda f: f["score"]).GetFID()
    exp = explain_feature(gpkg, fid)
    t0 = time.perf_counter()
    occ = occlusion_map(exp)
    wall = time.perf_counter() - t0
    assert 64 <= occ.runs <= 144
    # reference: the same number of bare session.run inputs, same batch size, same session
    spec, sess = exp.spec, exp.session
    bs = auto_batch_size(spec, 512)
    x = np.repeat(exp.views[0].model_input[None], bs, axis=0)
    t0 = time.perf_counter()
    for k in range(0, occ.runs, bs):
        sess.run(None, {spec.input.name: x[: min(bs, occ.runs - k)]})
    bare = time.perf_counter() - t0
    print(
        f"\nocclusion map, bundled model, patch {occ.patch} px: {occ.runs} runs in {wall:.2f} s "
        f"({wall / occ.runs * 1000:.0f} ms/run); bare session.run {bare:.2f} s; ratio {bare / wall:.2f}"
    )
