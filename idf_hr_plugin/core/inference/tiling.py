"""Plan the tiles of a run: a target grid in the model's GSD over the chosen extent, tiles with
overlap, mask filtering, and splitting of a plan into independent jobs (tile ranges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..errors import UserInputError
from ..i18n import num, tr
from . import geom as G

# metropolitan France (lon/lat) -> Lambert-93 is the natural working CRS there
_FRANCE_LONLAT = (-5.5, 41.0, 10.0, 51.5)
# a projected CRS whose unit differs from a ground metre by more than this at the place (Web
# Mercator, feet...) is resampled to a metric CRS; Lambert-93 and UTM stay within 0.1 % there
METRIC_TOLERANCE = 0.01


@dataclass
class Grid:
    """The pixel grid the model sees: CRS, affine transform (GSD), size; ``native`` = a window
    of the raster's own pixel grid (read directly, no resampling)."""

    crs: Any  # rasterio.crs.CRS
    transform: Any  # affine.Affine
    width: int
    height: int
    gsd: float
    native: bool = False
    col_off: int = 0  # offset of the grid in the raster (native grids only)
    row_off: int = 0

    @property
    def bounds(self) -> tuple:
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)


@dataclass
class Tile:
    """One model input: top-left (col, row) in grid pixels, square ``size``; ``core`` = the part
    of the grid this tile is responsible for (centre crop, seams at the middle of overlaps)."""

    id: int
    col: int
    row: int
    size: int
    core: tuple = (0, 0, 0, 0)  # x0, y0, x1, y1 in grid px

    def touches_inner_edge(self, grid: Grid) -> tuple:
        """(left, top, right, bottom): whether each side is a seam with a neighbour tile."""
        return (
            self.col > 0,
            self.row > 0,
            self.col + self.size < grid.width,
            self.row + self.size < grid.height,
        )


@dataclass
class TilePlan:
    """All tiles of a run over ``grid`` and what was skipped, with notes for the user."""

    raster: str
    grid: Grid
    tile_size: int
    overlap: int
    tiles: list
    total_tiles: int
    skipped_outside_mask: int = 0
    mask: Any = None  # shapely geometry in grid CRS
    extent: tuple = ()  # bounds in grid CRS
    raster_crs: Any = None
    notes: list = field(default_factory=list)
    footprint: Any = None  # the raster's outline in grid CRS (shapely polygon)

    @property
    def area_km2(self) -> float:
        """Area analysed: raster footprint ∩ extent ∩ mask (a mask larger than the imagery does not count)."""
        from .clip import analysed_area

        return float(analysed_area(self).area) / 1e6

    @property
    def pixels(self) -> int:
        return int(self.grid.width) * int(self.grid.height)


@dataclass
class Job:
    """An independent slice of a plan: tiles ``[start, stop)``, or the tile ids ``tiles`` (a block
    of the grid, see :func:`split_plan_blocks`); run with ``run_detection(job=...)``."""

    index: int
    count: int
    start: int
    stop: int
    tiles: Optional[tuple] = None

    def tile_ids(self) -> range | tuple:
        """Positions in ``plan.tiles`` of this job's tiles, in plan order."""
        return self.tiles if self.tiles is not None else range(self.start, self.stop)


def _axis_starts(length: int, size: int, stride: int) -> list:
    if length <= size:
        return [0]
    n = int(math.ceil((length - size) / stride)) + 1
    starts = [i * stride for i in range(n)]
    starts[-1] = length - size  # last tile flush with the end: no padding, a larger overlap
    out = []
    for s in starts:  # drop duplicates created by the flush
        if not out or s > out[-1]:
            out.append(s)
    return out


def _cores(starts: list, size: int, length: int) -> list:
    bounds = [0]
    for a, b in zip(starts[:-1], starts[1:]):
        bounds.append((b + a + size) // 2)
    bounds.append(min(length, starts[-1] + size))
    return [(bounds[i], bounds[i + 1]) for i in range(len(starts))]


def choose_work_crs(raster_crs, raster_bounds) -> tuple:
    """Projected CRS to warp a geographic raster to: Lambert-93 in France, else its UTM zone."""
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    lon0, lat0, lon1, lat1 = transform_bounds(raster_crs, CRS.from_epsg(4326), *raster_bounds)
    lon, lat = (lon0 + lon1) / 2, (lat0 + lat1) / 2
    fx0, fy0, fx1, fy1 = _FRANCE_LONLAT
    if fx0 <= lon <= fx1 and fy0 <= lat <= fy1:
        return CRS.from_epsg(2154), "EPSG:2154 (Lambert-93)"
    zone = int((lon + 180) // 6) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return CRS.from_epsg(epsg), "EPSG:{} (UTM {}{})".format(epsg, zone, "N" if lat >= 0 else "S")


def ground_scale(crs, x: float, y: float) -> float:
    """CRS units per ground metre at (x, y) in ``crs``: the east/north value furthest from 1.

    Measured by stepping 10 m on the WGS84 ellipsoid, so it covers projections that are not
    conformal to the ground there (Web Mercator: ~1.5 at Paris) and non-metre units (feet).
    """
    from pyproj import CRS as PCRS
    from pyproj import Geod, Transformer

    src = PCRS.from_wkt(crs.to_wkt()) if hasattr(crs, "to_wkt") else PCRS.from_user_input(crs)
    wgs = PCRS.from_epsg(4326)
    to_geo = Transformer.from_crs(src, wgs, always_xy=True)
    from_geo = Transformer.from_crs(wgs, src, always_xy=True)
    lon, lat = to_geo.transform(x, y)
    geod = Geod(ellps="WGS84")
    step = 10.0
    worst = 1.0
    for azimuth in (90.0, 0.0):
        lon2, lat2, _ = geod.fwd(lon, lat, azimuth, step)
        x2, y2 = from_geo.transform(lon2, lat2)
        k = math.hypot(x2 - x, y2 - y) / step
        if not math.isfinite(k) or k <= 0:
            return float("nan")
        if abs(k - 1.0) > abs(worst - 1.0):
            worst = k
    return worst


def metric_at_place(crs, bounds, tolerance: float = METRIC_TOLERANCE) -> tuple:
    """(is the CRS in ground metres at the centre of ``bounds``, CRS units per ground metre)."""
    if crs.is_geographic:
        return False, float("nan")
    x0, y0, x1, y1 = bounds
    try:
        k = ground_scale(crs, (x0 + x1) / 2, (y0 + y1) / 2)
    except Exception:  # a CRS pyproj cannot transform: keep it as it is
        return True, 1.0
    if not math.isfinite(k):
        return True, 1.0
    return abs(k - 1.0) <= tolerance, k


def to_crs(value) -> Any:
    """``"EPSG:2154"``, ``2154``, WKT or a CRS -> rasterio CRS."""
    from rasterio.crs import CRS

    if value is None or isinstance(value, CRS):
        return value
    try:
        if isinstance(value, int):
            return CRS.from_epsg(value)
        return CRS.from_user_input(value)
    except Exception as exc:
        raise UserInputError(
            tr("'{crs}' is not a coordinate reference system I know.").format(crs=value)
        ) from exc


def _footprint(src, grid_crs, n: int = 32):
    """Outline of the raster's pixels in ``grid_crs`` (edges densified, so a warp's curve shows)."""
    from shapely.geometry import Polygon

    w, h, t = src.width, src.height, src.transform
    ring = (
        [(w * k / n, 0.0) for k in range(n)]
        + [(float(w), h * k / n) for k in range(n)]
        + [(w * (n - k) / n, float(h)) for k in range(n)]
        + [(0.0, h * (n - k) / n) for k in range(n)]
    )
    poly = Polygon([t * p for p in ring])
    if grid_crs == src.crs:
        return poly
    return transform_geom(poly, src.crs, grid_crs)


def _crs_label(crs) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else (crs.to_string()[:60] or "?")


def transform_geom(geom, src_crs, dst_crs):
    """Reproject a shapely geometry (no-op when the CRSs are equal)."""
    from .geom import reproject

    return reproject([geom], src_crs, dst_crs)[0]


def plan_tiles(
    raster: str,
    *,
    tile_size: int,
    overlap: int,
    gsd_m: Optional[float] = None,
    extent: Optional[Sequence[float]] = None,
    extent_crs=None,
    mask=None,
    mask_crs=None,
    geographic: str = "warp",
    work_crs=None,
) -> TilePlan:
    """Plan tiles over ``extent`` (default: the raster, or the mask's bounds) at ``gsd_m``.

    The grid is in the raster's CRS when it is projected and in ground metres at the place; a
    geographic raster, or one whose CRS units are not ground metres there (Web Mercator, feet:
    measured with :func:`ground_scale`), is warped to Lambert-93 (in France) or its UTM zone —
    said in ``plan.notes`` — or, if geographic, refused when ``geographic="error"``. ``mask``: shapely geometry (or list) in ``mask_crs``; tiles that do
    not touch it are skipped and counted.
    """
    from affine import Affine
    from rasterio.warp import transform_bounds

    tile_size = int(tile_size)
    overlap = int(overlap)
    if tile_size < 8:
        raise UserInputError(tr("The tile size must be at least 8 pixels (got {n}).").format(n=tile_size))
    if not 0 <= overlap < tile_size:
        raise UserInputError(
            tr("The overlap ({ov} px) must be at least 0 and smaller than the tile size ({ts} px).").format(
                ov=overlap, ts=tile_size
            )
        )
    from .reader import open_raster

    src = open_raster(raster)
    notes: list = []
    with src:
        src_crs = src.crs
        if src_crs is None:
            raise UserInputError(
                tr("The raster '{path}' has no coordinate reference system; georeference it first.").format(
                    path=raster
                )
            )
        grid_crs = to_crs(work_crs) if work_crs is not None else src_crs
        metric, k = metric_at_place(grid_crs, src.bounds) if work_crs is None else (True, 1.0)
        if not grid_crs.is_geographic and not metric:
            grid_crs, label = choose_work_crs(src_crs, src.bounds)
            notes.append(
                tr(
                    "The raster's CRS ({src}) does not measure ground metres here (1 unit = {m:.3f} m on "
                    "the ground): it is resampled on the fly to the metric CRS {crs} for detection, so "
                    "resolution and areas are true; results are written in {crs}."
                ).format(src=_crs_label(src_crs), m=1.0 / k, crs=label)
            )
        elif grid_crs.is_geographic:
            if geographic == "error" or work_crs is not None:
                raise UserInputError(
                    tr(
                        "The raster '{path}' is in a geographic CRS (degrees); detections need metres. "
                        "Reproject it to a projected CRS such as EPSG:2154 (Lambert-93) first."
                    ).format(path=raster)
                )
            grid_crs, label = choose_work_crs(src_crs, src.bounds)
            notes.append(
                tr(
                    "The raster is in a geographic CRS (degrees): it is resampled on the fly to {crs} "
                    "for detection, and results are written in {crs}."
                ).format(crs=label)
            )
        same_crs = grid_crs == src_crs
        native_res = abs(src.transform.a)
        footprint = _footprint(src, grid_crs)
        if same_crs:
            rbounds = tuple(src.bounds)
        else:
            rbounds = transform_bounds(src_crs, grid_crs, *src.bounds, densify_pts=21)
            from rasterio.warp import calculate_default_transform

            t, _w, _h = calculate_default_transform(src_crs, grid_crs, src.width, src.height, *src.bounds)
            native_res = abs(t.a)
        gsd = float(gsd_m) if gsd_m else float(native_res)
        # mask -> grid CRS
        mask_geom = None
        if mask is not None:
            geoms = list(mask) if isinstance(mask, (list, tuple)) else [mask]
            mask_geom = G.union(geoms)
            if mask_geom.is_empty:
                raise UserInputError(tr("The mask holds no polygon; select at least one polygon feature."))
            m_crs = to_crs(mask_crs) if mask_crs is not None else src_crs
            mask_geom = transform_geom(mask_geom, m_crs, grid_crs)
        # extent -> grid CRS
        if extent is not None:
            if len(extent) != 4 or not (extent[0] < extent[2] and extent[1] < extent[3]):
                raise UserInputError(
                    tr(
                        "The extent {ext} is not xmin,ymin,xmax,ymax with xmin < xmax and ymin < ymax."
                    ).format(ext=tuple(extent))
                )
            e_crs = to_crs(extent_crs) if extent_crs is not None else src_crs
            ext = (
                tuple(extent)
                if e_crs == grid_crs
                else transform_bounds(e_crs, grid_crs, *extent, densify_pts=21)
            )
        elif mask_geom is not None:
            ext = tuple(mask_geom.bounds)
        else:
            ext = rbounds
        x0, y0 = max(ext[0], rbounds[0]), max(ext[1], rbounds[1])
        x1, y1 = min(ext[2], rbounds[2]), min(ext[3], rbounds[3])
        if x1 - x0 < gsd or y1 - y0 < gsd:
            raise UserInputError(
                tr(
                    "The extent {ext} does not overlap the raster, which covers {rb} (in {crs}). "
                    "Pick an extent over the imagery."
                ).format(
                    ext=", ".join(f"{v:.2f}" for v in ext),
                    rb=", ".join(f"{v:.2f}" for v in rbounds),
                    crs=grid_crs.to_string(),
                )
            )
        if mask_geom is not None and not mask_geom.intersects(G.box(x0, y0, x1, y1)):
            raise UserInputError(
                tr("The mask polygons do not overlap the raster and extent; nothing to detect.")
            )
        rt = src.transform
        native = (
            same_crs
            and abs(abs(rt.a) - gsd) <= 1e-6 * gsd
            and abs(abs(rt.e) - gsd) <= 1e-3 * gsd
            and rt.b == 0
            and rt.d == 0
            and rt.e < 0
        )
        if native:
            c0 = max(0, int(math.floor((x0 - rt.c) / rt.a + 1e-9)))
            r0 = max(0, int(math.floor((y1 - rt.f) / rt.e + 1e-9)))
            c1 = min(src.width, int(math.ceil((x1 - rt.c) / rt.a - 1e-9)))
            r1 = min(src.height, int(math.ceil((y0 - rt.f) / rt.e - 1e-9)))
            transform = rt * Affine.translation(c0, r0)
            grid = Grid(grid_crs, transform, c1 - c0, r1 - r0, gsd, True, c0, r0)
        else:
            gx0 = math.floor(x0 / gsd) * gsd
            gy1 = math.ceil(y1 / gsd) * gsd
            w = int(math.ceil((x1 - gx0) / gsd - 1e-9))
            h = int(math.ceil((gy1 - y0) / gsd - 1e-9))
            grid = Grid(grid_crs, Affine(gsd, 0, gx0, 0, -gsd, gy1), w, h, gsd, False)
            if abs(native_res - gsd) > 0.01 * gsd:
                notes.append(
                    tr("Imagery at {src} m/px is resampled to the model's {gsd} m/px.").format(
                        src=num(native_res, 3), gsd=num(gsd, 3)
                    )
                )
    stride = tile_size - overlap
    xs = _axis_starts(grid.width, tile_size, stride)
    ys = _axis_starts(grid.height, tile_size, stride)
    cx = _cores(xs, tile_size, grid.width)
    cy = _cores(ys, tile_size, grid.height)
    if grid.width < tile_size or grid.height < tile_size:
        notes.append(
            tr("The area ({w}x{h} px) is smaller than one tile ({ts} px): it is padded.").format(
                w=grid.width, h=grid.height, ts=tile_size
            )
        )
    prepared = None
    if mask_geom is not None:
        prepared = G.prepared(mask_geom)
    tiles, skipped, tid = [], 0, 0
    t = grid.transform
    for j, r in enumerate(ys):
        for i, c in enumerate(xs):
            if prepared is not None:
                bx0, by1 = t * (c, r)
                bx1, by0 = t * (min(c + tile_size, grid.width), min(r + tile_size, grid.height))
                if not prepared.intersects(G.box(bx0, by0, bx1, by1)):
                    skipped += 1
                    continue
            tiles.append(Tile(tid, c, r, tile_size, (cx[i][0], cy[j][0], cx[i][1], cy[j][1])))
            tid += 1
    return TilePlan(
        raster=str(raster),
        grid=grid,
        tile_size=tile_size,
        overlap=overlap,
        tiles=tiles,
        total_tiles=len(xs) * len(ys),
        skipped_outside_mask=skipped,
        mask=mask_geom,
        extent=(x0, y0, x1, y1),
        raster_crs=src_crs,
        notes=notes,
        footprint=footprint,
    )


def split_plan(plan: TilePlan, n_jobs: int | None = None, tiles_per_job: int | None = None) -> list:
    """Cut a plan into independent :class:`Job` tile ranges (run each, then ``merge_results``)."""
    n = len(plan.tiles)
    if tiles_per_job is None:
        n_jobs = max(1, int(n_jobs or 1))
        tiles_per_job = max(1, int(math.ceil(n / n_jobs)))
    starts = list(range(0, n, int(tiles_per_job))) or [0]
    return [Job(k, len(starts), s, min(n, s + int(tiles_per_job))) for k, s in enumerate(starts)]


def split_plan_blocks(plan: TilePlan, tiles_per_job: int) -> list:
    """Cut a plan into :class:`Job` blocks of about ``tiles_per_job`` tiles, square in the grid.

    A block's tiles meet other jobs only along its outline, so most of what it finds lies away
    from other jobs (a range of a wide plan's tiles is a thin strip: nearly all of it is border).
    """
    n = max(1, int(tiles_per_job))
    bw = max(1, int(math.isqrt(n)))
    bh = max(1, n // bw)
    stride = max(1, plan.tile_size - plan.overlap)
    groups: dict = {}
    for pos, t in enumerate(plan.tiles):
        groups.setdefault((t.row // (stride * bh), t.col // (stride * bw)), []).append(pos)
    keys = sorted(groups)
    if not keys:
        return [Job(0, 1, 0, 0, ())]
    return [
        Job(k, len(keys), groups[key][0], groups[key][-1] + 1, tuple(groups[key]))
        for k, key in enumerate(keys)
    ]
