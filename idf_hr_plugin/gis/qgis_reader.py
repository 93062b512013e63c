"""A :class:`~idf_hr_plugin.core.inference.reader.WindowReader` over a QGIS raster provider.

Used for web layers (WMTS/XYZ through the ``wms`` provider) that GDAL cannot read with the
user's QGIS network settings. Each reading thread gets its own clone of the provider (QGIS
providers are not thread-safe); windows are requested with ``QgsRasterDataProvider.block()``
(through a :class:`QgsRasterProjector` when the grid is in another CRS), in the grid's pixels.
"""

from __future__ import annotations

import threading
from typing import Optional, Sequence

import numpy as np
from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsRasterProjector,
    QgsRectangle,
)

from ..core.errors import UserInputError
from .i18n import tr

_ARGB = {Qgis.ARGB32, Qgis.ARGB32_Premultiplied}


def qgs_crs(crs) -> QgsCoordinateReferenceSystem:
    """rasterio CRS / WKT / 'EPSG:n' -> QgsCoordinateReferenceSystem."""
    if isinstance(crs, QgsCoordinateReferenceSystem):
        return crs
    epsg = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    if epsg:
        q = QgsCoordinateReferenceSystem(f"EPSG:{epsg}")
    else:
        text = crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs)
        q = QgsCoordinateReferenceSystem.fromWkt(text)
        if not q.isValid():
            q = QgsCoordinateReferenceSystem(text)
    if not q.isValid():
        raise UserInputError(
            tr("The coordinate reference system {crs} is unknown to QGIS.").format(crs=str(crs)[:80])
        )
    return q


class QgisWindowReader:
    """Read grid windows from a QGIS raster provider, one provider clone per reading thread.

    ``provider``: the layer's data provider (cloned here, on the calling — main — thread).
    ``grid``: the plan's :class:`~idf_hr_plugin.core.inference.tiling.Grid`. ``channels``: the
    model's channel count. ``bands``: 1-based provider bands for multi-band providers (ignored
    for web layers, which give RGBA images: channels are R, G, B).
    """

    def __init__(
        self,
        provider,
        grid,
        channels: int,
        bands: Optional[Sequence[int]] = None,
        transform_context: Optional[QgsCoordinateTransformContext] = None,
    ) -> None:
        self._template = provider.clone()
        if self._template is None:
            raise UserInputError(tr("The imagery layer's provider cannot be cloned for background reading."))
        self.grid = grid
        self._src_crs = QgsCoordinateReferenceSystem(provider.crs())
        self._dst_crs = qgs_crs(grid.crs)
        self._ctx = transform_context or QgsCoordinateTransformContext()
        self._reproject = self._src_crs != self._dst_crs
        self._lock = threading.Lock()
        self._local = threading.local()
        self._clones: list = []
        dtype = provider.dataType(1)
        self.rgba = dtype in _ARGB
        if self.rgba:  # web layers: one ARGB32 band, decoded to R, G, B
            self.bands = [1]
            self.channels = 3
        else:
            count = provider.bandCount()
            self.bands = list(bands) if bands else list(range(1, min(count, channels) + 1))
            self.channels = len(self.bands)
            bad = [b for b in self.bands if not 1 <= b <= count]
            if bad:
                raise UserInputError(
                    tr("Band(s) {bad} do not exist: the layer has {n} band(s).").format(bad=bad, n=count)
                )
        self._nodata = {
            b: provider.sourceNoDataValue(b)
            for b in (self.bands if not self.rgba else [])
            if provider.sourceHasNoDataValue(b)
        }

    def _interface(self):
        iface = getattr(self._local, "iface", None)
        if iface is None:
            with self._lock:
                prov = self._template.clone()
            self._clones.append(prov)
            iface = prov
            if self._reproject:
                proj = QgsRasterProjector()
                proj.setCrs(self._src_crs, self._dst_crs, self._ctx)
                proj.setInput(prov)
                self._clones.append(proj)
                iface = proj
            self._local.iface = iface
        return iface

    def read(self, col: int, row: int, width: int, height: int) -> tuple:
        """Bands (C, h, w) uint8 and the valid mask of a grid window (outside the grid: invalid)."""
        g = self.grid
        t = g.transform
        x0, y1 = t * (col, row)
        x1, y0 = t * (col + width, row + height)
        rect = QgsRectangle(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        iface = self._interface()
        out = np.zeros((self.channels, height, width), np.uint8)
        if self.rgba:
            block = iface.block(1, rect, width, height)
            raw = bytes(block.data()) if block is not None and block.isValid() else b""
            if len(raw) != width * height * 4:
                valid = np.zeros((height, width), bool)
                return out, valid
            px = np.frombuffer(raw, np.uint8).reshape(height, width, 4)  # B, G, R, A (little endian)
            alpha = px[:, :, 3]
            a = np.maximum(alpha, 1).astype(np.float32)
            for k, ch in enumerate((2, 1, 0)[: self.channels]):
                c = px[:, :, ch].astype(np.float32)
                if block.dataType() == Qgis.ARGB32_Premultiplied:
                    c = np.clip(c * 255.0 / a, 0, 255)
                out[k] = c.astype(np.uint8)
            valid = alpha > 0
        else:
            valid = np.ones((height, width), bool)
            for k, b in enumerate(self.bands):
                block = iface.block(b, rect, width, height)
                if block is None or not block.isValid():
                    return out, np.zeros((height, width), bool)
                arr = _block_array(block, width, height)
                if b in self._nodata:
                    valid &= arr != self._nodata[b]
                out[k] = np.clip(arr, 0, 255).astype(np.uint8)
        # pixels beyond the grid are not part of the extent
        if col < 0 or row < 0 or col + width > g.width or row + height > g.height:
            inside = np.zeros((height, width), bool)
            r0, c0 = max(0, -row), max(0, -col)
            r1, c1 = min(height, g.height - row), min(width, g.width - col)
            if r1 > r0 and c1 > c0:
                inside[r0:r1, c0:c1] = True
            valid &= inside
            out[:, ~inside] = 0
        return out, valid

    def close(self) -> None:
        self._clones.clear()
        self._local = threading.local()


_DTYPES = {
    Qgis.Byte: np.uint8,
    Qgis.UInt16: np.uint16,
    Qgis.Int16: np.int16,
    Qgis.UInt32: np.uint32,
    Qgis.Int32: np.int32,
    Qgis.Float32: np.float32,
    Qgis.Float64: np.float64,
}


def _block_array(block, width: int, height: int) -> np.ndarray:
    dt = _DTYPES.get(block.dataType())
    if dt is None:
        raise UserInputError(tr("The imagery's pixel type is not supported for detection."))
    return np.frombuffer(bytes(block.data()), dt).reshape(height, width)
