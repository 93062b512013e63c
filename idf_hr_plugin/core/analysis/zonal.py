"""Statistics per zone and class: counts, areas, density per analysed km², change counts.

Every figure is measured, never extrapolated: density divides by the analysed km² inside the zone
(zone ∩ union of the runs' analysed areas), and each zone states the fraction of its area that
was analysed. Areas are computed in Lambert-93 (EPSG:2154) metres; zones in any CRS are
reprojected first. An object crossing two zones is counted once, in the zone containing its
representative point (centre of an axis-aligned box, GEOS point-on-surface otherwise — always
inside the object); a point exactly on a shared border goes to the first zone in input order.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from ..i18n import tr
from . import geometry as G
from .change import STATUSES
from .errors import AnalysisError, check_cancel

ASSIGNMENT_RULE = (
    "each object is counted once, in the zone containing its representative point "
    "(box centre, or point on surface); border ties go to the first zone"
)


@dataclass
class ZonalResult:
    """``rows``: one per zone and class; ``zones``: one per zone (analysed fraction); ``metadata``."""

    rows: list[dict]
    zones: list[dict]
    metadata: dict = field(default_factory=dict)

    def to_dataframe(self):
        """The rows as a pandas DataFrame (pandas from Debian ``python3-pandas``)."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the rows as UTF-8 CSV (temporary file moved into place when complete)."""
        from ..opendata._util import atomic_path

        with atomic_path(path, ".csv") as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=list(self.rows[0]) if self.rows else ["zone"])
                w.writeheader()
                w.writerows(self.rows)

    def to_xlsx(self, path: str | os.PathLike) -> None:
        """Write rows, zones and metadata as three sheets (needs openpyxl, Debian ``python3-openpyxl``)."""
        try:
            from openpyxl import Workbook
        except ImportError as exc:
            raise AnalysisError(
                tr(
                    "Excel export needs the openpyxl package, which is not installed; install "
                    "python3-openpyxl or export to CSV instead."
                )
            ) from exc
        from ..opendata._util import atomic_path

        wb = Workbook()
        for ws, table in ((wb.active, self.rows), (wb.create_sheet(), self.zones)):
            keys = list(table[0]) if table else ["zone"]
            ws.append(keys)
            for r in table:
                ws.append([r[k] for k in keys])
        wb.active.title, wb.worksheets[1].title = "statistics", "zones"
        meta = wb.create_sheet("metadata")
        for k, v in self.metadata.items():
            meta.append([k, str(v)])
        with atomic_path(path, ".xlsx") as tmp:
            wb.save(tmp)


def _points(geoms: np.ndarray, box: np.ndarray, area: np.ndarray) -> np.ndarray:
    rect = G.is_rectangle(area, box)
    pts = np.column_stack([(box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2])
    other = np.nonzero(~rect)[0]
    if len(other):
        pts[other] = G.representative_points(geoms[other])
    return pts


def _contains_xy(zone, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if G.SHAPELY2:
        import shapely

        return shapely.contains_xy(zone, x, y)
    from shapely import vectorized

    return vectorized.contains(zone, x, y)


def assign_to_zones(
    points: np.ndarray, zones: np.ndarray, cancel: Optional[Callable[[], bool]] = None
) -> np.ndarray:
    """Index of the zone containing each point (-1 outside every zone), first zone on ties;
    ``cancel()`` is checked before each zone (raises ``Cancelled``)."""
    out = np.full(len(points), -1, np.int64)
    if len(points) == 0 or len(zones) == 0:
        return out
    pbox = np.hstack([points, points])
    zbox = G.bounds(zones)
    ip, iz = G.grid_bbox_pairs(pbox, zbox, cancel)
    order = np.lexsort((ip, iz))
    ip, iz = ip[order], iz[order]
    cuts = np.nonzero(np.diff(iz))[0] + 1
    hit_p, hit_z = [], []
    for grp in np.split(np.arange(len(iz)), cuts) if len(iz) else ():
        check_cancel(cancel)
        z = iz[grp[0]]
        p = ip[grp]
        ok = _contains_xy(zones[z], points[p, 0], points[p, 1])  # vectorised point-in-polygon
        hit_p.append(p[ok])
        hit_z.append(np.full(int(ok.sum()), z, np.int64))
    if hit_p:
        hp, hz = np.concatenate(hit_p), np.concatenate(hit_z)
        order = np.lexsort((hz, hp))
        hp, hz = hp[order], hz[order]
        first = np.ones(len(hp), bool)
        first[1:] = hp[1:] != hp[:-1]
        out[hp[first]] = hz[first]
    return out


def zonal_statistics(
    zones: Sequence,
    zone_names: Optional[Sequence],
    geometry: Iterable,
    classes: Iterable,
    analysed_areas: Sequence,
    *,
    zones_crs: Any = G.LAMBERT93,
    crs: Any = G.LAMBERT93,
    labels: Optional[Iterable] = None,
    change: Optional[Iterable] = None,
    cancel: Optional[Callable[[], bool]] = None,
) -> ZonalResult:
    """Per zone and class: count, area, density per analysed km²; per zone the analysed fraction.

    ``geometry``/``classes`` (+ ``labels``) describe a detection layer, or a change layer when
    ``change`` gives each record's status (then ``n_new`` … ``n_uncertain`` and ``net_change`` =
    new − removed are added). ``analysed_areas`` are the runs' analysed (Multi)Polygons in ``crs``.
    Zones in any CRS are reprojected to Lambert-93; areas are never computed in degrees.
    ``cancel()`` is checked per zone and every few thousand objects (raises ``Cancelled``).
    """
    check_cancel(cancel)
    zones_arr = G.as_geometry_array(zones)
    if (
        zone_names is None
        or len(zone_names) != len(zones_arr)
        or any(n is None or str(n).strip() == "" for n in zone_names)
    ):
        raise AnalysisError(
            tr(
                "The zones have no name for every feature; choose the field that names the zones "
                "(for example the commune name) and try again."
            )
        )
    geoms = G.as_geometry_array(geometry)
    cls = np.asarray(list(classes) if not isinstance(classes, np.ndarray) else classes)
    if len(cls) != len(geoms):
        raise AnalysisError(
            tr("The layer has {n} geometries but {c} classes; every object needs a class.").format(
                n=len(geoms), c=len(cls)
            )
        )
    notes = []
    zones_l93, moved = G.to_lambert93(zones_arr, zones_crs)
    if moved:
        notes.append(tr("Zones were reprojected from {crs} to Lambert-93 (EPSG:2154).").format(crs=zones_crs))
    geoms, moved = G.to_lambert93(geoms, crs)
    areas_in, _ = G.to_lambert93(G.as_geometry_array(list(analysed_areas)), crs)
    if moved:
        notes.append(tr("Objects were reprojected from {crs} to Lambert-93 (EPSG:2154).").format(crs=crs))
    from shapely.ops import unary_union

    analysed = unary_union([a for a in areas_in if a is not None and not a.is_empty])
    zone_area = G.areas(zones_l93)
    zone_an = np.zeros(len(zones_l93))
    for z, zone in enumerate(zones_l93 if not analysed.is_empty else ()):
        check_cancel(cancel)  # one zone ∩ analysed area can take a while for a detailed mask
        zone_an[z] = zone.intersection(analysed).area
    frac = np.divide(zone_an, zone_area, out=np.zeros_like(zone_area), where=zone_area > 0)

    box = G.batched(lambda s: G.bounds(geoms[s]), len(geoms), cancel)
    area = G.batched(lambda s: G.areas(geoms[s]), len(geoms), cancel)
    pts = G.batched(lambda s: _points(geoms[s], box[s], area[s]), len(geoms), cancel)
    zone_of = assign_to_zones(pts, zones_l93, cancel)
    uniq, cidx = np.unique(cls, return_inverse=True)
    keys = uniq.tolist()
    lab = np.asarray(list(labels) if labels is not None else cls.astype(str))
    label_of = {}
    for k, i in zip(*np.unique(cidx, return_index=True)):
        label_of[keys[k]] = str(lab[i])
    nz, nc = len(zones_l93), len(keys)
    inside = zone_of >= 0
    key = zone_of[inside] * nc + cidx[inside]
    counts = np.bincount(key, minlength=nz * nc).reshape(nz, nc)
    sums = np.bincount(key, weights=area[inside], minlength=nz * nc).reshape(nz, nc)
    status_counts = None
    if change is not None:
        st = np.asarray(list(change) if not isinstance(change, np.ndarray) else change).astype(str)
        sidx = np.full(len(st), -1)
        for i, s in enumerate(STATUSES):
            sidx[st == s] = i
        ok = inside & (sidx >= 0)
        k2 = (zone_of[ok] * nc + cidx[ok]) * len(STATUSES) + sidx[ok]
        status_counts = np.bincount(k2, minlength=nz * nc * len(STATUSES)).reshape(nz, nc, len(STATUSES))

    names = [str(n) for n in zone_names]
    rows = []
    for z in range(nz):
        an_km2 = zone_an[z] / 1e6
        for c, k in enumerate(keys):
            r = {
                "zone": names[z],
                "class": k,
                "label": label_of.get(k, str(k)),
                "count": int(counts[z, c]),
                "area_m2": float(sums[z, c]),
                "analysed_km2": float(an_km2),
                "analysed_fraction": float(frac[z]),
                "density_per_km2": float(counts[z, c] / an_km2) if an_km2 > 0 else None,
            }
            if status_counts is not None:
                for i, s in enumerate(STATUSES):
                    r[f"n_{s}"] = int(status_counts[z, c, i])
                r["net_change"] = r["n_new"] - r["n_removed"]
            rows.append(r)
    zone_rows = [
        {
            "zone": names[z],
            "zone_area_km2": float(zone_area[z] / 1e6),
            "analysed_km2": float(zone_an[z] / 1e6),
            "analysed_fraction": float(frac[z]),
            "count": int(counts[z].sum()),
        }
        for z in range(nz)
    ]
    metadata = {
        "assignment": ASSIGNMENT_RULE,
        "crs": G.LAMBERT93,
        "extrapolated": False,
        "objects": int(len(geoms)),
        "objects_outside_zones": int((~inside).sum()),
        "analysed_km2": float(analysed.area / 1e6) if not analysed.is_empty else 0.0,
        "notes": notes,
    }
    return ZonalResult(rows=rows, zones=zone_rows, metadata=metadata)
