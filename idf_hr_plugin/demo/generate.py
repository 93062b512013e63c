"""Writes the whole demo region: COG tiles per vintage/resolution, thumbnails, ground truth, STAC, previews."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

from .cog import write_cog
from .render import render_window
from .scene import Y0, Y1, build_scene
from .stac import LICENSE_TEXT, TileRecord, collection_id, write_catalog
from .truth import CLASSES, write_truth

GENERATOR_VERSION = 1
CENTRE = (662500, 6855500)  # Lambert-93, Saint-Maur-des-Fossés (94068), EPT Paris-Est-Marne et Bois (T10)
COMMUNE = "Saint-Maur-des-Fossés (94068, EPT Paris-Est-Marne et Bois)"
STAMP = "demo_region.json"

Progress = Optional[Callable[[float, str], None]]


def region_bounds(size_m: int) -> tuple[float, float, float, float]:
    """Bounds of the 20 cm region of ``size_m`` metres around the fixed centre."""
    x0, y0 = CENTRE[0] - size_m // 2, CENTRE[1] - size_m // 2
    return (float(x0), float(y0), float(x0 + size_m), float(y0 + size_m))


def subset_bounds(size_m: int) -> tuple[float, float, float, float]:
    """Bounds of the 5 cm subset (200 m for the default region, a quarter of smaller ones)."""
    sub = min(200, max(20, (size_m // 4) // 10 * 10))
    x0, y0 = CENTRE[0] - sub // 2, CENTRE[1] - sub // 2
    return (float(x0), float(y0), float(x0 + sub), float(y0 + sub))


def _grid(bounds, tile_m: float):
    x0, y0, x1, y1 = bounds
    nx, ny = math.ceil((x1 - x0) / tile_m - 1e-9), math.ceil((y1 - y0) / tile_m - 1e-9)
    for j in range(ny):
        for i in range(nx):
            tx0, tytop = x0 + i * tile_m, y1 - j * tile_m
            yield (tx0, max(y0, tytop - tile_m), min(x1, tx0 + tile_m), tytop)


def _metadata(year: int, res_cm: int) -> dict[str, str]:
    return {
        "IDFHR_SYNTHETIC": "yes",
        "IDFHR_VINTAGE": str(year),
        "IDFHR_GSD_M": f"{res_cm / 100:.2f}",
        "IDFHR_LICENSE": LICENSE_TEXT,
        "TIFFTAG_IMAGEDESCRIPTION": f"SYNTHETIC demo orthophoto (IdF HR plugin), vintage {year}, {res_cm} cm RGB, imitating {COMMUNE}. Not real imagery.",
        "TIFFTAG_COPYRIGHT": LICENSE_TEXT,
        "TIFFTAG_SOFTWARE": f"IdF HR demo generator v{GENERATOR_VERSION}",
        "TIFFTAG_DATETIME": f"{year}:06:15 11:00:00",
    }


def generate(out: Path, size_m: int, seed: int, tile_m: int, progress: Progress = None) -> dict:
    """Generate everything into the (empty) folder ``out``; returns the stamp dictionary."""
    report = progress or (lambda f, m: None)
    bounds, sub = region_bounds(size_m), subset_bounds(size_m)
    report(0.0, "Laying out the synthetic demo region")
    scene = build_scene(bounds, seed)
    jobs = []
    for year in (Y0, Y1):
        for res_cm, bb, tm in ((20, bounds, tile_m), (5, sub, max(20, tile_m // 5))):
            for tb in _grid(bb, tm):
                jobs.append((year, res_cm, tb))
    px = [((tb[2] - tb[0]) * (tb[3] - tb[1])) / (r / 100) ** 2 for _, r, tb in jobs]
    done, total = 0.0, float(sum(px))
    tiles: list[TileRecord] = []
    for (year, res_cm, tb), n in zip(jobs, px):
        res = res_cm / 100
        w, h = int(round((tb[2] - tb[0]) / res)), int(round((tb[3] - tb[1]) / res))
        cdir = out / collection_id(year, res_cm)
        cdir.mkdir(exist_ok=True)
        name = f"demo_{year}_{int(tb[0]):06d}_{int(tb[3]):07d}_{res_cm}cm"
        report(0.05 + 0.85 * done / total, f"Rendering {name}")
        rgb = render_window(scene, year, tb[0], tb[3], w, h, res)
        tif = cdir / f"{name}.tif"
        write_cog(tif, rgb, tb[0], tb[3], res, _metadata(year, res_cm))
        thumb = cdir / f"{name}_thumb.png"
        im = Image.fromarray(rgb)
        im.thumbnail((256, 256), Image.LANCZOS)
        im.save(thumb.with_name(thumb.name + ".part"), format="PNG")
        thumb.with_name(thumb.name + ".part").replace(thumb)
        tiles.append(TileRecord(year, res_cm, tif, thumb, tb, (h, w)))
        done += n
    report(0.92, "Writing ground truth")
    n_rows = write_truth(out / "ground_truth.gpkg", scene)
    catalog = write_catalog(out, tiles, COMMUNE)
    stamp = {
        "generator_version": GENERATOR_VERSION,
        "size_m": size_m,
        "seed": seed,
        "tile_m": tile_m,
        "crs": "EPSG:2154",
        "bounds": list(bounds),
        "subset_bounds": list(sub),
        "commune": COMMUNE,
        "synthetic": True,
        "classes": list(CLASSES),
        "ground_truth_rows": n_rows,
        "catalog": catalog.relative_to(out).as_posix(),
        "ground_truth": "ground_truth.gpkg",
        "vintages": {
            str(y): sorted(
                t.path.relative_to(out).as_posix() for t in tiles if t.year == y and t.res_cm == 20
            )
            for y in (Y0, Y1)
        },
        "subset_5cm": {
            str(y): sorted(t.path.relative_to(out).as_posix() for t in tiles if t.year == y and t.res_cm == 5)
            for y in (Y0, Y1)
        },
    }
    return stamp


def mosaic_array(paths: list[Path], bounds, max_px: int) -> np.ndarray:
    """Read tiles (through their overviews) into one RGB array of at most ``max_px`` on a side."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import from_bounds

    x0, y0, x1, y1 = bounds
    scale = max(x1 - x0, y1 - y0) / max_px
    W, H = int(round((x1 - x0) / scale)), int(round((y1 - y0) / scale))
    out = np.zeros((H, W, 3), np.uint8)
    for p in paths:
        with rasterio.open(p) as src:
            b = src.bounds
            ix0, iy0, ix1, iy1 = max(b.left, x0), max(b.bottom, y0), min(b.right, x1), min(b.top, y1)
            c0, r0 = int(round((ix0 - x0) / scale)), int(round((y1 - iy1) / scale))
            c1, r1 = int(round((ix1 - x0) / scale)), int(round((y1 - iy0) / scale))
            if c1 <= c0 or r1 <= r0:
                continue
            win = from_bounds(ix0, iy0, ix1, iy1, transform=src.transform)
            arr = src.read(out_shape=(3, r1 - r0, c1 - c0), window=win, resampling=Resampling.average)
            out[r0:r1, c0:c1] = np.moveaxis(arr, 0, -1)
    return out


def write_json_atomic(path: Path, obj: dict) -> None:
    """JSON with sorted keys, written atomically."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
