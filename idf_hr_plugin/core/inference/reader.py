"""Window-by-window reading of imagery on the plan's grid (never the whole raster).

:class:`WindowReader` is the protocol the engine reads through; :class:`RasterioWindowReader`
implements it with rasterio (a ``WarpedVRT`` resamples/reprojects on the fly when the grid is
not the raster's own). The QGIS adapter supplies another implementation for web layers.
"""

from __future__ import annotations

import threading
from typing import Optional, Protocol, Sequence, Union

import numpy as np

from ..errors import UserInputError
from ..i18n import tr
from .tiling import Grid

BAND_PRESETS = {"RGB": [1, 2, 3], "RGBA": [1, 2, 3], "BGR": [3, 2, 1], "IRC": [1, 2, 3], "NRG": [1, 2, 3]}


class WindowReader(Protocol):
    """Reads grid windows: ``read(col, row, w, h) -> (bands (C, h, w), valid (h, w) bool)``.

    The window may extend beyond the grid: outside pixels come back as 0 and not valid.
    Implementations must be safe to call from one background thread.
    """

    channels: int

    def read(self, col: int, row: int, width: int, height: int) -> tuple: ...

    def close(self) -> None: ...


def resolve_band_map(
    band_map: Union[str, Sequence[int], None],
    band_count: int,
    colorinterp: Sequence[str],
    model_channels: int,
) -> tuple:
    """-> (1-based band indexes for the model channels, 1-based alpha band or None)."""
    ci = [str(c).lower() for c in colorinterp]
    alpha = ci.index("alpha") + 1 if "alpha" in ci else None
    if isinstance(band_map, str):
        key = band_map.strip().upper()
        if key in BAND_PRESETS:
            bands = BAND_PRESETS[key]
        else:
            try:
                bands = [int(b) for b in key.replace(";", ",").split(",") if b.strip()]
            except ValueError as exc:
                raise UserInputError(
                    tr("Band mapping '{map}' is neither RGB, RGBA, BGR, IRC nor a list like 1,2,3.").format(
                        map=band_map
                    )
                ) from exc
    elif band_map is not None:
        bands = [int(b) for b in band_map]
    else:
        colour = [b for b in range(1, band_count + 1) if b != alpha]
        if model_channels == 3 and all(c in ci for c in ("red", "green", "blue")):
            bands = [ci.index("red") + 1, ci.index("green") + 1, ci.index("blue") + 1]
        elif len(colour) >= model_channels and (model_channels == 3 or len(colour) == model_channels):
            bands = colour[:model_channels]
        else:
            raise UserInputError(
                tr(
                    "The model expects {mc} channel(s) but the raster has {bc} band(s) ({ci}). "
                    "Choose a band mapping (e.g. '1' or '1,2,3') or imagery that matches the model."
                ).format(mc=model_channels, bc=band_count, ci=", ".join(ci) or "?")
            )
    if len(bands) != model_channels:
        raise UserInputError(
            tr("The band mapping {bands} gives {n} channel(s) but the model expects {mc}.").format(
                bands=bands, n=len(bands), mc=model_channels
            )
        )
    bad = [b for b in bands if not 1 <= b <= band_count]
    if bad:
        raise UserInputError(
            tr("Band(s) {bad} do not exist: the raster has {bc} band(s).").format(bad=bad, bc=band_count)
        )
    return bands, alpha


_MAX_BLOCKS_CHECKED = 65536


def _file_size(path: str) -> Optional[int]:
    from osgeo import gdal

    st = gdal.VSIStatL(str(path))
    return int(st.size) if st is not None and st.size > 0 else None


def _block_end(src, col: int, row: int, bidx: int = 1, ovr: Optional[int] = None) -> int:
    off = src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=bidx, ovr=ovr)
    size = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=bidx, ovr=ovr)
    try:
        return int(off or 0) + int(size or 0)
    except ValueError:
        return 0


def check_complete(src, path: str) -> None:
    """Refuse a GeoTIFF/COG whose tiles or strips lie past the end of the file (truncated copy).

    GDAL opens such a file (a 1 KB stub even reads as 'no CRS') and fails only when the missing
    blocks are read, deep in a run; the block offsets in the header tell it up front.
    """
    from .params import is_local_path

    if src.driver != "GTiff" or not is_local_path(path):  # remote: no extra request (caches, quotas)
        return
    size = _file_size(path)
    if size is None:
        return
    bh, bw = src.block_shapes[0]
    nx, ny = -(-src.width // bw), -(-src.height // bh)
    if nx * ny <= _MAX_BLOCKS_CHECKED:
        cells = [(i, j) for j in range(ny) for i in range(nx)]
    else:  # GDAL writes blocks in row order: the last row holds the highest offsets
        cells = [(i, ny - 1) for i in range(nx)] + [(0, 0), (nx - 1, 0)]
    need = max((_block_end(src, i, j) for i, j in cells), default=0)
    for b in range(2, src.count + 1):  # band-interleaved files
        need = max(need, _block_end(src, nx - 1, ny - 1, bidx=b))
    for k, factor in enumerate(src.overviews(1) if src.count else []):
        oh, ow = -(-src.height // factor), -(-src.width // factor)
        need = max(need, _block_end(src, -(-ow // bw) - 1, -(-oh // bh) - 1, ovr=k))
    if need > size:
        raise UserInputError(
            tr(
                "The raster '{path}' is incomplete: its data needs {need} bytes but the file holds "
                "only {size} (an interrupted download or copy). Download or copy it again."
            ).format(path=path, need=need, size=size)
        )


def open_raster(path: str):
    """``rasterio.open`` for reading imagery, with errors as one sentence naming the file.

    Checks that a GeoTIFF is complete (:func:`check_complete`) so a truncated file is refused
    before any work, not mid-run.
    """
    import rasterio

    from .params import is_local_path

    # a remote raster: do not list its folder on the server looking for sidecar files
    env = {} if is_local_path(path) else {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
    try:
        with rasterio.Env(**env):
            src = rasterio.open(path)
    except Exception as exc:
        raise raster_error(path, exc) from exc
    try:
        check_complete(src, str(path))
    except BaseException:
        src.close()
        raise
    return src


def raster_error(path: str, exc: BaseException, reading: bool = False) -> UserInputError:
    """The user-facing error for a raster GDAL cannot open or read."""
    from ..tiles.service import origin_gdal_path, redact

    shown = redact(origin_gdal_path(str(path)))  # the user's address, never the cache proxy's
    msg = " ".join(str(exc).replace(str(path), shown).split())[:200]
    path = shown
    if reading:
        text = tr(
            "The raster '{path}' could not be read ({err}): the file is damaged or incomplete. "
            "Download or copy it again."
        )
    else:
        text = tr(
            "The raster '{path}' cannot be opened ({err}). Check that the file exists and is a complete "
            "GeoTIFF, COG or other GDAL raster."
        )
    return UserInputError(text.format(path=path, err=msg))


class RasterioWindowReader:
    """Reads grid windows from a GDAL-readable raster (file, VRT, COG over ``/vsicurl/``)."""

    def __init__(self, raster: str, grid: Grid, bands: Sequence[int], alpha: Optional[int] = None):
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        self.grid = grid
        self.bands = list(bands)
        self.channels = len(self.bands)
        self._lock = threading.Lock()
        self._path = str(raster)
        self._src = open_raster(raster)
        self._vrt = None
        self._alpha = alpha
        if grid.native:
            self._ds = self._src
            self._dx, self._dy = grid.col_off, grid.row_off
        else:
            nodata = self._src.nodata
            self._vrt = WarpedVRT(
                self._src,
                crs=grid.crs,
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=Resampling.bilinear,
                add_alpha=nodata is None and alpha is None,
            )
            self._ds = self._vrt
            self._dx = self._dy = 0
        self._nodata = self._src.nodata

    def read(self, col: int, row: int, width: int, height: int) -> tuple:
        """Bands (C, h, w) in the raster's dtype and the valid-pixel mask of a grid window."""
        from rasterio._err import CPLE_BaseError
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        g = self.grid
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + width, g.width), min(row + height, g.height)
        out = None
        valid = np.zeros((height, width), bool)
        if c1 <= c0 or r1 <= r0:
            return np.zeros((self.channels, height, width), np.uint8), valid
        win = Window(c0 + self._dx, r0 + self._dy, c1 - c0, r1 - r0)
        with self._lock:
            try:
                data = self._ds.read(self.bands, window=win)
                if self._alpha is not None:
                    m = self._ds.read(self._alpha, window=win) > 0
                elif self._vrt is not None or self._nodata is not None:
                    m = self._ds.read_masks(1, window=win) > 0
                else:
                    m = None
            except (RasterioError, CPLE_BaseError, OSError) as exc:
                raise raster_error(self._path, exc, reading=True) from exc
        if data.shape[1:] == (height, width) and c0 == col and r0 == row:
            out = data
            valid = m if m is not None else np.ones((height, width), bool)
        else:
            out = np.zeros((self.channels, height, width), data.dtype)
            out[:, r0 - row : r1 - row, c0 - col : c1 - col] = data
            valid[r0 - row : r1 - row, c0 - col : c1 - col] = True if m is None else m
        if self._nodata is not None and self._alpha is None and self._vrt is None:
            valid &= ~np.all(out == self._nodata, axis=0)
        return out, valid

    def close(self) -> None:
        if self._vrt is not None:
            self._vrt.close()
        self._src.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raster_band_info(raster: str) -> tuple:
    """(band count, colour interpretations) of a raster, for :func:`resolve_band_map`."""
    with open_raster(raster) as src:
        return src.count, [c.name for c in src.colorinterp]
