"""``qgis_process run idfhr:detect`` asked to run on Dask where QGIS's Python has no Dask."""

from __future__ import annotations

from tests.e2e.test_processing_detect import assets, qgis_process_ort  # noqa: F401


def test_cluster_choice_without_dask_is_refused_with_what_to_do(qgis_process_ort, assets, tmp_path):  # noqa: F811
    out = tmp_path / "never.gpkg"
    res = qgis_process_ort.run(
        "idfhr:detect",
        {"INPUT": assets["raster"], "MODEL": assets["model"], "EXECUTION": 1, "WORKERS": 2, "OUTPUT": out},
    )
    text = res["_stderr"] + res["_stdout"]
    assert res["_returncode"] != 0
    assert "dask, distributed and pyarrow" in text and "run on this computer" in text
    assert "Traceback" not in text
    assert not out.exists() and not (tmp_path / "never.idfhr-jobs").exists()
