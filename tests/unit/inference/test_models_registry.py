"""Model manager: bundled + user models, import from file, download with a verified sha256."""

from __future__ import annotations

import json
import shutil

import pytest

from idf_hr_plugin.core.errors import NetworkError, UserInputError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.inference.model import sha256_file
from idf_hr_plugin.core.inference.models_registry import ModelRegistry, estimate_run, time_one_tile

CARD = {
    "name": "Red finder",
    "licence": "Etalab-2.0",
    "training_data": "synthetic red squares",
    "gsd_m": 0.2,
    "classes": [{"id": 0, "name": "red", "color": "#ff0000"}, {"id": 1, "name": "other", "color": "#00ff00"}],
    "accuracy": {"red": {"precision": 1.0, "recall": 1.0, "f1": 1.0}},
    "limits": ["Finds only pure red squares."],
}


@pytest.fixture
def bundled(tmp_path, models):
    d = tmp_path / "bundled"
    d.mkdir()
    shutil.copy(models["yolov8"], d / "red.onnx")
    (d / "red.json").write_text(json.dumps(CARD), encoding="utf-8")
    (d / "broken.onnx").write_bytes(b"not an onnx model")
    return d


def test_lists_bundled_and_user_models_with_cards(tmp_path, bundled, models):
    user = tmp_path / "user"
    reg = ModelRegistry(user_dir=user, bundled_dir=bundled)
    entries = reg.entries()
    assert [e.origin for e in entries] == ["bundled", "bundled"]  # user folder absent: no error
    red = reg.get("Red finder")
    card = red.model_card()
    assert card["task"] == "detection" and card["gsd_m"] == 0.2 and card["input_size"] == [256, 256]
    assert card["classes"][0] == {"id": 0, "label": "red", "color": "#ff0000"}
    assert card["licence"] == "Etalab-2.0" and card["limits"] == ["Finds only pure red squares."]
    assert "CPUExecutionProvider" in card["providers"] and card["threads"] >= 1
    broken = reg.get("broken.onnx")
    assert not broken.ok and "not a readable ONNX model" in broken.error
    assert "unusable" in broken.display_name()


def test_missing_bundled_folder_is_not_an_error(tmp_path):
    reg = ModelRegistry(user_dir=tmp_path / "u", bundled_dir=tmp_path / "nothing")
    assert reg.entries() == []
    with pytest.raises(UserInputError, match="No model named"):
        reg.get("idfhr_demo_detector")


def test_import_copies_model_and_card_atomically(tmp_path, bundled, models):
    user = tmp_path / "user"
    reg = ModelRegistry(user_dir=user, bundled_dir=tmp_path / "none")
    entry = reg.import_file(bundled / "red.onnx")
    assert entry.origin == "user" and entry.ok and entry.name == "Red finder"
    assert (user / "red.onnx").is_file() and (user / "red.json").is_file()
    assert sorted(p.name for p in user.iterdir()) == ["red.json", "red.onnx"]  # no staging left
    # importing the same model again is a no-op; another model with the same name is kept aside
    assert reg.import_file(bundled / "red.onnx").path == entry.path
    other = tmp_path / "red.onnx"
    shutil.copy(models["yolov5"], other)
    second = reg.import_file(other)
    assert second.path != entry.path and second.spec.layout == "yolov5"
    assert len(reg.entries()) == 2


def test_import_of_a_bad_file_keeps_nothing(tmp_path, bundled):
    user = tmp_path / "user"
    reg = ModelRegistry(user_dir=user, bundled_dir=tmp_path / "none")
    with pytest.raises(UserInputError, match="not a readable ONNX model"):
        reg.import_file(bundled / "broken.onnx")
    assert list(user.iterdir()) == []


def test_import_with_a_card_whose_sha256_does_not_match(tmp_path, models):
    src = tmp_path / "m.onnx"
    shutil.copy(models["yolov8"], src)
    (tmp_path / "m.json").write_text(json.dumps({"sha256": "0" * 64}), encoding="utf-8")
    reg = ModelRegistry(user_dir=tmp_path / "user", bundled_dir=tmp_path / "none")
    with pytest.raises(UserInputError, match="does not match its expected sha256"):
        reg.import_file(src)
    assert list((tmp_path / "user").iterdir()) == []


def test_download_verifies_sha256(tmp_path, loopback, models, bundled):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(models["yolov8"], served / "red.onnx")
    (served / "red.json").write_text(json.dumps(CARD), encoding="utf-8")
    srv = loopback(served)
    user = tmp_path / "user"
    reg = ModelRegistry(user_dir=user, bundled_dir=tmp_path / "none", client=HttpClient(retries=0))
    good = sha256_file(served / "red.onnx")
    with pytest.raises(NetworkError, match="does not match its expected checksum"):
        reg.download(srv.url + "/red.onnx", "f" * 64)
    assert list(user.iterdir()) == []  # nothing kept
    with pytest.raises(UserInputError, match="sha256"):
        reg.download(srv.url + "/red.onnx", "")
    entry = reg.download(srv.url + "/red.onnx", good, card_url=srv.url + "/red.json")
    assert entry.ok and entry.spec.sha256 == good and entry.name == "Red finder"
    assert sorted(p.name for p in user.iterdir()) == ["red.json", "red.onnx"]


def test_estimate_uses_card_rate_or_timing(models, tmp_path):
    reg = ModelRegistry(user_dir=tmp_path / "u", bundled_dir=tmp_path / "none")
    spec = reg.get(str(models["yolov8"])).spec
    est = estimate_run(spec, 4e6, gsd_m=0.2, seconds_per_mpx=2.0)
    assert est["pixels"] == 100_000_000 and est["seconds"] == pytest.approx(200.0)
    rate = time_one_tile(spec)
    assert 0 < rate < 60
