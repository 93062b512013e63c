"""The embedded SYNTHETIC demo region: deterministic aerial-like imagery, ground truth and STAC.

``ensure_demo_region()`` generates it into the cache at first use (about a minute for the
default 1 km²) and returns its paths; the same seed and parameters always give the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .generate import COMMUNE, GENERATOR_VERSION, STAMP, generate, write_json_atomic
from .preview import render_preview
from .truth import CLASSES

__all__ = ["DemoRegion", "ensure_demo_region", "render_preview", "COMMUNE", "CLASSES"]


@dataclass
class DemoRegion:
    """Paths and extent of a generated demo region (everything is synthetic)."""

    root: Path
    catalog_path: Path
    ground_truth: Path
    vintages: dict[int, list[Path]]
    subset_5cm: dict[int, list[Path]]
    bounds: tuple[float, float, float, float]
    crs: str = "EPSG:2154"
    classes: tuple[str, ...] = field(default=CLASSES)
    subset_bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    commune: str = COMMUNE
    preview_png: Optional[Path] = None
    crop_png: Optional[Path] = None


def _params(size_m: int, seed: int, tile_m: int) -> dict:
    return {"generator_version": GENERATOR_VERSION, "size_m": size_m, "seed": seed, "tile_m": tile_m}


def _load(root: Path) -> Optional[DemoRegion]:
    try:
        st = json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    reg = DemoRegion(
        root=root,
        catalog_path=root / st["catalog"],
        ground_truth=root / st["ground_truth"],
        vintages={int(y): [root / p for p in ps] for y, ps in st["vintages"].items()},
        subset_5cm={int(y): [root / p for p in ps] for y, ps in st["subset_5cm"].items()},
        bounds=tuple(st["bounds"]),
        crs=st["crs"],
        classes=tuple(st["classes"]),
        subset_bounds=tuple(st["subset_bounds"]),
        commune=st["commune"],
        preview_png=root / "preview.png",
        crop_png=root / "preview_crop.png",
    )
    reg.__dict__["_stamp"] = st
    return reg


def _clean_stale(parent: Path, name: str) -> None:
    for p in parent.glob(f".{name}.*"):
        try:
            if time.time() - p.stat().st_mtime > 3600:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def ensure_demo_region(
    root: Path | None = None,
    *,
    size_m: int = 1000,
    seed: int = 2154,
    force: bool = False,
    progress: Optional[Callable[[float, str], None]] = None,
    tile_m: int = 500,
) -> DemoRegion:
    """Return the demo region in ``root`` (default ``core.paths.demo_dir()``), generating it if needed.

    A stamp file records version and parameters; a mismatch (or ``force``) regenerates. Generation
    happens in a hidden sibling folder that is renamed into place, so an interrupted run leaves no
    half region. ``progress(fraction, message)`` is called along the way.
    """
    if root is None:
        from ..core.paths import demo_dir

        root = demo_dir()
    root = Path(root)
    want = _params(size_m, seed, tile_m)
    if not force:
        reg = _load(root)
        if reg is not None and all(reg.__dict__["_stamp"].get(k) == v for k, v in want.items()):
            if all(p.exists() for ps in reg.vintages.values() for p in ps) and reg.catalog_path.exists():
                return reg
    root.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(root.parent, root.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        stamp = generate(tmp, size_m, seed, tile_m, progress)
        reg = DemoRegion(
            root=tmp,
            catalog_path=tmp / stamp["catalog"],
            ground_truth=tmp / stamp["ground_truth"],
            vintages={int(y): [tmp / p for p in ps] for y, ps in stamp["vintages"].items()},
            subset_5cm={int(y): [tmp / p for p in ps] for y, ps in stamp["subset_5cm"].items()},
            bounds=tuple(stamp["bounds"]),
            subset_bounds=tuple(stamp["subset_bounds"]),
        )
        if progress:
            progress(0.95, "Rendering previews")
        render_preview(reg, tmp / "preview.png", crop_png=tmp / "preview_crop.png")
        write_json_atomic(tmp / STAMP, stamp)
        if root.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            os.replace(root, trash / "old")
            os.replace(tmp, root)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        progress(1.0, "Demo region ready")
    out = _load(root)
    assert out is not None
    return out
