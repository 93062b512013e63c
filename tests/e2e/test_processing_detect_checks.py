"""``idfhr:detect`` refuses a damaged raster and bad parameters before the run (issue 7 items 9, 11)."""

from __future__ import annotations

import pytest

from tests.e2e.test_processing_detect import assets, qgis_process_ort  # noqa: F401  (fixtures)
from tests.unit.inference.conftest import make_raster


@pytest.fixture(scope="module")
def truncated(tmp_path_factory):
    import rasterio
    from rasterio.shutil import copy

    d = tmp_path_factory.mktemp("truncated")
    plain = make_raster(d / "plain.tif", size=(600, 600), squares=[(652030.0, 6861970.0, 4.0)])
    full = d / "full.tif"
    with rasterio.open(plain) as ds:
        copy(ds, full, driver="COG", compress="DEFLATE", blocksize=256)
    data = full.read_bytes()
    cut = d / "cut.tif"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    return cut


def test_truncated_raster_is_refused_with_a_sentence(qgis_process_ort, assets, truncated, tmp_path):  # noqa: F811
    out = tmp_path / "o.gpkg"
    res = qgis_process_ort.run("idfhr:detect", {"INPUT": truncated, "MODEL": assets["model"], "OUTPUT": out})
    text = res["_stderr"] + res["_stdout"]
    assert res["_returncode"] != 0
    assert "incomplete" in text and "cut.tif" in text and "Unexpected error" not in text
    assert not out.exists()
