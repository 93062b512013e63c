"""GDAL's error mode (exceptions on/off) is process-wide: inside QGIS, the plugin must leave it as it found it.

Each public entry point that calls GDAL/OGR/OSR is run with the mode on and with it off,
succeeding and failing; the mode must be the same afterwards. Importing the plugin must not
change it either.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404 - a fresh interpreter of our own
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr
from shapely.geometry import box

from idf_hr_plugin.core.analysis import read_detections, write_layer
from idf_hr_plugin.core.catalog.model import Asset, Item
from idf_hr_plugin.core.catalog.mosaic import build_mosaic_vrt
from idf_hr_plugin.core.errors import IdfHrError
from idf_hr_plugin.core.gdal_errors import exception_modes, gdal_exceptions, with_gdal_exceptions
from idf_hr_plugin.core.inference.writer import FIELDS, write_gpkg
from idf_hr_plugin.core.opendata import gpkgio
from idf_hr_plugin.core.opendata.boundaries import Boundaries
from idf_hr_plugin.core.tiles.offline import download_pack
from idf_hr_plugin.demo.cog import write_cog
from idf_hr_plugin.demo.scene import build_scene
from idf_hr_plugin.demo.truth import write_truth

ROOT = Path(__file__).resolve().parents[2]
MODS = (gdal, ogr, osr)
X0, Y0 = 652000.0, 6862000.0


def _set_modes(on: bool) -> None:
    # GDAL keeps a stack of error handlers: switch on in order, off in reverse order
    for m in MODS if on else reversed(MODS):
        if bool(m.GetUseExceptions()) != on:
            (m.UseExceptions if on else m.DontUseExceptions)()


@pytest.fixture(params=[False, True], ids=["mode-off", "mode-on"])
def mode(request):
    before = exception_modes()
    _set_modes(request.param)
    yield (request.param,) * 3
    _set_modes(False)
    if any(before):
        _set_modes(True)


def _cog(path: Path) -> Path:
    rgb = np.full((64, 64, 3), 120, dtype=np.uint8)
    with gdal_exceptions():
        write_cog(path, rgb, X0, Y0, 0.5, {"demo": "1"})
    return path


def _records(n: int) -> dict:
    return {name: [1 if kind == "int" else 0.5 if kind == "real" else "x"] * n for name, kind in FIELDS}


def _l93() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    return srs.ExportToWkt()


FEATURE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
    "properties": {"n": "a"},
}


def _analysis_gpkg(tmp: Path) -> Path:
    """A one-object detection layer written by the analysis writer (with the mode as the test set it)."""
    path = tmp / "analysis_in.gpkg"
    if not path.exists():
        cols = {"class_id": [1], "label": ["building"], "score": [0.9]}
        write_layer(path, "det", [box(X0, Y0 - 2, X0 + 1, Y0 - 1)], cols)
    return path


def _entry_points(tmp: Path) -> dict:
    """name -> (call that succeeds, call that fails); each call takes no argument."""
    not_gpkg = tmp / "notes.gpkg"
    not_gpkg.write_text("not a GeoPackage")
    cog = _cog(tmp / "img.tif")
    good_item = Item(id="a", source_id="s", assets={"img": Asset("img", str(cog), "image/tiff")})
    missing_item = Item(
        id="b", source_id="s", assets={"img": Asset("img", str(tmp / "no.tif"), "image/tiff")}
    )
    paris = Boundaries.from_features(
        [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[2.3, 48.8], [2.4, 48.8], [2.4, 48.9], [2.3, 48.8]]],
                },
                "properties": {"code": "75056", "nom": "Paris"},
            }
        ],
        membership={"75056": {"nom": "Paris", "dep": "75", "ept_id": "T1", "ept_nom": "Paris"}},
    )
    scene = build_scene((X0, Y0 - 60, X0 + 60, Y0), 1)
    geoms = [box(X0, Y0 - 2, X0 + 1, Y0 - 1)]
    n = iter(range(1000))
    return {
        "detection writer": (
            lambda: write_gpkg(
                tmp / f"det{next(n)}.gpkg", "run", _l93(), geoms, _records(1), {"run_id": "r"}
            ),
            lambda: write_gpkg(not_gpkg, "run", _l93(), geoms, _records(1), {"run_id": "r"}),
        ),
        "open data write": (
            lambda: gpkgio.write_features_gpkg(
                tmp / f"od{next(n)}.gpkg", "pts", [FEATURE], [("n", "str")], "Point"
            ),
            lambda: gpkgio.write_features_gpkg(tmp / "od.gpkg", "pts", [{"geometry": 1}], [], "Point"),
        ),
        "open data convert": (
            lambda: gpkgio.convert_to_gpkg(
                tmp / "det0.gpkg", tmp / f"cv{next(n)}.gpkg", "run", src_layer="run"
            ),
            lambda: gpkgio.convert_to_gpkg(tmp / "missing.geojson", tmp / "cv.gpkg", "x"),
        ),
        "open data read": (
            lambda: gpkgio.read_features(tmp / "det0.gpkg", "run"),
            lambda: gpkgio.read_features(not_gpkg),
        ),
        "boundaries": (
            lambda: paris.bbox("75056"),
            lambda: paris.bbox("75056", epsg=999999),
        ),
        "mosaic": (
            lambda: build_mosaic_vrt([good_item], tmp / f"m{next(n)}.vrt"),
            lambda: build_mosaic_vrt([missing_item], tmp / "m.vrt"),
        ),
        "offline pack": (
            lambda: download_pack(str(cog), (X0, Y0 - 20, X0 + 20, Y0), "EPSG:2154", tmp / f"p{next(n)}.tif"),
            lambda: download_pack(
                str(tmp / "no.tif"), (X0, Y0 - 20, X0 + 20, Y0), "EPSG:2154", tmp / "p.tif"
            ),
        ),
        "demo imagery": (
            lambda: write_cog(tmp / f"c{next(n)}.tif", np.zeros((32, 32, 3), np.uint8), X0, Y0, 0.5, {}),
            lambda: write_cog(tmp / "absent1" / "c.tif", np.zeros((32, 32, 3), np.uint8), X0, Y0, 0.5, {}),
        ),
        "demo truth": (
            lambda: write_truth(tmp / f"t{next(n)}.gpkg", scene),
            lambda: write_truth(tmp / "absent2" / "t.gpkg", scene),
        ),
        "analysis layer writer": (
            lambda: write_layer(tmp / f"a{next(n)}.gpkg", "changes", geoms, {"change": ["new"]}),
            lambda: write_layer(not_gpkg, "changes", geoms, {"change": ["new"]}),
        ),
        "analysis detections reader": (
            lambda: read_detections(_analysis_gpkg(tmp), analysed_area=box(X0, Y0 - 10, X0 + 10, Y0)),
            lambda: read_detections(not_gpkg),
        ),
    }


def test_every_entry_point_leaves_the_mode_as_it_found_it(tmp_path, mode):
    changed = []
    for name, (ok, bad) in _entry_points(tmp_path).items():
        ok()
        if exception_modes() != mode:
            changed.append(f"{name} (success): {exception_modes()}")
        with pytest.raises((IdfHrError, RuntimeError, OSError, ValueError, KeyError, TypeError)):
            bad()
        if exception_modes() != mode:
            changed.append(f"{name} (failure): {exception_modes()}")
    assert changed == [], f"GDAL error mode was {mode} before: " + "; ".join(changed)


def test_importing_the_plugin_leaves_the_mode_alone():
    code = (
        "import importlib, pkgutil, sys\n"
        "from osgeo import gdal, ogr, osr\n"
        "import idf_hr_plugin\n"
        "bad = []\n"
        "for pkg in ('core', 'demo', 'processing', 'gis'):\n"
        "    mod = importlib.import_module('idf_hr_plugin.' + pkg)\n"
        "    for info in pkgutil.walk_packages(mod.__path__, mod.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "        if (gdal.GetUseExceptions(), ogr.GetUseExceptions(), osr.GetUseExceptions()) != (0, 0, 0):\n"
        "            bad.append(info.name)\n"
        "            gdal.DontUseExceptions() if gdal.GetUseExceptions() else None\n"
        "print(bad)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    res = subprocess.run(  # nosec B603 - fixed interpreter and code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "[]", "modules that switch GDAL exceptions on at import"


def test_scoped_mode_nests_and_overlaps_across_threads(mode):
    started, release = threading.Event(), threading.Event()

    def worker():
        with gdal_exceptions():
            started.set()
            release.wait(30)

    t = threading.Thread(target=worker)
    t.start()
    started.wait(30)
    with gdal_exceptions():
        assert exception_modes() == (True, True, True)
        with gdal_exceptions():
            pass
        assert exception_modes() == (True, True, True)
    assert exception_modes() == (True, True, True)  # the worker's block is still running
    release.set()
    t.join(30)
    assert exception_modes() == mode

    @with_gdal_exceptions
    def fails():
        assert gdal.GetUseExceptions()
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert exception_modes() == mode


def test_only_the_scoped_helper_switches_gdal_exceptions_on():
    """A module calling ``UseExceptions()`` itself would flip GDAL's mode for QGIS and every plugin."""
    package = Path(__file__).resolve().parents[2] / "idf_hr_plugin"
    offenders = [
        f"{path.relative_to(package)}:{no}"
        for path in package.rglob("*.py")
        if path.name != "gdal_errors.py"
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".UseExceptions()" in line.split("#")[0]
    ]
    assert offenders == [], "use core.gdal_errors.gdal_exceptions() instead: " + ", ".join(offenders)
