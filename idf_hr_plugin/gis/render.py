"""Render layers to a PNG with QGIS's own map renderer (used by the demo job and screenshots)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from qgis.core import (
    QgsMapLayer,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

from ..core.errors import UserInputError
from .i18n import tr


def render_png(
    layers: Sequence[QgsMapLayer],
    out_png: str | os.PathLike[str],
    extent: QgsRectangle | None = None,
    crs=None,
    size: tuple[int, int] = (1200, 1200),
) -> Path:
    """Render ``layers`` (top first) into ``out_png``; written atomically."""
    if not layers:
        raise UserInputError(tr("Nothing to render: no layer was given."))
    settings = QgsMapSettings()
    settings.setLayers(list(layers))
    settings.setDestinationCrs(crs or layers[-1].crs())
    if extent is None:
        extent = QgsRectangle(layers[-1].extent())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(*size))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name("." + out.name + ".tmp.png")
    if not image.save(str(tmp), "PNG"):
        raise UserInputError(tr("Could not write the image {path}.").format(path=out))
    os.replace(tmp, out)
    return out
