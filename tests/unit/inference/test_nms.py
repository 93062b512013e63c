"""Global NMS: same result as the O(n^2) reference, sub-quadratic on 100k boxes, IoS, rotated."""

from __future__ import annotations

import time

import numpy as np
import pytest

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
