"""What the report shows, gathered from real detection runs (bundled model on a real IGN orthophoto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idf_hr_plugin.core.analysis import AnalysisError, compare_detections, read_detections, write_change_layer
from idf_hr_plugin.core.analysis.report_data import gather_report_data, labels

ORTHO = "imagery/ign_ortho_20cm_rgb_l93.tif"
MODEL_CARD = Path(__file__).resolve().parents[3] / "idf_hr_plugin/resources/models/idfhr_demo_detector.json"


def make_runs(shared_data: Path, out: Path) -> dict:
    """Two real runs (2024, 2026) of the bundled model on the IGN ortho, one run with nothing
    found, and a change layer (before = the 2024 trees only, so the 2026 cars are new)."""
    pytest.importorskip("onnxruntime", reason="the report inputs come from a real ONNX run")
    from osgeo import gdal
    from shapely.geometry import box

    from idf_hr_plugin.core.inference.runner import run_detection
    from idf_hr_plugin.core.paths import RESOURCES_DIR

    raster = str(shared_data / ORTHO)
    model = RESOURCES_DIR / "models" / "idfhr_demo_detector.onnx"
    gpkg = out / "runs.gpkg"
    for v in ("2024", "2026"):
        run_detection(
            model, raster, out_path=gpkg, source="IGN BD ORTHO 20 cm", vintage=v, layer_name=f"det_{v}"
        )
    run_detection(model, raster, out_path=gpkg, conf=0.9999, vintage="2026", layer_name="none")
    ds = gdal.Open(raster)
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    area = box(x0, y0 + dy * ds.RasterYSize, x0 + dx * ds.RasterXSize, y0)
    before = read_detections(gpkg, "det_2024", where="label = 'tree'", analysed_area=area)
    after = read_detections(gpkg, "det_2026", analysed_area=area)
    changes = out / "changes.gpkg"
    write_change_layer(compare_detections(before, after, edge_m=0), changes, "changes")
    return {"runs": gpkg, "changes": changes, "raster": raster, "area": area}


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory):
    return make_runs(shared_data, tmp_path_factory.mktemp("report_runs"))


def test_detection_report_data_counts_classes_and_carries_run_cost_model_card_and_sources(runs):
    data = gather_report_data(runs["runs"], "det_2026")
    assert data.kind == "detections" and not data.empty
    assert data.counts == {"tree": {"detected": 7}, "car": {"detected": 11}}
    assert data.title == "Rapport de détection"  # French by default
    (run,) = data.runs
    assert run["vintage"] == "2026" and run["km2"] > 0 and run["cpu_s"] > 0 and run["energy_wh"] > 0
    assert "W per busy core" in run["energy_method"]
    card = json.loads(MODEL_CARD.read_text(encoding="utf-8"))
    assert data.model["sha256"] == card["sha256"]
    assert data.model["classes"] == [c["name"] for c in card["classes"]]
    assert data.model["accuracy"]["solar_panel"] == card["accuracy"]["solar_panel"]["f1"]
    assert any("SYNTHETIC" in s for s in data.model["limits"])
    assert data.parameters["conf"] == card["conf"]
    assert "IGN BD ORTHO 20 cm (2026)" in data.sources
    assert any(card["licence"] in s for s in data.sources)


def test_change_report_data_counts_per_class_and_status_and_finds_both_runs(runs):
    data = gather_report_data(runs["changes"], runs_from=[runs["runs"]], lang="en")
    assert data.kind == "changes" and data.title == "Change report between vintages"
    assert data.counts == {"car": {"new": 11}, "tree": {"unchanged": 7}}
    assert [r["vintage"] for r in data.runs] == ["2024", "2026"]
    assert ("car", "new", 11) in data.count_rows()
    assert data.parameters["iou_min"] == 0.3


def test_per_zone_table_from_zones_says_how_much_was_analysed(runs):
    inside = runs["area"].buffer(-5)
    data = gather_report_data(runs["runs"], "det_2026", zones=[inside], zone_names=["Zone A"])
    rows = {r["label"]: r for r in data.zone_rows}
    assert rows["car"]["count"] + rows["tree"]["count"] <= 18
    assert rows["tree"]["zone"] == "Zone A"
    assert rows["tree"]["analysed_fraction"] == pytest.approx(1.0)


def test_empty_run_gives_valid_data_that_says_nothing_was_detected(runs):
    data = gather_report_data(runs["runs"], "none")
    assert data.empty and data.counts == {} and data.runs  # the run still says what it cost
    assert data.text("nothing") == "Rien n'a été détecté dans l'emprise analysée."
    assert labels("en")["nothing"] == "Nothing detected in the analysed extent."


def test_bad_inputs_are_refused_with_a_sentence(runs, tmp_path):
    with pytest.raises(AnalysisError, match="choose fr or en"):
        gather_report_data(runs["runs"], "det_2026", lang="de")
    with pytest.raises(AnalysisError, match="several layers"):
        gather_report_data(runs["runs"])
    with pytest.raises(AnalysisError, match="does not exist"):
        gather_report_data(tmp_path / "missing.gpkg")


def test_zone_statistics_layer_brings_its_own_rows_and_counts(runs, tmp_path):
    import numpy as np

    from idf_hr_plugin.core.analysis import write_layer, zonal_statistics

    det = read_detections(runs["changes"], "changes", analysed_area=runs["area"], fields=("change",))
    zone = runs["area"].buffer(-1)
    stats = zonal_statistics(
        [zone],
        ["Zone A"],
        det.geometry,
        det.labels,
        [runs["area"]],
        labels=det.labels,
        change=det.attributes["change"],
    )
    cols = {k: np.array([r[k] for r in stats.rows]) for k in stats.rows[0] if k != "density_per_km2"}
    path = tmp_path / "stats.gpkg"
    write_layer(path, "stats", [zone] * len(stats.rows), cols, metadata=stats.metadata)
    data = gather_report_data(path)
    assert data.kind == "zonal" and data.title == "Rapport de statistiques par zone"
    assert {r["zone"] for r in data.zone_rows} == {"Zone A"}
    assert data.counts["car"]["new"] == sum(r["n_new"] for r in stats.rows if r["label"] == "car") > 0
    assert data.n_features == sum(r["count"] for r in stats.rows)


def test_analyse_tab_zones_layer_is_reported_per_zone(runs, tmp_path):
    from idf_hr_plugin.core.analysis import zonal_statistics
    from idf_hr_plugin.core.analysis.workflow import write_zones_layer

    det = read_detections(runs["changes"], "changes", analysed_area=runs["area"], fields=("change",))
    zones = [runs["area"].buffer(-1)]
    stats = zonal_statistics(
        zones,
        ["Zone A"],
        det.geometry,
        det.labels,
        [runs["area"]],
        labels=det.labels,
        change=det.attributes["change"],
    )
    path = tmp_path / "zones.gpkg"
    write_zones_layer(stats, zones, "EPSG:2154", path)
    data = gather_report_data(path, lang="en")
    assert data.kind == "zonal" and data.count_key == "zone"
    assert data.counts == {"Zone A": {"new": 11, "removed": 0}}
    assert data.zone_rows[0]["analysed_pct"] > 90
