"""Offline kit building (core, no QGIS): atomic folder, resume, cancel, free-space check, models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from idf_hr_plugin.core import offline_kit as kit
from idf_hr_plugin.core.errors import Cancelled, UserInputError
from idf_hr_plugin.core.fsutil import free_bytes

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "idf_hr_plugin" / "resources" / "models" / "idfhr_demo_detector.onnx"


class Builds:
    """Writes real files; counts how often each part was built; can fail or cancel on demand."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.fail_on: set[str] = set()

    def part(self, key: str, size: int = 1000, estimate: int | None = None) -> kit.KitPart:
        def build(dest: Path, progress, cancel) -> None:
            self.calls[key] = self.calls.get(key, 0) + 1
            if key in self.fail_on:
                raise OSError(f"server went away while writing {key}")
            dest.write_bytes(key.encode() * (size // len(key)))

        return kit.KitPart(key, "vector", f"vectors/{key}.gpkg", key, estimate or size, build)


def write_project(stage: Path, plan: kit.KitPlan) -> Path:
    path = stage / f"{plan.name}.qgz"
    path.write_text("project")
    return path


def plan_of(target: Path, *parts: kit.KitPart) -> kit.KitPlan:
    return kit.KitPlan(
        target=target,
        zone="Saint-Maur-des-Fossés (94068)",
        extent=(0, 0, 1, 1),
        crs="EPSG:2154",
        parts=list(parts),
    )


def test_kit_appears_complete_in_one_rename_with_a_manifest(tmp_path):
    b = Builds()
    target = tmp_path / "kit_saint_maur"
    result = kit.build_kit(plan_of(target, b.part("boundaries"), b.part("fibre")), write_project)
    assert result.path == target and result.project == target / "kit_saint_maur.qgz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kit_saint_maur"]  # no hidden leftovers
    manifest = json.loads((target / "kit.json").read_text())
    assert manifest["project"] == "kit_saint_maur.qgz"
    assert manifest["parts"]["fibre"]["files"]["vectors/fibre.gpkg"]["bytes"] == 1000
    assert result.parts_built == 2 and result.parts_resumed == 0


def test_failed_run_resumes_keeping_verified_parts_and_rebuilding_damaged_ones(tmp_path):
    b = Builds()
    target = tmp_path / "kit"
    parts = [b.part("boundaries"), b.part("opendata"), b.part("fibre")]
    b.fail_on = {"fibre"}
    with pytest.raises(OSError):
        kit.build_kit(plan_of(target, *parts), write_project)
    assert not target.exists()  # nothing half-written at the target
    stage = kit.staging_dir(target)
    assert (stage / "vectors" / "boundaries.gpkg").exists()
    # a part damaged while the run was stopped is not trusted
    damaged = stage / "vectors" / "opendata.gpkg"
    damaged.write_bytes(b"x" * damaged.stat().st_size)

    b.fail_on = set()
    result = kit.build_kit(plan_of(target, *parts), write_project)
    assert b.calls == {"boundaries": 1, "opendata": 2, "fibre": 2}
    assert result.parts_resumed == 1 and result.parts_built == 2
    assert (target / "vectors" / "opendata.gpkg").read_bytes().startswith(b"opendata")
    assert not stage.exists()


def test_cancel_leaves_nothing(tmp_path):
    b = Builds()
    target = tmp_path / "kit"
    with pytest.raises(Cancelled):
        kit.build_kit(
            plan_of(target, b.part("boundaries"), b.part("fibre")),
            write_project,
            cancel=lambda: "boundaries" in b.calls,  # the user cancels once the first part is written
        )
    assert list(tmp_path.iterdir()) == []
    assert "fibre" not in b.calls


def test_not_enough_free_space_is_refused_before_writing_anything(tmp_path):
    b = Builds()
    free = free_bytes(tmp_path)
    assert free is not None
    huge = b.part("imagery", estimate=free * 2)
    with pytest.raises(UserInputError) as err:
        kit.build_kit(plan_of(tmp_path / "kit", b.part("boundaries"), huge), write_project)
    msg = str(err.value)
    assert "Not enough free disk space" in msg and "choose another disk" in msg
    assert b.calls == {}
    assert list(tmp_path.iterdir()) == []


def test_an_empty_folder_picked_for_the_kit_receives_it(tmp_path):
    target = tmp_path / "kit"
    target.mkdir()  # what a folder picker hands over
    result = kit.build_kit(plan_of(target, Builds().part("boundaries")), write_project)
    assert (result.path / "vectors" / "boundaries.gpkg").exists()


def test_an_existing_folder_is_never_overwritten(tmp_path):
    target = tmp_path / "kit"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="already exists"):
        kit.build_kit(plan_of(target, Builds().part("boundaries")), write_project)
    assert (target / "notes.txt").read_text() == "mine"


def test_model_goes_in_with_its_card_and_a_mismatching_card_is_refused(tmp_path):
    target = tmp_path / "kit"
    result = kit.build_kit(plan_of(target, kit.model_part(MODEL)), write_project)
    assert (result.path / "models" / MODEL.name).read_bytes() == MODEL.read_bytes()
    card = json.loads((result.path / "models" / MODEL.with_suffix(".json").name).read_text())
    assert card["sha256"] == kit.sha256_file(result.path / "models" / MODEL.name)

    other = tmp_path / "models"
    other.mkdir()
    shutil.copy(MODEL, other / MODEL.name)
    bad = json.loads(MODEL.with_suffix(".json").read_text())
    bad["sha256"] = "0" * 64
    (other / MODEL.with_suffix(".json").name).write_text(json.dumps(bad))
    with pytest.raises(UserInputError, match="does not match the sha256 of its card"):
        kit.model_part(other / MODEL.name)
    (other / MODEL.with_suffix(".json").name).unlink()
    with pytest.raises(UserInputError, match="has no card"):
        kit.model_part(other / MODEL.name)


def test_zone_of_the_demo_commune_and_its_boundaries_layer(shared_data, tmp_path):
    from osgeo import ogr

    from idf_hr_plugin.core.opendata import gpkgio
    from idf_hr_plugin.core.opendata.boundaries import Boundaries

    bounds = Boundaries.from_file(shared_data / "admin" / "mgp_communes_with_ept.geojson")
    label, codes, bbox = kit.resolve_zone(bounds, "saint maur")
    assert label == "Saint-Maur-des-Fossés (94068)" and codes == ["94068"]
    assert 655_000 < bbox[0] < bbox[2] < 670_000 and 6_850_000 < bbox[1] < bbox[3] < 6_860_000
    label, codes, _ = kit.resolve_zone(bounds, "T10")
    assert "94068" in codes and len(codes) > 10
    assert "94068" in kit.codes_in_extent(bounds, (662_300, 6_855_300, 662_700, 6_855_700))

    target = tmp_path / "kit"
    kit.build_kit(plan_of(target, kit.boundaries_part(bounds, ["94068"])), write_project)
    gpkg = target / "vectors" / "boundaries.gpkg"
    ds = ogr.Open(str(gpkg))
    assert ds.GetDriver().GetName() == "GPKG"
    assert [f.GetField("nom") for f in ds.GetLayerByName("communes")] == ["Saint-Maur-des-Fossés"]
    meta = gpkgio.read_metadata(gpkg)
    assert "Licence Ouverte" in meta["licence"] and meta["source_url"].endswith(
        "mgp_communes_with_ept.geojson"
    )
