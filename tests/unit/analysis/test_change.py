"""Matching detections of two vintages: hand-built cases a user would recognise."""

from __future__ import annotations

import numpy as np
import pytest
from shapely import affinity
from shapely.geometry import Polygon, box

from idf_hr_plugin.core.analysis import geometry as G
from idf_hr_plugin.core.analysis.change import Detections, compare_detections, compare_segmentation
from idf_hr_plugin.core.analysis.errors import AnalysisError

AREA = box(-100, -100, 100, 100)


def run(geoms, classes=None, scores=None, area=AREA, **kw) -> Detections:
    n = len(geoms)
    return Detections(
        geometry=geoms,
        classes=classes if classes is not None else ["building"] * n,
        scores=scores if scores is not None else [0.9] * n,
        analysed_area=area,
        model_name=kw.pop("model_name", "demo"),
        model_sha256=kw.pop("model_sha256", "abc"),
        **kw,
    )


def by_change(res) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in res.rows():
        out.setdefault(r["change"], []).append(r)
    return out


def test_two_small_objects_over_one_large_give_one_match_not_two():
    large = box(0, 0, 10, 10)
    left, right = box(0, 0, 6, 10), box(7, 0, 10, 10)  # a 1 m gap: two buildings, not a seam
    res = compare_detections(run([large]), run([left, right]))
    ch = by_change(res)
    assert len(res) == 2
    assert [r["index_after"] for r in ch["modified"]] == [0]  # the large one kept its best overlap
    assert ch["modified"][0]["iou"] == pytest.approx(0.6)
    assert [r["index_after"] for r in ch["new"]] == [1]
    assert "removed" not in ch


def test_assignment_beats_greedy_on_a_chain_of_overlaps():
    # greedy by IoU would pair A1-B1 (0.67) and leave A2 and B2 alone; the assignment pairs both
    a1, a2 = box(0, 0, 10, 10), box(5, 0, 15, 10)
    b1, b2 = box(2, 0, 12, 10), box(-4, 0, 6, 10)
    res = compare_detections(run([a1, a2]), run([b1, b2]))
    ch = by_change(res)
    assert sorted((r["index_before"], r["index_after"]) for r in res.rows()) == [(0, 1), (1, 0)]
    assert "new" not in ch and "removed" not in ch


@pytest.mark.parametrize("split_side", ["after", "before"])
def test_object_split_by_a_tile_seam_in_one_vintage_only_is_unchanged(split_side):
    whole = box(0, 0, 10, 10)
    pieces = [box(0, 0, 6.2, 10), box(6.2, 0, 10, 10)]  # cut at a seam at x = 6.2
    if split_side == "after":
        res = compare_detections(run([whole]), run(pieces))
    else:
        res = compare_detections(run(pieces), run([whole]))
    rows = res.rows()
    assert [r["change"] for r in rows] == ["unchanged"]
    assert rows[0]["merged_parts"] == 1
    assert rows[0]["iou"] == pytest.approx(1.0)
    assert rows[0]["area_before_m2"] == pytest.approx(100.0)
    assert rows[0]["area_after_m2"] == pytest.approx(100.0)


def test_rotated_boxes_are_compared_by_their_polygons_not_their_bounding_boxes():
    thin = affinity.rotate(box(-10, -0.5, 10, 0.5), 45, origin=(0, 0))
    shifted = affinity.translate(thin, 0.1, -0.1)  # same car/roof, 14 cm jitter
    parallel = affinity.translate(thin, 2.0, -2.0)  # bounding boxes overlap, footprints do not
    other = affinity.translate(thin, -2.0, 2.0)
    res = compare_detections(run([thin, other]), run([shifted, parallel]), edge_m=0)
    pairs = [(r["index_before"], r["index_after"], r["change"]) for r in res.rows() if r["iou"] == r["iou"]]
    assert len(pairs) == 1
    b, a, change = pairs[0]
    assert a == 0 and change == "unchanged"
    # exact polygon IoU: 0.14 m sideways on a 1 m wide box (the bounding boxes' IoU would be 0.98)
    assert res.rows()[0]["iou"] == pytest.approx((1 - 0.1 * 2**0.5) / (1 + 0.1 * 2**0.5), rel=1e-6)
    ch = by_change(res)
    assert [r["index_after"] for r in ch["new"]] == [1]
    assert [r["index_before"] for r in ch["removed"]] == [1]


def test_classes_are_matched_separately():
    g = box(0, 0, 10, 10)
    res = compare_detections(run([g], classes=["building"]), run([g], classes=["solar_panel"]))
    assert sorted(r["change"] for r in res.rows()) == ["new", "removed"]


def test_modified_when_area_grows_or_footprint_shifts():
    before = [box(0, 0, 10, 10), box(20, 0, 30, 10), box(40, 0, 50, 10)]
    after = [box(0, 0, 10, 15), box(23, 0, 33, 10), box(40.2, 0, 50.2, 10)]
    res = compare_detections(run(before), run(after))
    assert [r["change"] for r in res.rows()] == ["modified", "modified", "unchanged"]
    assert res.rows()[0]["area_after_m2"] == pytest.approx(150.0)


def test_near_edge_or_under_a_hole_is_uncertain_not_new_or_removed():
    extent = box(0, 0, 100, 100)
    holed = extent.difference(box(40, 40, 60, 60))  # NoData in the 2026 imagery
    before = run([box(45, 45, 50, 50), box(10, 10, 15, 15)], area=extent)
    after = run([box(0.5, 80, 4, 84), box(70, 70, 75, 75)], area=holed)
    res = compare_detections(before, after, edge_m=2.0)
    got = {(r["index_before"], r["index_after"]): r["change"] for r in res.rows()}
    assert got == {
        (0, -1): "uncertain",  # under the hole: 2026 never looked there
        (1, -1): "removed",
        (-1, 0): "uncertain",  # 0.5 m from the extent edge, may be cut
        (-1, 1): "new",
    }
    assert all(r["confidence"] == 0 for r in res.rows() if r["change"] == "uncertain")


def test_two_low_scores_do_not_read_as_a_sure_result():
    g = box(0, 0, 10, 10)
    res = compare_detections(
        run([g, box(20, 0, 30, 10)], scores=[0.3, 0.95]),
        run([box(0, 0, 10, 16), box(20, 0, 30, 10), box(50, 50, 55, 55)], scores=[0.3, 0.95, 0.8]),
    )
    conf = {r["change"] + str(r["index_after"]): r["confidence"] for r in res.rows()}
    assert conf["modified0"] == pytest.approx(0.09)
    assert conf["unchanged1"] == pytest.approx(0.9025)
    assert conf["new2"] == pytest.approx(0.8)
    assert "score_before*score_after" in res.metadata["confidence_formula"]


def test_refuses_runs_from_different_models():
    g = [box(0, 0, 1, 1)]
    with pytest.raises(AnalysisError, match="different models") as err:
        compare_detections(run(g, model_sha256="aaa"), run(g, model_sha256="bbb"))
    assert isinstance(err.value, ValueError)


def test_refuses_runs_that_do_not_overlap():
    g = [box(0, 0, 1, 1)]
    with pytest.raises(AnalysisError, match="do not overlap"):
        compare_detections(run(g, area=box(0, 0, 10, 10)), run(g, area=box(20, 0, 30, 10)))


def test_refuses_a_run_without_analysed_area():
    with pytest.raises(AnalysisError, match="no analysed area"):
        compare_detections(run([box(0, 0, 1, 1)], area=None), run([box(0, 0, 1, 1)]))


def test_refuses_geometries_in_degrees():
    g = [box(2.4, 48.8, 2.41, 48.81)]
    a = box(2.3, 48.7, 2.5, 48.9)
    with pytest.raises(AnalysisError, match="metres"):
        compare_detections(run(g, area=a, crs="EPSG:4326"), run(g, area=a, crs="EPSG:4326"))


def test_runs_in_different_crs_are_reprojected_and_say_so():
    from pyproj import Transformer

    tf = Transformer.from_crs("EPSG:2154", "EPSG:3857", always_xy=True)
    from shapely.ops import transform

    g = box(652000, 6860000, 652010, 6860010)
    area = box(651900, 6859900, 652100, 6860100)
    res = compare_detections(
        run([g], area=area),
        run([transform(tf.transform, g)], area=transform(tf.transform, area), crs="EPSG:3857", run_id="r26"),
    )
    assert [r["change"] for r in res.rows()] == ["unchanged"]
    assert res.rows()[0]["area_after_m2"] == pytest.approx(100.0, rel=1e-3)
    assert any("r26" in n and "Lambert-93" in n for n in res.metadata["notes"])


def test_excluded_classes_are_left_out():
    res = compare_detections(
        run([box(0, 0, 2, 4)], classes=["car"]),
        run([box(10, 0, 12, 4)], classes=["car"]),
        exclude_classes={"car"},
    )
    assert len(res) == 0 and res.metadata["excluded_classes"] == ["car"]


def test_grid_index_finds_exactly_the_overlapping_boxes():
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 500, (2, 400, 2))
    wh = rng.uniform(1, 12, (2, 400, 2))
    wh[0, :3] = 300  # a few very large boxes take the brute-force path
    ba = np.hstack([xy[0], xy[0] + wh[0]])
    bb = np.hstack([xy[1], xy[1] + wh[1]])
    ia, ib = G.grid_bbox_pairs(ba, bb)
    got = set(zip(ia.tolist(), ib.tolist()))
    assert len(got) == len(ia)  # each pair once
    ov = (
        (ba[:, None, 0] <= bb[None, :, 2])
        & (bb[None, :, 0] <= ba[:, None, 2])
        & (ba[:, None, 1] <= bb[None, :, 3])
        & (bb[None, :, 1] <= ba[:, None, 3])
    )
    assert got == set(zip(*map(np.ndarray.tolist, np.nonzero(ov))))


def test_segmentation_overlay_gives_canopy_lost_and_gained_within_the_common_area():
    canopy_2024 = [box(0, 0, 20, 10), Polygon([(30, 0), (40, 0), (40, 10), (30, 10)])]
    canopy_2026 = [box(0, 0, 12, 10), box(30, 0, 45, 10)]
    res = compare_segmentation(
        run(canopy_2024, classes=["tree", "tree"], area=box(0, -5, 42, 20)),
        run(canopy_2026, classes=["tree", "tree"], area=box(0, -5, 100, 20)),
    )
    (t,) = res.totals
    assert t["lost_m2"] == pytest.approx(80.0)  # 12..20 cut down
    assert t["gained_m2"] == pytest.approx(20.0)  # 40..42 only: 42..45 was not analysed in 2024
    assert t["net_m2"] == pytest.approx(-60.0)
    assert sorted(res.columns["change"].tolist()) == ["gained", "lost"]


def test_a_small_object_under_an_unchanged_large_one_is_not_swallowed_as_a_seam_piece():
    crown = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    small = box(7, 7, 9, 9)  # a young tree under the large crown, felled by 2026
    res = compare_detections(run([crown, small], classes=["tree"] * 2), run([crown], classes=["tree"]))
    got = sorted((r["index_before"], r["change"], r["merged_parts"]) for r in res.rows())
    assert got == [(0, "unchanged", 0), (1, "removed", 0)]


@pytest.mark.parametrize("empty_side", ["before", "after", "both"])
def test_a_run_with_no_detections_gives_an_empty_but_valid_result(empty_side):
    some = [box(0, 0, 10, 10), box(20, 0, 30, 10)]
    before = run([] if empty_side in ("before", "both") else some)
    after = run([] if empty_side in ("after", "both") else some)
    res = compare_detections(before, after)
    expected = {"before": ["new", "new"], "after": ["removed", "removed"], "both": []}[empty_side]
    assert [r["change"] for r in res.rows()] == expected
    seg = compare_segmentation(before, after)
    assert len(seg.totals) == (0 if empty_side == "both" else 1)
