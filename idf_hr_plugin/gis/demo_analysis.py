"""The analysis part of the demo job: 2024 vs 2026 over the pack extent, statistics for
Saint-Maur-des-Fossés, and the PDF report (+ a PNG of its first page) in ``demo-output/``.

Called by :func:`gis.demo_job.run_demo` after its 2026 detection; can also run on its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess  # nosec B404
from pathlib import Path
from typing import Callable, Optional, Sequence

Log = Callable[[str], None]

COMMUNE = "Saint-Maur-des-Fossés"
DEMO_SOURCE = "IdF HR demo region (SYNTHETIC imagery), Etalab-2.0"
BOUNDARIES_SOURCE = "Communes: IGN ADMIN EXPRESS ({where}), Licence Ouverte / Etalab 2.0"


def _mosaic(region, vintage: int, out_dir: Path) -> Path:
    from osgeo import gdal

    vrt = out_dir / f"demo_mosaic_{vintage}.vrt"
    if not vrt.exists():
        tifs = sorted(str(p) for p in region.vintages[vintage] if "20cm" in Path(p).name) or sorted(
            str(p) for p in region.vintages[vintage]
        )
        gdal.BuildVRT(str(vrt), tifs)
    return vrt


def _zone(region, boundaries_file: Optional[str], log: Log):
    """((geometries, names, crs), sources) of Saint-Maur-des-Fossés, else the demo region's box (said so)."""
    from shapely.geometry import box, shape

    from ..core.errors import IdfHrError
    from ..core.opendata.boundaries import Boundaries

    try:
        b = Boundaries.from_file(boundaries_file) if boundaries_file else Boundaries.fetch()
        return ([shape(b.geometry(COMMUNE))], [COMMUNE], "EPSG:4326"), [
            BOUNDARIES_SOURCE.format(
                where=Path(b.source).name if boundaries_file else b.source or "geo.api.gouv.fr"
            )
        ]
    except (IdfHrError, OSError, KeyError, LookupError) as exc:
        log(
            f"    Commune boundaries unavailable ({exc}); statistics use the demo region's box instead. "
            "Load the MGP boundaries once online (Open data tab) or pass a local communes file."
        )
        return ([box(*region.bounds)], [f"{COMMUNE} (demo region box)"], "EPSG:2154"), []


def _fresh(path: Path) -> Path:
    """Demo outputs are regenerated on every run: remove last run's file first."""
    if path.exists():
        path.unlink()
    return path


def run_analysis_demo(
    out_dir: str | os.PathLike,
    pack_extent: Sequence[float],
    *,
    after: Optional[tuple] = None,
    model: Optional[str | os.PathLike] = None,
    boundaries_file: Optional[str] = None,
    lang: str = "fr",
    log: Log = print,
) -> dict:
    """Detect on 2024 (and 2026 unless ``after`` = (gpkg, layer) is given) over ``pack_extent``
    (EPSG:2154), compare, compute the statistics per commune and write the report PDF + PNG."""
    from ..core.analysis import compare_detections, read_detections, write_change_layer
    from ..core.inference.runner import run_detection
    from ..core.paths import RESOURCES_DIR
    from ..demo import ensure_demo_region
    from .headless import ensure_qgis_app
    from .report_layout import report_from_file

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    model = Path(model) if model else RESOURCES_DIR / "models" / "idfhr_demo_detector.onnx"
    region = ensure_demo_region()
    before_v, after_v = min(region.vintages), max(region.vintages)

    def detect(vintage: int, name: str) -> tuple:
        gpkg = _fresh(out_dir / f"{name}.gpkg")
        rep = run_detection(
            model,
            str(_mosaic(region, vintage, out_dir)),
            extent=tuple(pack_extent),
            extent_crs="EPSG:2154",
            out_path=gpkg,
            source=DEMO_SOURCE,
            vintage=str(vintage),
            layer_name=name,
        )
        log(f"    {vintage}: {rep.features} objects, {rep.duration_s:.1f} s, ~{rep.energy_wh:.3f} Wh")
        return gpkg, rep.layer

    log(f"Analysis: detecting on {before_v} over the same extent, then comparing with {after_v}…")
    if after is None:
        after = detect(after_v, f"detections_{after_v}")
    before = detect(before_v, f"detections_{before_v}")
    from shapely.geometry import box

    area = box(*pack_extent)  # both runs cover the pack extent (the 2026 one may not record it)
    det_b = read_detections(before[0], before[1], analysed_area=area)
    det_a = read_detections(after[0], after[1], analysed_area=area)
    changes = compare_detections(det_b, det_a)
    ch_gpkg = _fresh(out_dir / f"changes_{before_v}_{after_v}.gpkg")
    write_change_layer(changes, ch_gpkg, "changes")
    counts: dict = {}
    for s in changes.columns["change"].tolist():
        counts[s] = counts.get(s, 0) + 1
    log("    changes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    zones, zone_sources = _zone(region, boundaries_file, log)
    ensure_qgis_app()
    pdf = out_dir / "rapport_changements.pdf"
    out = report_from_file(
        ch_gpkg,
        "changes",
        pdf,
        lang=lang,
        zones=zones,
        runs_from=[str(before[0]), str(after[0])],
        html_path=out_dir / "rapport_changements.html",
        sources=zone_sources,
    )
    png = first_page_png(pdf, out_dir / "rapport_changements_p1.png")
    log(f"    report: {pdf}")
    if png:
        log(f"    report page 1: {png}")
    return {"changes": ch_gpkg, "report_pdf": pdf, "report_html": out.get("html"), "report_png": png}


def first_page_png(pdf: Path, png: Path, dpi: int = 80) -> Optional[Path]:
    """The PDF's first page as PNG with ``pdftoppm`` (None, said in the log, when it is missing)."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return None
    stem = png.with_suffix("")
    subprocess.run(  # nosec B603
        [exe, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return png if png.exists() else None
