"""Tile matrix sets as plain data, and the arithmetic on them.

* ``WEB_MERCATOR_QUAD``: OGC WebMercatorQuad (EPSG:3857), = IGN Géoplateforme ``PM``: origin
  (-20037508.3427892, 20037508.3427892), 256 px tiles, 2^z × 2^z tiles at zoom z.
* ``LAMB93_5CM``: IGN Géoplateforme ``LAMB93_5cm_EPSG`` (EPSG:2154) as published in the
  ``https://data.geopf.fr/wmts`` GetCapabilities: top-left corner (0, 12 000 000), 256 px tiles,
  zooms 0–22, 5 cm at zoom 22 and doubling per level up (scale denominator = res / 0.00028),
  matrix sizes covering 0 ≤ x ≤ 1 290 240 m and 1 237 529.6 ≤ y ≤ 12 000 000 m (e.g. 100800 ×
  840818 tiles at zoom 22, 25 × 206 at zoom 10), which is how the capabilities define them.

Rows count downwards from the top-left corner, columns rightwards (OGC convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UserInputError
from ..i18n import tr

STANDARD_PIXEL_M = 0.00028  # OGC "standardized rendering pixel size"


@dataclass(frozen=True)
class TileMatrixSet:
    """A regular tile pyramid: ``resolutions[z]`` is metres (CRS units) per pixel at zoom ``z``."""

    id: str
    crs: str
    origin: tuple[float, float]  # top-left corner (x, y)
    tile_size: int
    resolutions: tuple[float, ...]
    matrix_widths: tuple[int, ...]
    matrix_heights: tuple[int, ...]

    @property
    def max_zoom(self) -> int:
        return len(self.resolutions) - 1

    def scale_denominator(self, z: int) -> float:
        """OGC scale denominator of zoom ``z``."""
        return self.resolutions[z] / STANDARD_PIXEL_M

    def tile_span(self, z: int) -> float:
        """Ground size of one tile side at zoom ``z``."""
        return self.resolutions[z] * self.tile_size


def _web_mercator_quad(max_zoom: int = 24) -> TileMatrixSet:
    half = 20037508.342789244  # pi * 6378137
    res0 = 2 * half / 256
    return TileMatrixSet(
        id="WebMercatorQuad",
        crs="EPSG:3857",
        origin=(-half, half),
        tile_size=256,
        resolutions=tuple(res0 / 2**z for z in range(max_zoom + 1)),
        matrix_widths=tuple(2**z for z in range(max_zoom + 1)),
        matrix_heights=tuple(2**z for z in range(max_zoom + 1)),
    )


def _lamb93_5cm() -> TileMatrixSet:
    width_m, height_m = 1_290_240.0, 10_762_470.4  # extent implied by IGN's zoom-22 matrix size
    res = tuple(0.05 * 2 ** (22 - z) for z in range(23))
    return TileMatrixSet(
        id="LAMB93_5cm_EPSG",
        crs="EPSG:2154",
        origin=(0.0, 12_000_000.0),
        tile_size=256,
        resolutions=res,
        matrix_widths=tuple(math.ceil(width_m / (r * 256) - 1e-9) for r in res),
        matrix_heights=tuple(math.ceil(height_m / (r * 256) - 1e-9) for r in res),
    )


WEB_MERCATOR_QUAD = _web_mercator_quad()
LAMB93_5CM = _lamb93_5cm()
TILE_MATRIX_SETS = {t.id: t for t in (WEB_MERCATOR_QUAD, LAMB93_5CM)}
TILE_MATRIX_SETS["PM"] = WEB_MERCATOR_QUAD  # IGN's name for it


def _check_zoom(tms: TileMatrixSet, z: int) -> None:
    if not 0 <= z <= tms.max_zoom:
        raise UserInputError(
            tr("Zoom level {z} does not exist in tile matrix set {tms} (0 to {max}).").format(
                z=z, tms=tms.id, max=tms.max_zoom
            )
        )


def tile_bounds(tms: TileMatrixSet, z: int, col: int, row: int) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of tile (``col``, ``row``) at zoom ``z``, in the TMS CRS."""
    _check_zoom(tms, z)
    span = tms.tile_span(z)
    x0, y0 = tms.origin
    return (x0 + col * span, y0 - (row + 1) * span, x0 + (col + 1) * span, y0 - row * span)


def tiles_for_extent(
    tms: TileMatrixSet, z: int, bbox: tuple[float, float, float, float]
) -> list[tuple[int, int]]:
    """(col, row) of every tile at zoom ``z`` intersecting ``bbox`` (TMS CRS), clipped to the matrix.

    Tiles that only touch the bbox on an edge are not included.
    """
    _check_zoom(tms, z)
    xmin, ymin, xmax, ymax = bbox
    if xmax <= xmin or ymax <= ymin:
        return []
    span = tms.tile_span(z)
    x0, y0 = tms.origin
    eps = 1e-9  # in tile units: absorbs float noise on exact tile edges
    c0 = max(0, math.floor((xmin - x0) / span + eps))
    c1 = min(tms.matrix_widths[z] - 1, math.ceil((xmax - x0) / span - eps) - 1)
    r0 = max(0, math.floor((y0 - ymax) / span + eps))
    r1 = min(tms.matrix_heights[z] - 1, math.ceil((y0 - ymin) / span - eps) - 1)
    return [(c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


def zoom_for_resolution(tms: TileMatrixSet, res_m: float) -> int:
    """The coarsest zoom whose resolution is at least as fine as ``res_m`` (max zoom if none is)."""
    if res_m <= 0:
        raise UserInputError(tr("The resolution must be a positive number of metres per pixel."))
    for z, r in enumerate(tms.resolutions):
        if r <= res_m * (1 + 1e-9):
            return z
    return tms.max_zoom
