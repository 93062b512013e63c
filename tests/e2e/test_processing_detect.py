"""``qgis_process run idfhr:detect`` with the real QGIS command line on a generated raster."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from osgeo import ogr

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import make_test_models  # noqa: E402

from tests.unit.inference.conftest import make_raster  # noqa: E402

ORIGIN = (652000.0, 6862000.0)
SQUARES = [(652020.0, 6861980.0, 4.0), (652090.0, 6861930.0, 4.0)]  # centres in EPSG:2154, 4 m sides
FIELDS = {"class_id", "label", "score", "area_m2", "model", "model_sha256", "source", "vintage", "run_id"}


@pytest.fixture(scope="module")
def qgis_process_ort(qgis_process):
    """qgis_process whose profile has ONNX Runtime in the plugin's own dependency folder.

    ``qgis_process`` runs Debian's Python, which has no onnxruntime (nor onnx): the venv's
    onnxruntime, and nothing else, is linked into ``<profile>/python/idf_hr_deps`` exactly where
    the one-click install puts it, so these runs also prove ``onnx`` is not needed at run time.
    """
    import onnxruntime

    site = Path(onnxruntime.__file__).parents[1]
    profile = Path(qgis_process.env["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default"
    deps = profile / "python" / "idf_hr_deps"
    deps.mkdir(parents=True, exist_ok=True)
    link = deps / "onnxruntime"
    if not link.exists():
        link.symlink_to(site / "onnxruntime")
    return qgis_process


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("detect_e2e")
    raster = make_raster(d / "ortho_2024.tif", origin=ORIGIN, size=(600, 600), squares=SQUARES)
    return {
        "raster": raster,
        "model": make_test_models.build("yolov8.onnx", d),
        "one_channel": make_test_models.build("one_channel.onnx", d),
    }


def test_detect_writes_geopackage_with_fields_runs_and_style(qgis_process_ort, assets, tmp_path):
    out = tmp_path / "found.gpkg"
    res = qgis_process_ort.run(
        "idfhr:detect",
        {"INPUT": assets["raster"], "MODEL": assets["model"], "CONF": 0.5, "OUTPUT": out},
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    results = res["results"]
    assert results["COUNT"] == 2
    report = json.loads(results["REPORT"])
    assert report["counts"] == {"red": 2} and report["energy_wh"] > 0 and report["energy_method"]
    ds = ogr.Open(str(out))
    layer = ds.GetLayerByName(results["LAYER_NAME"])
    defn = layer.GetLayerDefn()
    assert FIELDS <= {defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())}
    feats = sorted(layer, key=lambda f: f.GetGeometryRef().Centroid().GetX())
    for f, (x, y, side) in zip(feats, SQUARES):
        c = f.GetGeometryRef().Centroid()
        assert abs(c.GetX() - x) <= 0.1 and abs(c.GetY() - y) <= 0.1  # half a pixel at 20 cm
        assert f.GetField("label") == "red" and f.GetField("area_m2") == pytest.approx(side * side)
        assert f.GetField("vintage") == "2024" and f.GetField("source").endswith("ortho_2024.tif")
    runs = ds.GetLayerByName("idfhr_runs")
    assert [r.GetField("run_id") for r in runs] == [report["run_id"]]
    ds = None
    with sqlite3.connect(out) as db:  # the by-class style travels with the GeoPackage
        (qml,) = db.execute("select styleQML from layer_styles where useAsDefault").fetchone()
    assert 'type="categorizedSymbol"' in qml and 'value="red"' in qml


def test_detect_with_mask_only_keeps_objects_inside(qgis_process_ort, assets, tmp_path):
    mask = tmp_path / "mask.geojson"
    x, y, _ = SQUARES[0]
    ring = [[x - 10, y - 10], [x + 10, y - 10], [x + 10, y + 10], [x - 10, y + 10], [x - 10, y - 10]]
    mask.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    out = tmp_path / "masked.gpkg"
    res = qgis_process_ort.run(
        "idfhr:detect", {"INPUT": assets["raster"], "MODEL": assets["model"], "MASK": mask, "OUTPUT": out}
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    assert res["results"]["COUNT"] == 1


def test_detect_one_channel_model_on_rgb_fails_clearly(qgis_process_ort, assets, tmp_path):
    out = tmp_path / "bad.gpkg"
    res = qgis_process_ort.run(
        "idfhr:detect", {"INPUT": assets["raster"], "MODEL": assets["one_channel"], "OUTPUT": out}
    )
    assert res["_returncode"] != 0
    assert "expects 1 channel(s) but the raster has 3 band(s)" in res["_stderr"] + res["_stdout"]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".gpkg" or ".tmp" in p.name]


def test_band_mapping_and_task_override_reach_the_engine(qgis_process_ort, assets, tmp_path):
    # the test model fires on bright red; mapping the bands as B,G,R turns the red squares blue
    swapped = qgis_process_ort.run(
        "idfhr:detect",
        {
            "INPUT": assets["raster"],
            "MODEL": assets["model"],
            "CONF": 0.5,
            "BANDS": "3,2,1",
            "OUTPUT": tmp_path / "bgr.gpkg",
        },
    )
    assert swapped["_returncode"] == 0, swapped["_stderr"] + swapped["_stdout"]
    assert swapped["results"]["COUNT"] == 0
    forced = qgis_process_ort.run(
        "idfhr:detect",
        {
            "INPUT": assets["raster"],
            "MODEL": assets["model"],
            "CONF": 0.5,
            "TASK": 1,
            "OUTPUT": tmp_path / "forced.gpkg",
        },
    )
    assert forced["_returncode"] == 0 and forced["results"]["COUNT"] == 2
    report = json.loads(forced["results"]["REPORT"])
    assert report["parameters"]["task"] == "detection"
