"""Fixtures of the inference tests: hand-built ONNX models and synthetic georeferenced rasters."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import make_test_models  # noqa: E402


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict:
    """{name: path} of every hand-built model (generated once per session, never committed)."""
    out = tmp_path_factory.mktemp("models")
    return {name.removesuffix(".onnx"): path for name, path in make_test_models.build_all(out).items()}


def make_raster(
    path,
    *,
    crs="EPSG:2154",
    origin=(652000.0, 6862000.0),
    gsd=0.2,
    size=(600, 600),
    squares=(),
    bands=3,
    nodata=None,
    fill=128,
    alpha=False,
):
    """A grey GeoTIFF with pure-red squares; ``squares`` = [(x_centre, y_centre, side_m)] in ``crs``."""
    import rasterio
    from affine import Affine

    w, h = size
    data = np.full((bands, h, w), fill, np.uint8)
    t = Affine(gsd, 0, origin[0], 0, -gsd, origin[1])
    for x, y, side in squares:
        c0 = int(round((x - side / 2 - origin[0]) / gsd))
        c1 = int(round((x + side / 2 - origin[0]) / gsd))
        r0 = int(round((origin[1] - (y + side / 2)) / gsd))
        r1 = int(round((origin[1] - (y - side / 2)) / gsd))
        data[0, r0:r1, c0:c1] = 255
        data[1:3, r0:r1, c0:c1] = 0
    if alpha:
        data = np.concatenate([data, np.full((1, h, w), 255, np.uint8)])
    profile = dict(
        driver="GTiff",
        width=w,
        height=h,
        count=data.shape[0],
        dtype="uint8",
        crs=crs,
        transform=t,
        tiled=True,
        blockxsize=256,
        blockysize=256,
    )
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if alpha:
            from rasterio.enums import ColorInterp

            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return Path(path)


@pytest.fixture
def raster_factory(tmp_path):
    def make(name="img.tif", **kw):
        return make_raster(tmp_path / name, **kw)

    return make
