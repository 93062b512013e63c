"""No regression in results: every task gives the features frozen from the reference engine.

The expected features (``data/frozen_results.json.gz``) were written by the engine of main
before the speed work of issue 12 (``python -m tests.unit.inference.test_frozen_results OUT``
from a checkout of that engine). Each run here must give the same features: same count, same
classes, scores and areas within 1e-6, geometries within 1e-6 m (Hausdorff distance).

One deliberate change since: the four simplified semantic cases were frozen again when regions
cut by seams started to be polygonised whole (issue 12). Counts, classes, scores, areas and the
exact outlines (``semantic_blobs2_noise_raw``, unsimplified) did not change; the simplified
outlines of the 67 regions that crossed seams moved by at most 0.1 m (half a 20 cm pixel: the
0.5 px tolerance), because the union of seam pieces had left extra vertices on the seams that
the simplification started from. They now equal the whole raster's polygons simplified at once,
whatever the tiles (``test_simplified_polygons_do_not_depend_on_the_tiles``).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FROZEN = HERE / "data" / "frozen_results.json.gz"
X0, Y0 = 652000.0, 6862000.0
TOL = 1e-6


def _blobs(path: Path, w: int, h: int, seed: int) -> Path:
    """Red blobs of many sizes (many cross tile seams, some hold holes) on grey."""
    import rasterio
    from scipy import ndimage

    sys.path.insert(0, str(HERE))
    from .conftest import make_raster

    rng = np.random.default_rng(seed)
    f = ndimage.uniform_filter(rng.random((h, w)), size=15)
    red = f > np.quantile(f, 0.6)
    data = np.full((3, h, w), 128, np.uint8)
    data[0][red], data[1][red], data[2][red] = 255, 0, 0
    make_raster(path, size=(w, h))
    with rasterio.open(path, "r+") as dst:
        dst.write(data)
    return path


def _noise(path: Path, size: int) -> Path:
    """The benches' textured tile: thousands of small class regions (rectangles, holes, seams)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from test_bench_inference import _base_tile

    return _base_tile(path, size=size)


def _features(gpkg: Path, layer: str) -> list:
    from osgeo import ogr

    ds = ogr.Open(str(gpkg))
    out = []
    for f in ds.GetLayerByName(layer):
        out.append(
            {
                "class_id": f.GetField("class_id"),
                "label": f.GetField("label"),
                "score": f.GetField("score"),
                "area_m2": f.GetField("area_m2"),
                "wkt": f.GetGeometryRef().ExportToIsoWkt(),
            }
        )
    return out


def compute(models: dict, work: Path, shared: Path | None = None) -> dict:
    """{case: features} of every case (the same code freezes and checks)."""
    import onnx

    sys.path.insert(0, str(ROOT / "scripts"))
    import make_test_models

    from idf_hr_plugin.core.inference import run_detection

    sys.path.insert(0, str(HERE))
    from .conftest import make_raster

    work.mkdir(parents=True, exist_ok=True)
    squares = [(X0 + 10 + 9 * i, Y0 - 12 - 7.5 * (i % 3), 3.0 + 0.4 * i) for i in range(12)]
    red = make_raster(work / "red.tif", size=(700, 560), squares=squares)
    blobs = _blobs(work / "blobs.tif", 560, 420, 7)
    noise = _noise(work / "noise.tif", 700)
    blobs_model = work / "seg_blobs2.onnx"
    onnx.save(make_test_models.seg_blobs(size=512, classes=2, blur=31), str(blobs_model))
    from shapely.geometry import box

    hole_mask = [box(X0 + 20, Y0 - 70, X0 + 100, Y0 - 10).difference(box(X0 + 40, Y0 - 50, X0 + 60, Y0 - 30))]
    cases = {
        "detect_yolov8": (models["yolov8"], red, {}),
        "detect_yolov5": (models["yolov5"], red, {}),
        "detect_end2end": (models["end2end"], red, {}),
        "obb_yolov8": (models["yolov8_obb"], red, {}),
        "instance_yolov8_seg": (models["yolov8_seg"], red, {}),
        "semantic_sigmoid_blobs": (models["seg_sigmoid"], blobs, {"overlap": 26}),
        "semantic_sigmoid_blobs_mask": (models["seg_sigmoid"], blobs, {"overlap": 26, "mask": hole_mask}),
        "semantic_softmax_blobs": (models["seg_softmax"], blobs, {}),
        "semantic_blobs2_noise": (blobs_model, noise, {"extent": (X0 + 1, Y0 - 119, X0 + 119, Y0 - 1)}),
        "semantic_blobs2_noise_raw": (blobs_model, noise, {"simplify_px": 0.0, "min_area_px": 3.0}),
    }
    if shared is not None:
        bundled = ROOT / "resources" / "models" / "idfhr_demo_detector.onnx"
        ortho = shared / "imagery" / "ign_ortho_20cm_rgb_l93.tif"
        import rasterio

        with rasterio.open(ortho) as ds:
            b = ds.bounds
        ext = (b.left, b.top - 150, b.left + 150, b.top)
        cases["detect_bundled_ign"] = (bundled, ortho, {"extent": ext, "conf": 0.05})
    out = {}
    for name, (model, raster, kw) in cases.items():
        gpkg = work / f"{name}.gpkg"
        rep = run_detection(str(model), str(raster), out_path=gpkg, **kw)
        out[name] = _features(gpkg, rep.layer)
    return out


def _key(f: dict, geom) -> tuple:
    c = geom.centroid
    return (f["class_id"], round(c.x, 3), round(c.y, 3))


def _check(name: str, got: list, ref: list) -> None:
    from shapely import wkt

    assert len(got) == len(ref) > 0, f"{name}: {len(got)} features instead of {len(ref)}"
    gg = [wkt.loads(f["wkt"]) for f in got]
    rg = [wkt.loads(f["wkt"]) for f in ref]
    pool: dict = {}
    for f, g in zip(got, gg):
        pool.setdefault(_key(f, g), []).append((f, g))
    for f, g in zip(ref, rg):
        cands = pool.get(_key(f, g), [])
        match = None
        for i, (fm, gm) in enumerate(cands):
            if (
                fm["label"] == f["label"]
                and abs(fm["score"] - f["score"]) <= TOL
                and abs(fm["area_m2"] - f["area_m2"]) <= TOL
                and gm.geom_type == g.geom_type
                and gm.hausdorff_distance(g) <= TOL
            ):
                match = cands.pop(i)
                break
        assert match is not None, f"{name}: no feature like {f['label']} {f['score']:.6f} {f['wkt'][:120]}"


@pytest.fixture(scope="module")
def frozen() -> dict:
    with gzip.open(FROZEN, "rt", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def computed(models, tmp_path_factory, request) -> dict:
    from tests.conftest import SHARED_DATA

    shared = SHARED_DATA if SHARED_DATA.is_dir() else None
    return compute(models, tmp_path_factory.mktemp("frozen"), shared)


CASES = [
    "detect_yolov8",
    "detect_yolov5",
    "detect_end2end",
    "obb_yolov8",
    "instance_yolov8_seg",
    "semantic_sigmoid_blobs",
    "semantic_sigmoid_blobs_mask",
    "semantic_softmax_blobs",
    "semantic_blobs2_noise",
    "semantic_blobs2_noise_raw",
]


@pytest.mark.parametrize("case", CASES)
def test_same_features_as_the_reference_engine(computed, frozen, case):
    _check(case, computed[case], frozen[case])


def test_bundled_model_same_detections_as_the_reference_engine(computed, frozen, shared_data):
    _check("detect_bundled_ign", computed["detect_bundled_ign"], frozen["detect_bundled_ign"])


if __name__ == "__main__":  # freeze: python -m tests.unit.inference.test_frozen_results OUT.json.gz
    import tempfile

    sys.path.insert(0, str(ROOT / "scripts"))
    import make_test_models

    from tests.conftest import SHARED_DATA

    with tempfile.TemporaryDirectory() as d:
        models = {n.removesuffix(".onnx"): p for n, p in make_test_models.build_all(Path(d) / "m").items()}
        res = compute(models, Path(d) / "w", SHARED_DATA if SHARED_DATA.is_dir() else None)
    with gzip.open(sys.argv[1], "wt", encoding="utf-8") as fh:
        json.dump(res, fh)
    print({k: len(v) for k, v in res.items()})
