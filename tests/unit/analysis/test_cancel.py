"""Cancel during the long steps of the analysis (matching, counting per zone): it stops inside the
loops, raises ``Cancelled`` and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from idf_hr_plugin.core.analysis import write_change_layer
from idf_hr_plugin.core.analysis.change import Detections, compare_detections
from idf_hr_plugin.core.analysis.workflow import compare_runs
from idf_hr_plugin.core.analysis.zonal import zonal_statistics
from idf_hr_plugin.core.errors import Cancelled

X0, Y0 = 652000.0, 6860000.0
SIDE = 250  # 250 x 250 = 62 500 objects per vintage: several batches in every long step


def _grid(shift: float, vintage: str) -> Detections:
    xs, ys = np.meshgrid(np.arange(SIDE) * 10.0, np.arange(SIDE) * 10.0)
    geoms = [
        box(X0 + x + shift, Y0 + y, X0 + x + shift + 6, Y0 + y + 6) for x, y in zip(xs.ravel(), ys.ravel())
    ]
    return Detections(
        geometry=geoms,
        classes=["building"] * len(geoms),
        scores=np.full(len(geoms), 0.9),
        analysed_area=box(X0 - 5, Y0 - 5, X0 + SIDE * 10 + 5, Y0 + SIDE * 10 + 5),
        model_name="demo",
        model_sha256="abc",
        vintage=vintage,
        run_id=vintage,
    )


@pytest.fixture(scope="module")
def large_runs():
    return _grid(0.0, "2024"), _grid(1.0, "2026")


class CancelAfter:
    """``cancel()`` that says False ``n - 1`` times, then True (the user clicks Cancel)."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


def test_cancel_during_matching_stops_inside_the_loops_and_writes_nothing(large_runs, tmp_path):
    before, after = large_runs
    out = tmp_path / "changes.gpkg"
    cancel = CancelAfter(6)  # past the first check, well inside the matching
    matched = []
    with pytest.raises(Cancelled, match="cancelled"):
        result = compare_runs(before, after, cancel=cancel)
        matched.append(True)  # not reached: the matching itself stops, not the write after it
        write_change_layer(result, out, "changes", cancel=cancel)  # what the Analyse tab does next
    assert matched == []
    assert cancel.calls == 6  # it stopped at the first check that saw the click
    assert list(tmp_path.iterdir()) == []


def test_a_cancel_check_that_never_fires_gives_the_same_result(large_runs):
    before, after = large_runs
    cancel = CancelAfter(10**9)
    plain = compare_detections(before, after)
    checked = compare_detections(before, after, cancel=cancel)
    assert cancel.calls > 10  # checked in batches all along, not only before and after
    assert plain.counts() == checked.counts() == {("building", "unchanged"): SIDE * SIDE}
    for key in ("index_before", "index_after", "iou", "area_after_m2"):
        np.testing.assert_array_equal(plain.columns[key], checked.columns[key])


def test_cancel_during_statistics_per_zone_raises(large_runs):
    before, _ = large_runs
    zones = [box(X0 + i * 500, Y0, X0 + (i + 1) * 500, Y0 + SIDE * 10) for i in range(5)]
    names = [f"zone {i}" for i in range(5)]
    args = (zones, names, before.geometry, before.classes, [before.analysed_area])
    cancel = CancelAfter(4)
    with pytest.raises(Cancelled):
        zonal_statistics(*args, cancel=cancel)
    assert cancel.calls == 4
    never = CancelAfter(10**9)
    res = zonal_statistics(*args, cancel=never)
    assert never.calls > 4
    assert sum(r["count"] for r in res.rows) == SIDE * SIDE
