"""Global NMS: same result as the O(n^2) reference, sub-quadratic on 100k boxes, IoS, rotated."""

from __future__ import annotations

import time

import numpy as np
import pytest

from idf_hr_plugin.core.inference.decoders import rbox_corners
from idf_hr_plugin.core.inference.nms import nms, nms_reference


def _boxes(n, extent, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, extent, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    return np.concatenate([c - wh / 2, c + wh / 2], 1), rng.random(n), rng.integers(0, 3, n)


@pytest.mark.parametrize("agnostic", [False, True])
@pytest.mark.parametrize("ios", [None, 0.8])
def test_same_result_as_reference_on_2k_boxes(agnostic, ios):
    b, s, c = _boxes(2000, 600)
    got = nms(b, s, c, iou_thr=0.45, ios_thr=ios, agnostic=agnostic)
    ref = nms_reference(b, s, c, iou_thr=0.45, ios_thr=ios, agnostic=agnostic)
    np.testing.assert_array_equal(got, ref)
    assert 0 < len(got) < 2000


def test_pairs_searched_in_bands_are_the_same_pairs():
    """Large runs search candidate pairs band by band (bounded memory): the same pairs, so the
    same NMS, including tall boxes that reach across many bands and boxes on band edges."""
    from idf_hr_plugin.core.inference.nms import candidate_pairs

    b, _s, _c = _boxes(6000, 1500, seed=3)
    b[:40, 3] += 900  # tall boxes reaching down across several bands
    b[40:400, 1] = np.round(b[40:400, 1], -2)  # equal top edges, some on either side of a band edge
    b[:, 3] = np.maximum(b[:, 3], b[:, 1] + 5)
    whole = candidate_pairs(b, band=len(b))
    for band in (500, 1999):
        got = candidate_pairs(b, band=band)
        assert whole[0].size > 6000
        np.testing.assert_array_equal(got[0], whole[0])
        np.testing.assert_array_equal(got[1], whole[1])


def _brute_pairs(b):
    i, j = np.triu_indices(len(b), 1)
    hit = (np.minimum(b[i, 2], b[j, 2]) > np.maximum(b[i, 0], b[j, 0])) & (
        np.minimum(b[i, 3], b[j, 3]) > np.maximum(b[i, 1], b[j, 1])
    )
    return i[hit], j[hit]


@pytest.mark.parametrize("layout", ["tile", "row", "column", "crowd", "degenerate"])
def test_pair_search_finds_exactly_the_intersecting_pairs(layout):
    """The sweep (boxes of one tile, a band of a region) and the grid (crowds) find every pair
    of intersecting boxes and no other, whichever axis the sweep picks."""
    from idf_hr_plugin.core.inference import nms as N

    rng = np.random.default_rng(7)
    n = 800  # candidates of one 640 px tile of a light detector
    xy = rng.random((n, 2)) * 640
    wh = 4 + rng.random((n, 2)) * 26
    if layout == "row":  # a long row of tiles: few boxes meet along y, many along x
        xy[:, 0] *= 10
        xy[:, 1] /= 4
    elif layout == "column":
        xy[:, 1] *= 10
        xy[:, 0] /= 4
    elif layout == "crowd":  # everything on top of everything: past the sweep's limit, the grid
        xy /= 20
        wh *= 4
    elif layout == "degenerate":  # integer corners shared by many boxes, zero-width boxes
        xy, wh = np.round(xy / 8) * 8, np.round(wh / 8) * 8
        wh[:100, 0] = 0
    b = np.concatenate([xy, xy + wh], axis=1)
    want = _brute_pairs(b)
    got = N.candidate_pairs(b)
    assert want[0].size > 200
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    order, span = min((N._sweep_spans(b[:, k], b[:, k + 2]) for k in (0, 1)), key=lambda s: int(s[1].sum()))
    assert (int(span.sum()) > N.SWEEP_PAIRS_PER_BOX_FEW * n) == (layout == "crowd")


def test_100k_boxes_fast():
    b, s, c = _boxes(100_000, 20_000, seed=1)
    t = time.perf_counter()
    keep = nms(b, s, c, iou_thr=0.45, ios_thr=0.7)
    dt = time.perf_counter() - t
    print(f"global NMS on 100k boxes: {dt:.2f} s, {len(keep)} kept")
    assert dt < 5.0 and 90_000 < len(keep) < 100_000
    # sub-quadratic: 4x the boxes (same density) costs far less than 16x
    b2, s2, c2 = _boxes(25_000, 10_000, seed=2)
    t = time.perf_counter()
    nms(b2, s2, c2, iou_thr=0.45)
    dt_small = time.perf_counter() - t
    assert dt < 10 * max(dt_small, 0.01)


def test_ios_removes_seam_fragment_only_across_tiles():
    full = [100, 100, 120, 120]
    fragment = [100, 100, 106, 120]  # the part of the object a neighbour tile saw
    boxes = np.array([full, fragment], float)
    scores = np.array([0.8, 0.9])  # the fragment even scores higher
    assert list(nms(boxes, scores, iou_thr=0.45)) == [1, 0]  # IoU 0.3: both kept
    keep = nms(
        boxes,
        scores,
        iou_thr=0.45,
        ios_thr=0.7,
        groups=np.array([0, 1]),
        priority=np.array([0, 1]),
        fragments=np.array([False, True]),
    )
    assert list(keep) == [0]  # the complete object wins
    # a small object inside a big one, neither cut by a tile border: both kept
    keep = nms(
        boxes, scores, iou_thr=0.45, ios_thr=0.7, groups=np.array([0, 1]), fragments=np.array([False, False])
    )
    assert sorted(keep) == [0, 1]


def test_rotated_boxes_use_polygons():
    # two thin boxes crossing at 90 degrees: their envelopes are identical, the polygons are not
    rb = np.array([[50, 50, 40, 4, 0.0], [50, 50, 40, 4, np.pi / 2], [50, 50, 40, 4, 0.05]])
    env = np.array([[30, 48, 70, 52], [48, 30, 52, 70], [30, 47, 70, 53]], float)
    keep = nms(env, np.array([0.9, 0.8, 0.7]), iou_thr=0.45, rboxes=rb)
    assert sorted(keep) == [0, 1]


# ------------------------------------------------------------------ oriented boxes


def _rboxes(n, extent=640.0, nobj=40, seed=0):
    """Candidates as a detector gives them: clusters of jittered rotated boxes around objects."""
    rng = np.random.default_rng(seed)
    obj = np.c_[
        rng.uniform(0, extent, (nobj, 2)),
        rng.uniform(15, 80, (nobj, 2)),
        rng.uniform(-np.pi / 2, np.pi / 2, nobj),
    ]
    rb = obj[rng.integers(0, nobj, n)] + np.c_[rng.normal(0, 4, (n, 4)), rng.normal(0, 0.15, n)]
    rb[:, 2:4] = np.abs(rb[:, 2:4]) + 1
    return rb, rng.random(n), rng.integers(0, 3, n)


def _polygon_nms_reference(rb, scores, classes, iou_thr, ios_thr=None, groups=None, fragments=None):
    """Plain O(n^2) greedy NMS on shapely polygons (the previous implementation's semantics)."""
    from shapely.geometry import Polygon

    polys = [Polygon(c) for c in rbox_corners(rb)]
    keep, removed = [], np.zeros(len(rb), bool)
    for a in np.argsort(-scores, kind="stable"):
        if removed[a]:
            continue
        keep.append(a)
        for b in range(len(rb)):
            if b == a or removed[b] or (classes is not None and classes[b] != classes[a]):
                continue
            inter = polys[a].intersection(polys[b]).area
            if inter / (polys[a].area + polys[b].area - inter) > iou_thr:
                removed[b] = True
            elif ios_thr is not None and groups[a] != groups[b] and (fragments[a] or fragments[b]):
                removed[b] |= inter / min(polys[a].area, polys[b].area) > ios_thr
    return np.asarray(keep, np.int64)


def test_quad_intersection_areas_match_shapely():
    from shapely.geometry import Polygon

    from idf_hr_plugin.core.inference.nms import convex_quad_intersection_area

    rng = np.random.default_rng(3)
    p = 3000
    rb = np.c_[rng.uniform(0, 100, (2 * p, 2)), rng.uniform(1, 60, (2 * p, 2)), rng.uniform(-4, 4, 2 * p)]
    rb[::97, 2] = 0  # flat boxes
    rb[p : p + 50] = rb[:50]  # identical boxes (collinear edges)
    rb[p + 50 : p + 100] = rb[50:100] + [0, 0, 0, 0, np.pi / 2]  # same box turned a quarter
    rb[p + 100 : p + 150] = rb[100:150] * [1, 1, 0.3, 0.3, 1]  # a box inside another
    rb[p + 150 : p + 200] = rb[150:200] + [500, 0, 0, 0, 0]  # far apart
    c = rbox_corners(rb)
    got = convex_quad_intersection_area(c[:p], c[p:])
    want = np.array([Polygon(a).intersection(Polygon(b)).area for a, b in zip(c[:p], c[p:])])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert (want > 0).sum() > 500 and np.all(got[::97] < 1e-9)
    np.testing.assert_allclose(got[:50], rb[:50, 2] * rb[:50, 3], rtol=1e-9)
    assert np.all(got[150:200] == 0)


@pytest.mark.parametrize("per_class", [True, False])
def test_rotated_nms_keeps_the_same_boxes_as_polygon_reference(per_class):
    rb, s, c = _rboxes(1500)
    env = np.concatenate([rbox_corners(rb).min(1), rbox_corners(rb).max(1)], 1)
    got = nms(env, s, c, iou_thr=0.45, agnostic=not per_class, rboxes=rb)
    ref = _polygon_nms_reference(rb, s, c if per_class else None, 0.45)
    np.testing.assert_array_equal(got, ref)
    assert 40 < len(got) < 1500


def test_rotated_nms_ios_across_tiles_same_as_reference():
    rb, s, c = _rboxes(800, seed=4)
    groups = np.random.default_rng(5).integers(0, 4, len(rb))
    frag = np.random.default_rng(6).random(len(rb)) < 0.3
    env = np.concatenate([rbox_corners(rb).min(1), rbox_corners(rb).max(1)], 1)
    got = nms(env, s, c, iou_thr=0.6, ios_thr=0.7, groups=groups, fragments=frag, rboxes=rb)
    ref = _polygon_nms_reference(rb, s, c, 0.6, 0.7, groups, frag)
    np.testing.assert_array_equal(got, ref)


def test_rotated_nms_on_a_full_640_tile_of_candidates():
    """8,400 candidates (every anchor of a 640 px tile) give exactly the greedy NMS set.

    That set is the only one where no kept box is suppressed by a better kept box of its class,
    and every dropped box is suppressed by one (IoU > 0.45). Checked on all same-class pairs.
    """
    from idf_hr_plugin.core.inference.nms import convex_quad_intersection_area

    rb, s, c = _rboxes(8400, nobj=60, seed=7)
    corners = rbox_corners(rb)
    env = np.concatenate([corners.min(1), corners.max(1)], 1)
    keep = nms(env, s, c, iou_thr=0.45, rboxes=rb)
    assert 60 <= len(keep) < 2000
    kept = np.zeros(len(rb), bool)
    kept[keep] = True
    pairs = []
    for k in np.unique(c):  # same-class pairs whose envelopes overlap (polygons apart otherwise)
        m = np.nonzero(c == k)[0]
        e = env[m]
        touch = (np.minimum(e[:, None, 2], e[None, :, 2]) > np.maximum(e[:, None, 0], e[None, :, 0])) & (
            np.minimum(e[:, None, 3], e[None, :, 3]) > np.maximum(e[:, None, 1], e[None, :, 1])
        )
        ia, ib = np.nonzero(np.triu(touch, 1))
        pairs.append((m[ia], m[ib]))
    a, b = np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])
    a, b = np.where(s[a] >= s[b], a, b), np.where(s[a] >= s[b], b, a)  # a: the better box
    area = rb[:, 2] * rb[:, 3]
    inter = np.concatenate(
        [
            convex_quad_intersection_area(corners[a[k : k + 50_000]], corners[b[k : k + 50_000]])
            for k in range(0, a.size, 50_000)
        ]
    )
    suppresses = kept[a] & (inter / (area[a] + area[b] - inter) > 0.45)
    assert not np.any(suppresses & kept[b])
    dropped = np.zeros(len(rb), bool)
    dropped[b[suppresses]] = True
    np.testing.assert_array_equal(dropped, ~kept)
