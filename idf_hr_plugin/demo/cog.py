"""Cloud-Optimized GeoTIFF writing (GDAL COG driver), atomic."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

from ..core.gdal_errors import with_gdal_exceptions


@with_gdal_exceptions
def write_cog(
    path: Path, rgb: np.ndarray, x0: float, ytop: float, res: float, metadata: dict[str, str]
) -> None:
    """Write an RGB uint8 (H, W, 3) array as a JPEG-compressed COG in EPSG:2154, atomically."""
    h, w, _ = rgb.shape
    mem = gdal.GetDriverByName("MEM").Create("", w, h, 3, gdal.GDT_Byte)
    mem.SetGeoTransform((x0, res, 0.0, ytop, 0.0, -res))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(2154)
    mem.SetProjection(srs.ExportToWkt())
    for b in range(3):
        band = mem.GetRasterBand(b + 1)
        band.WriteArray(rgb[..., b])
        band.SetColorInterpretation((gdal.GCI_RedBand, gdal.GCI_GreenBand, gdal.GCI_BlueBand)[b])
    mem.SetMetadata(metadata)
    tmp = path.with_name(path.name + ".part")
    levels = max(1, math.ceil(math.log2(max(w, h) / 256)))  # down to ~256 px, at least one level
    opts = [
        "COMPRESS=JPEG",
        "QUALITY=90",
        "BLOCKSIZE=512",
        "OVERVIEWS=IGNORE_EXISTING",
        f"OVERVIEW_COUNT={levels}",
        "OVERVIEW_RESAMPLING=AVERAGE",
        "NUM_THREADS=1",
    ]
    gdal.GetDriverByName("COG").CreateCopy(str(tmp), mem, strict=0, options=opts)
    mem = None
    os.replace(tmp, path)
