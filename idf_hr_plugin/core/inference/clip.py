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
    inside = G.prepared(area)
    geoms, keep = [], []
    for g in feats.geoms:
        if inside.contains(g):
            geoms.append(g)
            keep.append(True)
            continue
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
    clipped = Features(
        geoms,
        np.asarray(feats.class_ids)[ok],
        np.asarray(feats.scores)[ok],
        np.array([g.area for g in geoms], np.float64),
        feats.detections_before_nms,
        feats.dropped_outside_mask,
        *feats.subset(ok),
    )
    return clipped, int((~ok).sum())


def clip_to_plan(feats: Features, plan, *, multipart: bool, notes: list) -> Features:
    """:func:`clip_features` to the plan's :func:`analysed_area`; says in ``notes`` what was dropped."""
    from ..i18n import tr

    clipped, dropped = clip_features(feats, analysed_area(plan), multipart=multipart)
    if dropped:
        notes.append(
            tr("{n} object(s) lying wholly outside the imagery, extent or mask were dropped.").format(
                n=dropped
            )
        )
    return clipped
