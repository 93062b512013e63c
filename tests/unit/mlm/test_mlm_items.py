"""MLM items: written from a model card, valid against the extension's JSON Schema, read back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.inference.model import load_card, sha256_file
from idf_hr_plugin.core.mlm import missing_fields, model_from_item, publish_model, validation_errors

from .conftest import BUNDLED_MODEL

ROOT = Path(__file__).resolve().parents[3]


def test_published_bundled_model_is_a_valid_mlm_item(published, mlm_schemas):
    folder, item_path = published
    item = json.loads(item_path.read_text("utf-8"))
    assert validation_errors(item, mlm_schemas) == []
    props = item["properties"]
    card = load_card(BUNDLED_MODEL)
    assert props["mlm:name"] == "idfhr_demo_detector" and props["mlm:framework"] == "ONNX"
    assert props["mlm:tasks"] == ["object-detection"] and props["gsd"] == 0.2
    assert props["mlm:input"][0]["input"]["shape"] == [-1, 3, 512, 512]
    classes = props["mlm:output"][0]["classification:classes"]
    assert [(c["value"], c["name"], "#" + c["color_hint"]) for c in classes] == [
        (c["id"], c["name"], c["color"]) for c in card["classes"]
    ]
    model = item["assets"]["model"]
    assert "mlm:model" in model["roles"] and model["file:checksum"] == "1220" + card["sha256"]
    # the assets sit next to the item and are the very files published
    assert sha256_file(item_path.parent / model["href"]) == card["sha256"]
    assert model["file:size"] == BUNDLED_MODEL.stat().st_size
    root = json.loads((folder / "catalog.json").read_text("utf-8"))
    assert [ln["href"] for ln in root["links"] if ln["rel"] == "item"] == [f"./{item['id']}/{item_path.name}"]


def test_publishing_again_is_idempotent(published):
    folder, item_path = published
    again = publish_model(BUNDLED_MODEL.with_suffix(".json"), folder)  # from the card this time
    assert again == item_path
    root = json.loads((folder / "catalog.json").read_text("utf-8"))
    assert len([ln for ln in root["links"] if ln["rel"] == "item"]) == 1
    assert not [p for p in folder.rglob(".*") if p.is_file()]  # no temporary left


def test_schema_validation_names_what_breaks_it(published, mlm_schemas):
    _folder, item_path = published
    item = json.loads(item_path.read_text("utf-8"))
    del item["properties"]["mlm:architecture"]
    item["assets"]["model"].pop("mlm:artifact_type")
    errors = validation_errors(item, mlm_schemas)
    assert any("'mlm:architecture' is a required property" in e for e in errors), errors
    assert any("'mlm:artifact_type' is a required property" in e for e in errors), errors


@pytest.mark.parametrize("name", ["example_item_basic.json", "example_item_raster_bands.json"])
def test_extension_examples_read_back_as_cannot_run_here(name, mlm_schemas):
    doc = json.loads((mlm_schemas / name).read_text("utf-8"))
    assert validation_errors(doc, mlm_schemas) == []
    cm = model_from_item(doc, str(mlm_schemas / name))
    assert cm.problems == []
    assert cm.name == doc["properties"]["mlm:name"] and cm.card["input_size"] == [64, 64]
    assert (
        cm.card["classes"][1]["name"]
        == doc["properties"]["mlm:output"][0]["classification_classes"][1]["name"]
    )
    assert cm.display_name().endswith("cannot run here") and "ONNX" in cm.status()
    assert not cm.usable


def test_bundled_item_reads_back_into_the_same_card(published):
    _folder, item_path = published
    cm = model_from_item(json.loads(item_path.read_text("utf-8")), str(item_path))
    card = load_card(BUNDLED_MODEL)
    assert cm.usable and cm.display_name() == "idfhr_demo_detector (catalog)"
    assert cm.sha256 == card["sha256"] and cm.size == card["size_bytes"]
    for key in (
        "name",
        "version",
        "task",
        "layout",
        "gsd_m",
        "input_size",
        "classes",
        "conf",
        "iou",
        "tile_size",
    ):
        assert cm.card[key] == card[key], key
    assert cm.card["licence"] == card["licence"]
    assert cm.model_href == str(item_path.parent / BUNDLED_MODEL.name)


def test_an_incomplete_mlm_item_is_named_field_by_field(published):
    _folder, item_path = published
    item = json.loads(item_path.read_text("utf-8"))
    for key in ("mlm:architecture", "mlm:input", "mlm:tasks"):
        del item["properties"][key]
    item["assets"]["model"]["roles"] = ["data"]
    problems = missing_fields(item)
    assert problems == [
        "mlm:architecture is missing",
        "mlm:tasks is missing",
        "mlm:input is missing",
        "no asset has the role mlm:model",
    ]
    cm = model_from_item(item, str(item_path))
    assert not cm.usable and cm.display_name().endswith("invalid MLM item")
    assert "mlm:architecture is missing; mlm:tasks is missing" in cm.status()


def test_a_model_whose_card_checksum_differs_is_not_published(tmp_path):
    src = tmp_path / "m.onnx"
    src.write_bytes(BUNDLED_MODEL.read_bytes())
    card = load_card(BUNDLED_MODEL)
    card["sha256"] = "0" * 64
    src.with_suffix(".json").write_text(json.dumps(card), "utf-8")
    with pytest.raises(UserInputError, match="does not match its expected sha256"):
        publish_model(src, tmp_path / "catalog")
    assert not (tmp_path / "catalog").exists() or not any((tmp_path / "catalog").iterdir())


def test_a_folder_holding_something_else_than_a_catalog_is_refused(tmp_path):
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "catalog.json").write_text('{"type": "FeatureCollection"}', "utf-8")
    with pytest.raises(UserInputError, match="is not a STAC catalog; choose another folder"):
        publish_model(BUNDLED_MODEL, folder)
    assert [p.name for p in folder.iterdir()] == ["catalog.json"]


def _publish_copy(args):
    """Worker process: publish a renamed copy of the bundled model (another partner's model)."""
    import sys

    src_dir, folder, name = args
    sys.path.insert(0, str(ROOT))
    from idf_hr_plugin.core.mlm import publish_model as publish

    return str(publish(f"{src_dir}/{name}.onnx", folder))


def test_concurrent_publishers_all_end_up_in_the_catalog(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    card = load_card(BUNDLED_MODEL)
    names = [f"partner_{i}" for i in range(4)]
    for name in names:
        (tmp_path / f"{name}.onnx").write_bytes(BUNDLED_MODEL.read_bytes())
        (tmp_path / f"{name}.json").write_text(json.dumps({**card, "name": name}), "utf-8")
    folder = tmp_path / "catalog"
    with ProcessPoolExecutor(max_workers=4) as pool:
        items = list(pool.map(_publish_copy, [(tmp_path, folder, n) for n in names]))
    root = json.loads((folder / "catalog.json").read_text("utf-8"))
    linked = sorted(ln["title"] for ln in root["links"] if ln["rel"] == "item")
    assert linked == names and len(set(items)) == 4
    assert not (folder / ".catalog.json.lock").exists()


def test_a_catalog_being_updated_by_another_publisher_is_waited_for_then_refused(published, monkeypatch):
    from idf_hr_plugin.core.mlm import write

    folder, item_path = published
    before = (folder / "catalog.json").read_bytes()
    lock = folder / ".catalog.json.lock"
    lock.write_text("other-host 1234\n", "utf-8")  # another partner is mid-update
    monkeypatch.setattr(write, "LOCK_WAIT_S", 0.3)
    card = load_card(BUNDLED_MODEL)
    src = folder.parent / "other.onnx"
    src.write_bytes(BUNDLED_MODEL.read_bytes())
    src.with_suffix(".json").write_text(json.dumps({**card, "name": "other"}), "utf-8")
    with pytest.raises(UserInputError, match="Another publisher has been updating"):
        publish_model(src, folder)
    assert (folder / "catalog.json").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".catalog.json.lock", "catalog.json", item_path.parent.name]
    )
    # a lock its publisher left when it was killed is taken over
    old = lock.stat().st_mtime - write.LOCK_STALE_S - 1
    os.utime(lock, (old, old))
    publish_model(src, folder)
    root = json.loads((folder / "catalog.json").read_text("utf-8"))
    assert sorted(ln["title"] for ln in root["links"] if ln["rel"] == "item") == [
        "idfhr_demo_detector",
        "other",
    ]
    assert not lock.exists()
