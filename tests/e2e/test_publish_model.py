"""Publishing a model as a STAC MLM item: ``qgis_process run idfhr:publishmodel`` and ``publish-model`` CLI."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from idf_hr_plugin.core.inference.models_registry import BUNDLED_DIR, MlmCatalog
from idf_hr_plugin.core.mlm import validation_errors
from tests.e2e.test_processing_detect import qgis_process_ort  # noqa: F401 (fixture: reading ONNX needs onnx)

ROOT = Path(__file__).resolve().parents[2]
MODEL = BUNDLED_DIR / "idfhr_demo_detector.onnx"


def _cli(*args, user=None):
    """``python -m idf_hr_plugin ARGS`` (as ``user`` when given: a real account without write rights)."""
    pre = None
    if user is not None:
        pw = pwd.getpwnam(user)

        def pre():
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

    env = {**os.environ, "HOME": tempfile.gettempdir(), "PROJ_DATA": "/usr/share/proj"}
    return subprocess.run(
        [sys.executable, "-m", "idf_hr_plugin", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=pre,  # noqa: PLW1509 (no threads are started before the exec)
        stdin=subprocess.DEVNULL,
    )


def test_publishmodel_writes_a_valid_item_that_the_model_manager_lists(
    qgis_process_ort,  # noqa: F811
    shared_data,
    tmp_path,
):
    catalog = tmp_path / "share" / "models"
    res = qgis_process_ort.run("idfhr:publishmodel", {"MODEL": str(MODEL), "CATALOG": str(catalog)})
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    item_path = Path(res["results"]["ITEM"])
    assert item_path.parent.parent == catalog
    item = json.loads(item_path.read_text("utf-8"))
    assert validation_errors(item, shared_data / "stac_mlm") == []
    (model,) = MlmCatalog(str(catalog)).models()
    assert model.usable and model.name == "idfhr_demo_detector" and model.card["gsd_m"] == 0.2
    assert model.sha256 == json.loads(MODEL.with_suffix(".json").read_text("utf-8"))["sha256"]


def test_publishmodel_missing_model_is_a_clear_error(qgis_process, tmp_path):
    missing = tmp_path / "gone.onnx"
    res = qgis_process.run("idfhr:publishmodel", {"MODEL": str(missing), "CATALOG": str(tmp_path / "c")})
    assert res["_returncode"] != 0
    assert f"The model file '{missing}' does not exist" in res["_stderr"] + res["_stdout"]
    assert not (tmp_path / "c").exists()


@pytest.fixture
def shared_folder():
    """A catalog folder other accounts can read but not write (0755, owned by the test's user)."""
    folder = Path(tempfile.mkdtemp(prefix="idfhr-share-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_cli_publish_then_read_only_catalog_is_refused_and_nothing_lost(shared_folder):
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.fail("the account 'nobody' is needed to test a folder without write rights")
    if os.getuid() != 0:
        pytest.fail("run as root (as `make test` does) to act as another account")
    ok = _cli("publish-model", str(MODEL), str(shared_folder))
    assert ok.returncode == 0, ok.stderr
    assert "Model published:" in ok.stdout
    before = {p: p.read_bytes() for p in shared_folder.rglob("*") if p.is_file()}
    assert len(before) == 4  # catalog.json, the item, the model, its card

    (shared_folder / "catalog.json").chmod(0o644)
    # a partner whose account cannot write the shared folder
    other = MODEL.with_suffix(".json")
    refused = _cli("publish-model", str(other), str(shared_folder), user="nobody")
    assert refused.returncode == 2
    assert "cannot be written" in refused.stderr and "nothing was published" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert {p: p.read_bytes() for p in shared_folder.rglob("*") if p.is_file()} == before


def test_cli_publish_a_model_whose_card_checksum_differs_is_refused(tmp_path):
    model = tmp_path / "m.onnx"
    shutil.copy(MODEL, model)
    card = json.loads(MODEL.with_suffix(".json").read_text("utf-8"))
    card["sha256"] = "f" * 64
    model.with_suffix(".json").write_text(json.dumps(card), "utf-8")
    res = _cli("publish-model", str(model), str(tmp_path / "catalog"))
    assert res.returncode == 2 and "does not match its expected sha256" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "catalog").exists()
