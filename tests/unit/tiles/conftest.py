"""Fixtures for the tiles tests: small synthetic, tiled COGs with overviews (Lambert-93)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

# A point inside the MGP, in Lambert-93.
X0, Y0 = 652000.0, 6862000.0


def write_cog(path: Path, width: int, height: int, res: float = 0.2, seed: int = 0) -> Path:
    """A deterministic 3-band uint8 COG (512 px tiles, overviews, DEFLATE) at ``X0, Y0``."""
    from osgeo import gdal

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 60 * np.sin(xx / 37.0) + 40 * np.cos(yy / 23.0),
            128 + 50 * np.sin((xx + yy) / 51.0),
            100 + 0.02 * xx + 0.01 * yy,
        ]
    )
    data = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    tmp = path.with_name(path.stem + ".src.tif")
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(X0, Y0, res, res),
        photometric="RGB",
    )
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data)
    gdal.Translate(
        str(path),
        str(tmp),
        options=gdal.TranslateOptions(
            format="COG", creationOptions=["BLOCKSIZE=512", "COMPRESS=DEFLATE", "OVERVIEW_RESAMPLING=AVERAGE"]
        ),
    )
    tmp.unlink()
    return path


@pytest.fixture(scope="session")
def cog_dir(tmp_path_factory) -> Path:
    """A folder holding ``small.tif``: a 1500×1200 px, 20 cm COG (300 m × 240 m)."""
    root = tmp_path_factory.mktemp("cogs")
    write_cog(root / "small.tif", 1500, 1200)
    return root
