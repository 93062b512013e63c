"""Model sources that are STAC MLM catalogs: listed with their cards, installed with the checksum verified."""

from __future__ import annotations

import json
import shutil

import pytest

from idf_hr_plugin.core.errors import NetworkError, UserInputError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.inference.models_registry import MlmCatalog, ModelRegistry
from idf_hr_plugin.core.mlm import model_from_item
from tests.servers import RustacServer

from .conftest import BUNDLED_MODEL


def _add_item(folder, doc, name):
    """Put a foreign item document into the catalog folder and link it from catalog.json."""
    (folder / name).write_text(json.dumps(doc), "utf-8")
    root = json.loads((folder / "catalog.json").read_text("utf-8"))
    root["links"].append({"rel": "item", "href": "./" + name, "type": "application/geo+json"})
    (folder / "catalog.json").write_text(json.dumps(root), "utf-8")


@pytest.fixture
def shared_catalog(published, mlm_schemas):
    """The bundled model + the extension's PyTorch example + an incomplete MLM item, in one static catalog."""
    folder, item_path = published
    _add_item(
        folder, json.loads((mlm_schemas / "example_item_basic.json").read_text("utf-8")), "pytorch.json"
    )
    broken = json.loads(item_path.read_text("utf-8"))
    broken["id"] = "broken"
    del broken["properties"]["mlm:output"]
    broken["assets"]["model"]["href"] = f"./{item_path.parent.name}/idfhr_demo_detector.onnx"
    _add_item(folder, broken, "broken.json")
    return folder, item_path


def _by_id(models):
    return {m.id: m for m in models}


def test_static_catalog_over_http_lists_models_and_installs_one(shared_catalog, loopback, tmp_path):
    folder, item_path = shared_catalog
    srv = loopback(folder.parent)
    url = f"{srv.url}/catalog/catalog.json"
    models = _by_id(MlmCatalog(url).models(HttpClient(retries=0)))
    assert set(models) == {item_path.stem, "example-model", "broken"}
    pytorch, broken, ours = models["example-model"], models["broken"], models[item_path.stem]
    assert pytorch.display_name() == "example-model (catalog) — cannot run here"
    assert broken.display_name().endswith("invalid MLM item") and "mlm:output is missing" in broken.status()
    # the card is shown before any download: nothing but JSON was fetched so far
    assert not [r for r in srv.log if r.path.endswith(".onnx")]
    assert ours.usable and ours.card["classes"][0] == {
        "id": 0,
        "name": "building",
        "color": "#d95f02",
        "labels": {"fr": "Bâtiment"},
    }
    assert ours.model_href == f"{srv.url}/catalog/{item_path.parent.name}/idfhr_demo_detector.onnx"

    reg = ModelRegistry(
        user_dir=tmp_path / "user", bundled_dir=tmp_path / "none", client=HttpClient(retries=0)
    )
    with pytest.raises(UserInputError, match="cannot run here"):
        reg.install_from_catalog(pytorch)
    with pytest.raises(UserInputError, match="mlm:output is missing"):
        reg.install_from_catalog(broken)
    entry = reg.install_from_catalog(ours)
    assert entry.ok and entry.spec.sha256 == ours.sha256
    card = entry.model_card()
    assert card["source"]["kind"] == "stac-mlm" and card["source"]["item"] == ours.item_href
    assert card["source"]["catalog"] == url
    # the publisher's full card came along (verified against its own checksum)
    assert card["training_data"].startswith("SYNTHETIC IdF HR demo region")
    assert entry.display_name() == "idfhr_demo_detector (shared catalog)"
    assert [e.display_name() for e in reg.entries()] == ["idfhr_demo_detector (shared catalog)"]


def test_a_model_whose_checksum_differs_is_refused_and_nothing_kept(published, loopback, tmp_path):
    folder, item_path = published
    onnx = item_path.parent / BUNDLED_MODEL.name
    data = bytearray(onnx.read_bytes())
    data[-1] ^= 0xFF  # the file on the share was replaced or damaged after publication
    onnx.write_bytes(bytes(data))
    srv = loopback(folder.parent)
    (model,) = MlmCatalog(f"{srv.url}/catalog/catalog.json").models(HttpClient(retries=0))
    user = tmp_path / "user"
    reg = ModelRegistry(user_dir=user, bundled_dir=tmp_path / "none", client=HttpClient(retries=0))
    with pytest.raises(NetworkError, match="does not match its expected checksum"):
        reg.install_from_catalog(model)
    assert list(user.iterdir()) == [] and reg.entries() == []


def test_local_catalog_folder_checksum_verified(published, tmp_path):
    folder, item_path = published
    (model,) = MlmCatalog(str(folder)).models()
    reg = ModelRegistry(user_dir=tmp_path / "user", bundled_dir=tmp_path / "none")
    entry = reg.install_from_catalog(model)
    assert entry.ok and entry.card["source"]["item"] == str(item_path)
    shutil.rmtree(tmp_path / "user")
    onnx = item_path.parent / BUNDLED_MODEL.name
    onnx.write_bytes(onnx.read_bytes()[:-10])
    with pytest.raises(UserInputError, match="does not match its expected sha256"):
        reg.install_from_catalog(model)
    assert [p for p in (tmp_path / "user").iterdir()] == []


def test_an_item_without_checksum_is_not_downloaded(published, tmp_path):
    _folder, item_path = published
    doc = json.loads(item_path.read_text("utf-8"))
    del doc["assets"]["model"]["file:checksum"]
    del doc["properties"]["idfhr:sha256"]
    model = model_from_item(doc, str(item_path))
    reg = ModelRegistry(user_dir=tmp_path / "user", bundled_dir=tmp_path / "none")
    with pytest.raises(UserInputError, match="gives no sha256 checksum"):
        reg.install_from_catalog(model)
    assert not (tmp_path / "user").exists()


def test_stac_api_model_catalog(published, loopback, tmp_path):
    folder, item_path = published
    srv = loopback(folder.parent)
    item = json.loads(item_path.read_text("utf-8"))
    base = f"{srv.url}/catalog/{item_path.parent.name}/"
    for asset in item["assets"].values():  # an API serves absolute asset hrefs
        asset["href"] = base + asset["href"][2:]
    item["links"] = []
    item["collection"] = "models"
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": "models",
        "description": "shared models",
        "license": "other",
        "extent": {
            "spatial": {"bbox": [item["bbox"]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }
    (tmp_path / "models.json").write_text(json.dumps(collection), "utf-8")
    (tmp_path / "items.json").write_text(
        json.dumps({"type": "FeatureCollection", "features": [item]}), "utf-8"
    )
    with RustacServer([tmp_path / "models.json", tmp_path / "items.json"]) as api:
        (model,) = MlmCatalog(api.url, kind="stac-api").models(HttpClient(retries=0))
        assert model.usable and model.sha256 == item["properties"]["idfhr:sha256"]
        assert model.item_href.startswith(api.url)
        reg = ModelRegistry(
            user_dir=tmp_path / "user", bundled_dir=tmp_path / "none", client=HttpClient(retries=0)
        )
        entry = reg.install_from_catalog(model)
    assert entry.ok and entry.card["source"]["item"] == model.item_href
