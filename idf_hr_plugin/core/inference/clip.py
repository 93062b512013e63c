"""Clip detections to the area that was actually analysed, and recompute their areas.

A model may draw a box (or rotated box, or instance mask) that reaches past the imagery into
the zero padding of an edge tile, past the user's extent or across the mask. Whatever lies
outside the analysed area was never seen, so it is cut off and ``area_m2`` is measured on
what remains; objects with nothing left are dropped.
"""

from __future__ import annotations

import numpy as np

from . import geom as G
from .results import Features


def analysed_area(plan):
    """The analysed area in the grid CRS: raster footprint ∩ extent ∩ mask (shapely geometry)."""
    area = G.box(*plan.extent)
    if plan.footprint is not None:
        area = area.intersection(plan.footprint)
    if plan.mask is not None:
        area = area.intersection(plan.mask)
    return area


def clip_features(feats: Features, area, multipart: bool = True) -> tuple:
    """-> (features clipped to ``area`` with areas recomputed, number of objects dropped).

    ``multipart=False`` (box layers, one polygon per object) keeps the largest piece when the
    area cuts an object in several.
    """
    if area is None or not feats.geoms:
        return feats, 0
    from shapely import wkb

    inside = G.prepared(area)
    within = _within_rectangle(feats.bounds, area)
    geoms, keep, same = [], [], []
    for k, g in enumerate(feats.geoms):
        if within is not None and within[k]:
            geoms.append(g)
            keep.append(True)
            same.append(True)
            continue
        if isinstance(g, (bytes, bytearray)):  # WKB (see finish_segments)
            g = wkb.loads(bytes(g))
        if inside.contains(g):
            geoms.append(g)
            keep.append(True)
            same.append(True)
            continue
        same.append(False)
        pieces = [p for p in G.parts(g.intersection(area)) if p.area > 0]
        if not pieces:
            keep.append(False)
            continue
        if multipart:
            geoms.append(G.union(pieces))
        else:
            geoms.append(max(pieces, key=lambda p: p.area))
        keep.append(True)
    ok = np.asarray(keep, bool)
    unchanged = np.asarray(same, bool)[ok]  # kept whole: their area and bounds stand
    areas = np.asarray(feats.areas_m2, np.float64)[ok].copy()
    for i in np.nonzero(~unchanged)[0]:
        areas[i] = geoms[i].area
    bounds = None
    if feats.bounds is not None:
        bounds = np.asarray(feats.bounds, np.float64)[ok].copy()
        bounds[~unchanged] = np.nan
    clipped = Features(
        geoms,
        np.asarray(feats.class_ids)[ok],
        np.asarray(feats.scores)[ok],
        areas,
        feats.detections_before_nms,
        feats.dropped_outside_mask,
        *feats.subset(ok),
        bounds=bounds,
        index=None if feats.index is None else np.asarray(feats.index)[ok],
    )
    return clipped, int((~ok).sum())


def _within_rectangle(bounds, area):
    """Which geometries lie inside ``area`` by their bounds alone, when ``area`` is a rectangle
    (the extent, a north-up raster): no per-vertex test for most objects. None: not known."""
    if bounds is None or area.geom_type != "Polygon" or list(area.interiors):
        return None
    x0, y0, x1, y1 = area.bounds
    if not area.equals(G.box(x0, y0, x1, y1)):
        return None
    b = np.asarray(bounds, np.float64)
    return (b[:, 0] >= x0) & (b[:, 1] >= y0) & (b[:, 2] <= x1) & (b[:, 3] <= y1)


def clip_to_plan(feats: Features, plan, *, multipart: bool, notes: list) -> Features:
    """:func:`clip_features` to the plan's :func:`analysed_area`; says in ``notes`` what was dropped."""
    clipped, dropped = clip_features(feats, analysed_area(plan), multipart=multipart)
    if dropped:
        notes.append(dropped_note(dropped))
    return clipped


def dropped_note(n: int) -> str:
    """The note saying that ``n`` objects lay wholly outside what was analysed."""
    from ..i18n import tr

    return tr("{n} object(s) lying wholly outside the imagery, extent or mask were dropped.").format(n=n)
