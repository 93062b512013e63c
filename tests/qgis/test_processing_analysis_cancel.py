"""Processing: Cancel during the statistics per zone stops the counting and leaves no table and
no zones layer behind."""

from __future__ import annotations

from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

from idf_hr_plugin.core.errors import Cancelled
from idf_hr_plugin.processing.zonal_statistics import ZonalStatisticsAlgorithm
from tests.unit.analysis.test_cli_analysis import _runs, _zones_4326


class CancelAfter(QgsProcessingFeedback):
    """The user clicks Cancel when the algorithm asks ``isCanceled()`` for the ``n``-th time."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.calls = n, 0
        self.errors: list[str] = []

    def isCanceled(self) -> bool:  # noqa: N802
        self.calls += 1
        if self.calls == self.n:
            self.cancel()
        return super().isCanceled()

    def reportError(self, error, fatalError=False):  # noqa: N802, N803
        self.errors.append(error)
        super().reportError(error, fatalError)


def test_cancel_while_counting_per_zone_writes_no_table_and_no_zones_layer(qgis_app, tmp_path):
    _before, after = _runs(tmp_path)
    zones = _zones_4326(tmp_path / "zones.gpkg")
    alg = ZonalStatisticsAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    params = {
        "INPUT": f"{after}|layername=yolo_2026",
        "ZONES": 3,
        "ZONES_LAYER": f"{zones}|layername=zones",
        "NAME_FIELD": "code",
        "TABLE": str(tmp_path / "stats.csv"),
        "OUTPUT": str(tmp_path / "stats_zones.gpkg"),
    }
    feedback = CancelAfter(2)  # inside the counting, before anything is written
    _results, ok = alg.run(params, context, feedback)
    assert not ok
    assert any(str(Cancelled()) in e for e in feedback.errors), feedback.errors  # "…nothing was written."
    assert not (tmp_path / "stats.csv").exists()
    assert not (tmp_path / "stats_zones.gpkg").exists()

    done = CancelAfter(10**9)  # never cancelled: both outputs are written
    results, ok = alg.run({**params, "TABLE": str(tmp_path / "all.csv")}, context, done)
    assert ok and (tmp_path / "all.csv").exists()
    assert done.calls > 2  # the counting itself asked whether to stop
