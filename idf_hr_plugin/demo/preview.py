"""PNG previews of the demo region: both vintages side by side, and a 1:1 crop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:  # pragma: no cover
    from . import DemoRegion


def _label(im: Image.Image, text: str) -> None:
    d = ImageDraw.Draw(im)
    w = 7 * len(text) + 12
    d.rectangle([6, 6, 6 + w, 26], fill=(0, 0, 0))
    d.text((12, 10), text, fill=(255, 255, 255))


def _save(im: Image.Image, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    im.save(tmp, format="PNG")
    tmp.replace(path)


def render_preview(
    region: DemoRegion, out_png: Path, *, size: int = 640, crop_png: Optional[Path] = None
) -> Path:
    """Write a PNG of both vintages side by side (whole 20 cm region), plus an optional 1:1 crop."""
    from .generate import mosaic_array

    years = sorted(region.vintages)
    gap = 8
    panels = [mosaic_array(region.vintages[y], region.bounds, size) for y in years]
    h = max(p.shape[0] for p in panels)
    canvas = Image.new("RGB", (sum(p.shape[1] for p in panels) + gap * (len(panels) - 1), h), (255, 255, 255))
    x = 0
    for y, p in zip(years, panels):
        im = Image.fromarray(p)
        _label(im, f"{y} - SYNTHETIC demo, 20 cm")
        canvas.paste(im, (x, 0))
        x += p.shape[1] + gap
    _save(canvas, Path(out_png))
    if crop_png is not None:
        b = region.bounds
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        half = min(40.0, (b[2] - b[0]) / 2)  # 80 m at 20 cm = 400 px, 1:1
        cb = (cx - half, cy - half, cx + half, cy + half)
        crops = [mosaic_array(region.vintages[y], cb, int(round(2 * half / 0.2))) for y in years]
        w = sum(c.shape[1] for c in crops) + gap * (len(crops) - 1)
        canvas = Image.new("RGB", (w, max(c.shape[0] for c in crops)), (255, 255, 255))
        x = 0
        for y, c in zip(years, crops):
            im = Image.fromarray(np.ascontiguousarray(c))
            _label(im, f"{y} 1:1")
            canvas.paste(im, (x, 0))
            x += c.shape[1] + gap
        _save(canvas, Path(crop_png))
    return Path(out_png)
