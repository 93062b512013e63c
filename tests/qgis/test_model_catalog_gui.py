"""The model manager's shared catalogs in the Detection tab: publish, list with cards, install."""

from __future__ import annotations

import json

import pytest

from idf_hr_plugin.core.inference.models_registry import ModelRegistry
from tests.qgis.conftest import wait_until
from tests.qgis.test_detection_tab import iface  # noqa: F401 (the tab's iface fixture)


@pytest.fixture
def tab(iface, tmp_path):  # noqa: F811
    from idf_hr_plugin.gui.detection_tab import DetectionTab

    t = DetectionTab(iface, iface.window)
    t._registry = ModelRegistry(user_dir=tmp_path / "my_models")
    t.reload_models(select="bundled:idfhr_demo_detector.onnx")
    yield t
    dlg = getattr(t, "catalog_dialog", None)
    if dlg is not None:
        wait_until(lambda: dlg.task is None, 30)
        dlg.close()
    t.shutdown()


def test_publish_then_list_and_install_from_the_shared_catalog(tab, tmp_path):
    share = tmp_path / "share"
    assert tab.model_combo.currentText() == "idfhr_demo_detector (bundled)"
    item_path = tab.publish_model(str(share))
    assert item_path is not None and item_path.is_file()
    assert "published in" in tab.status_label.text()
    # a partner's PyTorch model in the same catalog
    other = json.loads(item_path.read_text("utf-8"))
    other["id"] = "partner-torch"
    other["properties"]["mlm:framework"] = "PyTorch"
    other["assets"]["model"]["mlm:artifact_type"] = "torch.save"
    (share / "partner-torch.json").write_text(json.dumps(other), "utf-8")
    root = json.loads((share / "catalog.json").read_text("utf-8"))
    root["links"].append({"rel": "item", "href": "./partner-torch.json"})
    (share / "catalog.json").write_text(json.dumps(root), "utf-8")

    dlg = tab.open_model_catalog(str(share))
    dlg.list_models()
    assert wait_until(lambda: dlg.task is None, 60), dlg.status_label.text()
    names = [dlg.model_list.item(i).text() for i in range(dlg.model_list.count())]
    assert names == ["idfhr_demo_detector (catalog)", "idfhr_demo_detector (catalog) — cannot run here"]

    dlg.model_list.setCurrentRow(1)
    assert not dlg.install_button.isEnabled()
    assert "PyTorch" in dlg.card_label.text() and "cannot run here" in dlg.card_label.text()

    dlg.model_list.setCurrentRow(0)
    html = dlg.card_label.text()
    for text in ("building", "#d95f02", "20 cm", "512×512", "ONNX", str(item_path)):
        assert text in html, text
    assert dlg.install_button.isEnabled()
    assert not (tmp_path / "my_models").exists()  # the card was shown, nothing installed yet

    dlg.install_selected()
    assert wait_until(lambda: dlg.task is None, 60), dlg.status_label.text()
    assert "checksum verified" in dlg.status_label.text()
    assert tab.model_combo.currentText() == "idfhr_demo_detector (shared catalog)"
    assert str(item_path) in tab.card_label.text()  # where it came from stays on its card


def test_publishing_into_a_folder_that_is_not_a_catalog_says_so(tab, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "catalog.json").write_text("[1, 2]", "utf-8")
    assert tab.publish_model(str(folder)) is None
    assert "is not a STAC catalog; choose another folder" in tab.status_label.text()
    assert [p.name for p in folder.iterdir()] == ["catalog.json"]
