"""Checks of run parameters, done before any work (model loading, reading, inference).

One function per kind of value, each raising :class:`UserInputError` with one sentence that
names the parameter; the CLI turns them into argparse types and the engine and Processing call
:func:`check_detection_params` up front, so a bad value never costs a whole run.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional

from ..errors import UserInputError
from ..i18n import tr

# schemes and GDAL prefixes of sources that are not local files (not checked for existence)
_NOT_FILES = ("/vsi", "http://", "https://", "ftp://", "wmts:", "wms:", "<", "{")


def check_fraction(value: Any, name: str) -> float:
    """A number in [0, 1] (a confidence, IoU or threshold)."""
    v = _number(value, name)
    if not 0.0 <= v <= 1.0:
        raise UserInputError(
            tr("{name} must be between 0 and 1 (got {value}).").format(name=name, value=value)
        )
    return v


def check_int(value: Any, name: str, minimum: int, maximum: Optional[int] = None) -> int:
    """An integer in [minimum, maximum]."""
    try:
        v = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise UserInputError(
            tr("{name} must be a whole number (got '{value}').").format(name=name, value=value)
        ) from None
    if v < minimum or (maximum is not None and v > maximum):
        if maximum is None:
            msg = tr("{name} must be at least {min} (got {value}).")
        else:
            msg = tr("{name} must be between {min} and {max} (got {value}).")
        raise UserInputError(msg.format(name=name, min=minimum, max=maximum, value=value))
    return v


def check_positive(value: Any, name: str) -> float:
    """A finite number > 0 (a resolution, a GSD)."""
    v = _number(value, name)
    if v <= 0:
        raise UserInputError(
            tr("{name} must be greater than 0 (got {value}).").format(name=name, value=value)
        )
    return v


def check_crs(value: Any, name: str):
    """A CRS GDAL/PROJ knows (``EPSG:2154``, ``2154``, WKT) -> rasterio CRS."""
    from .tiling import to_crs

    try:
        return to_crs(int(value) if str(value).strip().isdigit() else value)
    except UserInputError:
        raise UserInputError(
            tr("{name} '{value}' is not a coordinate reference system I know; use e.g. EPSG:2154.").format(
                name=name, value=value
            )
        ) from None


def is_local_path(source: Any) -> bool:
    """Whether ``source`` names a local file (not a URL, /vsi path or GDAL connection string)."""
    s = str(source).strip().lower()
    # 'GPKG:file.gpkg:table', 'WMTS:url' have a colon in their first path part; 'C:\\x' only a drive
    return bool(s) and not s.startswith(_NOT_FILES) and ":" not in s.split(os.sep)[0][2:]


def check_input_file(path: Any, what: str) -> None:
    """A local input file must exist (remote and GDAL connection strings are left to GDAL)."""
    if path is None or not is_local_path(path):
        return
    if not os.path.isfile(str(path)):
        raise UserInputError(
            tr("The {what} '{path}' does not exist or is not a file; check the path.").format(
                what=what, path=path
            )
        )


def check_detection_params(
    *,
    raster: Any = None,
    mask: Any = None,
    conf: Optional[float] = None,
    iou: Optional[float] = None,
    ios: Optional[float] = None,
    seg_thresh: Optional[float] = None,
    batch_size: Optional[int] = None,
    tile_size: Optional[int] = None,
    overlap: Optional[int] = None,
    threads: Optional[int] = None,
    out_crs: Any = None,
) -> None:
    """Refuse any unusable detection parameter before any work (``None`` = the model's default)."""
    check_input_file(raster, tr("raster"))
    if isinstance(mask, (str, os.PathLike)):
        check_input_file(mask, tr("mask file"))
    for value, name in (
        (conf, tr("The confidence threshold")),
        (iou, tr("The IoU threshold")),
        (ios, tr("The IoS threshold")),
        (seg_thresh, tr("The segmentation threshold")),
    ):
        if value is not None:
            check_fraction(value, name)
    if batch_size is not None:
        check_int(batch_size, tr("The batch size"), 1)
    if tile_size is not None:
        check_int(tile_size, tr("The tile size"), 8, 16384)
    if overlap is not None:
        ov = check_int(overlap, tr("The overlap"), 0)
        if tile_size is not None and ov >= int(tile_size):
            raise UserInputError(
                tr("The overlap ({ov} px) must be smaller than the tile size ({ts} px).").format(
                    ov=ov, ts=tile_size
                )
            )
    if threads is not None:
        check_int(threads, tr("The number of threads"), 1, 1024)
    if out_crs is not None:
        check_crs(out_crs, tr("The output CRS"))


def _number(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UserInputError(
            tr("{name} must be a number (got '{value}').").format(name=name, value=value)
        ) from None
    if not math.isfinite(v):
        raise UserInputError(
            tr("{name} must be a finite number (got {value}).").format(name=name, value=value)
        )
    return v
