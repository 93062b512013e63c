"""The yardstick: the demo ground truth of 2024 vs 2026, matched, gives back its recorded changes."""

from __future__ import annotations

from collections import Counter

from shapely.geometry import box

from idf_hr_plugin.core.analysis.change import compare_detections
from idf_hr_plugin.core.analysis.io import read_detections


def test_demo_ground_truth_changes_are_reproduced_by_the_matcher(demo_region):
    area = box(*demo_region.bounds)
    kw = dict(analysed_area=area, fields=("object_id", "change"))
    before = read_detections(demo_region.ground_truth, "objects", where="vintage = 2024", **kw)
    after = read_detections(demo_region.ground_truth, "objects", where="vintage = 2026", **kw)
    n_objects = len(
        set(before.attributes["object_id"].tolist()) | set(after.attributes["object_id"].tolist())
    )

    def recorded(row):
        ib, ia = row["index_before"], row["index_after"]
        if ia >= 0 and ib >= 0:  # a matched pair is one and the same object of the truth
            assert after.attributes["object_id"][ia] == before.attributes["object_id"][ib]
        return after.attributes["change"][ia] if ia >= 0 else before.attributes["change"][ib]

    exact = compare_detections(before, after, edge_m=0)  # the whole region counts as analysed
    assert len(exact) == n_objects  # every object once: nothing split, nothing swallowed
    assert [recorded(r) for r in exact.rows()] == exact.columns["change"].tolist()
    per_status = Counter(exact.columns["change"].tolist())
    assert per_status["new"] > 100 and per_status["removed"] > 100 and per_status["unchanged"] > 1000

    # with the default edge band, only objects touching the 2 m band along the border turn uncertain
    edge = compare_detections(before, after)
    inner = area.buffer(-2.0)
    for row in edge.rows():
        if row["change"] != recorded(row):
            assert row["change"] == "uncertain" and not inner.contains(row["geometry"])
    assert 0 < Counter(edge.columns["change"].tolist())["uncertain"] < 0.01 * len(edge)
