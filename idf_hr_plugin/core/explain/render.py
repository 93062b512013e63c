"""Pictures of an explanation (numpy RGB arrays) and their PNG files: no Qt, no QGIS."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

OBJECT_COLOUR = (255, 221, 0)  # the clicked object, as written by the run
RERUN_COLOUR = (0, 229, 255)  # the box the model draws on this crop
HEAT_ALPHA = 0.7


def rgb(view) -> np.ndarray:
    """(T, T, 3) uint8 of the crop (the model's first three channels; grey when it has one)."""
    c = view.crop
    if c.shape[0] >= 3:
        img = np.moveaxis(c[:3], 0, -1)
    else:
        img = np.repeat(np.moveaxis(c[:1], 0, -1), 3, axis=-1)
    return np.ascontiguousarray(img, np.uint8)


def _line(img: np.ndarray, a, b, colour, width: int = 2) -> None:
    h, w = img.shape[:2]
    n = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) + 1
    xs = np.linspace(a[0], b[0], n)
    ys = np.linspace(a[1], b[1], n)
    for d in range(-(width // 2), width - width // 2):
        for xx, yy in ((xs + d, ys), (xs, ys + d)):
            xi = np.round(xx).astype(int)
            yi = np.round(yy).astype(int)
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            img[yi[ok], xi[ok]] = colour


def draw_outline(img: np.ndarray, pts, colour, width: int = 2) -> None:
    """Draw the closed outline ``pts`` [(x, y), ...] (pixel coordinates) on ``img`` in place."""
    pts = list(pts)
    for a, b in zip(pts, pts[1:] + pts[:1]):
        _line(img, a, b, colour, width)


def _box_pts(box) -> list:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def crop_picture(view, with_rerun: bool = True) -> np.ndarray:
    """The crop with the clicked object (yellow) and the re-run's box for it (cyan)."""
    img = rgb(view).copy()
    if with_rerun and view.match is not None:
        draw_outline(img, _box_pts(view.match["box_px"]), RERUN_COLOUR, 1)
    draw_outline(img, view.object_px, OBJECT_COLOUR, 2)
    return img


def heat_picture(view, occ) -> np.ndarray:
    """The crop with the occlusion map over it: red where hiding lowered the score, blue where it raised it."""
    base = rgb(view).astype(np.float32)
    heat = np.nan_to_num(occ.heat, nan=0.0)
    scale = max(float(np.abs(heat).max()), 1e-6)
    pos = np.clip(heat / scale, 0, 1)[..., None]
    neg = np.clip(-heat / scale, 0, 1)[..., None]
    grey = base.mean(axis=-1, keepdims=True) * np.ones(3, np.float32)
    out = 0.6 * base + 0.4 * grey  # a dimmed crop, so that colours read as the map
    red = np.array([255, 0, 0], np.float32)
    blue = np.array([0, 90, 255], np.float32)
    out = out * (1 - HEAT_ALPHA * pos) + red * HEAT_ALPHA * pos
    out = out * (1 - HEAT_ALPHA * neg) + blue * HEAT_ALPHA * neg
    img = np.clip(out, 0, 255).astype(np.uint8)
    draw_outline(img, view.object_px, OBJECT_COLOUR, 2)
    return img


def zoom_window(view, min_px: int = 96) -> tuple:
    """Square ``(x0, y0, x1, y1)`` of the crop around the object (3x its size, at least ``min_px``)."""
    x0, y0, x1, y1 = view.object_box
    size = view.crop.shape[1]
    side = int(min(size, max(min_px, 3 * max(x1 - x0, y1 - y0))))
    a = min(max(int(round((x0 + x1) / 2 - side / 2)), 0), size - side)
    b = min(max(int(round((y0 + y1) / 2 - side / 2)), 0), size - side)
    return a, b, a + side, b + side


def zoom(view, img: np.ndarray) -> np.ndarray:
    """The :func:`zoom_window` part of a picture of ``view``."""
    a, b, c, d = zoom_window(view)
    return np.ascontiguousarray(img[b:d, a:c])


def write_png(path: str | os.PathLike, img: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 picture as PNG (to a temporary file moved into place)."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    from ..tempfiles import temp_path

    path = Path(path)
    tmp = temp_path(path, ".png")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(
                tmp, "w", driver="PNG", width=img.shape[1], height=img.shape[0], count=3, dtype="uint8"
            ) as dst:
                dst.write(np.moveaxis(img, -1, 0))
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(str(tmp) + ".aux.xml")):
            if leftover.exists():
                leftover.unlink()
    return path


def write_explanation(exp, out_dir: str | os.PathLike, occlusion: Optional[bool] = None) -> dict:
    """Write ``crop[_role].png`` (box drawn), ``occlusion.png`` and ``occlusion_zoom.png`` (the
    heat map, whole and around the object, when computed) and ``explanation.json``.

    Returns ``{name: path}`` of the files written.
    """
    import json

    from ..tempfiles import temp_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for v in exp.views:
        name = "crop.png" if v.role == "detection" else f"crop_{v.role}.png"
        written[name] = str(write_png(out / name, crop_picture(v)))
    if exp.occlusion is not None and occlusion is not False:
        v = exp.views[exp.occlusion.view]
        heat = heat_picture(v, exp.occlusion)
        written["occlusion.png"] = str(write_png(out / "occlusion.png", heat))
        written["occlusion_zoom.png"] = str(write_png(out / "occlusion_zoom.png", zoom(v, heat)))
    data = exp.to_dict()
    data["files"] = dict(written)
    dest = out / "explanation.json"
    tmp = temp_path(dest, ".json")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, dest)
    written["explanation.json"] = str(dest)
    return written
